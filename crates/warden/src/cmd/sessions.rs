//! `warden sessions list|show`: the request records grouped by session.

use std::path::Path;

use serde_json::json;
use warden_store::RecordFilter;

use crate::cli::SessionsCommand;
use crate::cmd::{load_config, open_store};

#[expect(clippy::print_stdout, reason = "the command's output")]
pub async fn run(config: Option<&Path>, command: SessionsCommand) -> anyhow::Result<()> {
    let store = open_store(&load_config(config)?).await?;
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
        SessionsCommand::Show { id, json } => {
            let mut calls = store
                .list_records(&RecordFilter {
                    session_id: Some(id.clone()),
                    limit: Some(10_000),
                    ..RecordFilter::default()
                })
                .await?;
            anyhow::ensure!(!calls.is_empty(), "no session `{id}`");
            calls.reverse(); // oldest first
            for r in &calls {
                if json {
                    println!("{}", serde_json::to_string(r)?);
                } else {
                    println!(
                        "{}  {:<18} {:<12} {:<14} {:>3} {:<14} {:>8} us  {} finding(s){}",
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
            }
        }
    }
    Ok(())
}
