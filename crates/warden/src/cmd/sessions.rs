//! `warden sessions list|show`: the request records grouped by session.

use std::path::Path;

use serde_json::json;
use warden_core::{AuditEvent, RequestRecord};
use warden_store::{EventFilter, RecordFilter};

use crate::cli::SessionsCommand;
use crate::cmd::{load_config_lenient, open_store};

#[expect(clippy::print_stdout, reason = "the command's output")]
pub async fn run(config: Option<&Path>, command: SessionsCommand) -> anyhow::Result<()> {
    let store = open_store(&load_config_lenient(config)?).await?;
    match command {
        SessionsCommand::List { since, json } => {
            let since: std::time::Duration = since.into();
            let since_ms = warden_core::now_ms()
                .saturating_sub(i64::try_from(since.as_millis()).unwrap_or(i64::MAX));
            let rows = store.sessions(since_ms).await?;
            if json {
                for r in &rows {
                    println!(
                        "{}",
                        json!({"session": r.id, "calls": r.calls, "first_ms": r.first_ms,
                               "last_ms": r.last_ms, "subject": r.subject,
                               "input_tokens": r.input_tokens, "output_tokens": r.output_tokens,
                               "cost_usd": r.cost_usd_micros as f64 / 1e6})
                    );
                }
            } else {
                println!(
                    "{:<40} {:>6} {:<20} {:>10} {:>10} {:>10}",
                    "session", "calls", "subject", "in tok", "out tok", "USD"
                );
                for r in &rows {
                    println!(
                        "{:<40} {:>6} {:<20} {:>10} {:>10} {:>10.4}",
                        r.id,
                        r.calls,
                        r.subject.as_deref().unwrap_or("-"),
                        r.input_tokens,
                        r.output_tokens,
                        r.cost_usd_micros as f64 / 1e6
                    );
                }
            }
        }
        SessionsCommand::Show { id, json, bodies } => {
            let calls = store
                .list_records(&RecordFilter {
                    session_id: Some(id.clone()),
                    limit: Some(10_000),
                    ..RecordFilter::default()
                })
                .await?;
            let events = store
                .list_events(&EventFilter {
                    session_id: Some(id.clone()),
                    limit: Some(10_000),
                    ..EventFilter::default()
                })
                .await?;
            anyhow::ensure!(!calls.is_empty() || !events.is_empty(), "no session `{id}`");
            // One timeline, oldest first: calls by arrival, spans by when
            // they started (else when Warden recorded them).
            let mut lines: Vec<(i64, Line)> = calls
                .into_iter()
                .map(|r| (r.started_at_ms, Line::Call(Box::new(r))))
                .chain(events.into_iter().map(|(seq, e)| {
                    let at = e
                        .detail
                        .get("started_ms")
                        .and_then(|t| t.parse().ok())
                        .unwrap_or(e.time_ms);
                    (at, Line::Event(seq, Box::new(e)))
                }))
                .collect();
            lines.sort_by_key(|(at, line)| {
                (
                    *at,
                    match line {
                        Line::Call(_) => 0,
                        Line::Event(seq, _) => *seq,
                    },
                )
            });
            for (at, line) in &lines {
                let body = match line {
                    Line::Call(r) if bodies => store.body(&r.request_id).await?,
                    _ => None,
                };
                match (line, json) {
                    (Line::Call(r), true) if bodies => println!(
                        "{}",
                        json!({"kind": "call", "time_ms": at, "record": r, "body": body})
                    ),
                    (Line::Call(r), true) => {
                        println!("{}", json!({"kind": "call", "time_ms": at, "record": r}));
                    }
                    (Line::Event(seq, e), true) => println!(
                        "{}",
                        json!({"kind": "event", "time_ms": at, "seq": seq, "event": e})
                    ),
                    (Line::Call(r), false) => {
                        print_call(r);
                        if let Some(b) = &body {
                            print_body(b);
                        }
                    }
                    (Line::Event(_, e), false) => print_event(*at, e),
                }
            }
        }
    }
    Ok(())
}

/// One line of a session's timeline.
enum Line {
    Call(Box<RequestRecord>),
    Event(i64, Box<AuditEvent>),
}

#[expect(clippy::print_stdout, reason = "the command's output")]
fn print_call(r: &RequestRecord) {
    println!(
        "{}  call  {:<18} {:<12} {:<14} {:>3} {:<14} {:>8} us  {} finding(s){}",
        r.started_at_ms,
        r.endpoint,
        r.model.as_deref().unwrap_or("-"),
        r.subject.as_deref().unwrap_or("-"),
        r.status,
        r.outcome.as_str(),
        r.total_latency_us,
        r.findings.len(),
        r.response_id
            .as_deref()
            .map(|id| format!("  -> {id}"))
            .unwrap_or_default()
    );
}

#[expect(clippy::print_stdout, reason = "the command's output")]
fn print_event(at: i64, e: &AuditEvent) {
    let detail = |k: &str| e.detail.get(k).map_or("-", String::as_str);
    println!(
        "{}  {:<11} {:<10} {:<24} {:<14} {}{}",
        at,
        e.action,
        detail("type"),
        detail("name"),
        e.actor.subject.as_deref().unwrap_or("-"),
        e.status,
        e.response_id
            .as_deref()
            .map(|id| format!("  times {id}"))
            .unwrap_or_default()
    );
}

/// A call's recorded bodies, indented under it (the first 2000 characters
/// of each).
#[expect(clippy::print_stdout, reason = "the command's output")]
fn print_body(b: &warden_store::bodies::CallBody) {
    for (name, part, cut) in [
        ("request", &b.request, b.request_truncated),
        ("answer", &b.response, b.response_truncated),
    ] {
        let Some(bytes) = part else { continue };
        let text = String::from_utf8_lossy(bytes);
        let shown: String = text.chars().take(2000).collect();
        let more = if cut || shown.len() < text.len() {
            " [...]"
        } else {
            ""
        };
        println!("      {name}: {}{more}", shown.replace('\n', "\n      "));
    }
    if let (Some(first), Some(last)) = (b.chunk_us.first(), b.chunk_us.last()) {
        println!(
            "      {} chunk(s), first at {first} us, last at {last} us",
            b.chunk_us.len()
        );
    }
}
