//! `POST /v1/traces/ingest`: agent traces, sent to Warden by the OpenAI
//! Agents SDK's trace exporter (`BackendSpanExporter`) pointed at it instead
//! of at OpenAI, so the caller's token never goes to a third party.
//!
//! The batch is `{"data": [item, ...]}`, each item a trace
//! (`{"object":"trace","id","workflow_name","group_id","metadata"}`) or a
//! span (`{"object":"trace.span","id","trace_id","parent_id","started_at",
//! "ended_at","span_data":{"type",...},"error"}`). Each item becomes one
//! audit event in the trail (`trace.start`, `trace.span`), its target the
//! trace id, after masking every text in it (tool inputs and outputs,
//! generation inputs, errors, metadata) with the caller's request profile.
//! The answer waits until they are committed: an exporter told "accepted"
//! never loses a span.
//!
//! **Sessions.** Every event of one trace is filed under one session, the
//! first of: the caller's `X-Warden-Session`; the session an earlier batch
//! filed the trace under; the session of a model call one of its `response`
//! spans timed; the trace's `group_id` (the SDK's conversation thread); the
//! trace id. A `response` span also joins the call it timed (by
//! `response_id`) to that session, when the caller created that response:
//! nobody can pull another principal's calls into their trace.
//!
//! With `[traces] forward`, the masked batch is also sent on to that
//! connection's `/v1/traces/ingest` with Warden's credential, in the
//! background (retried, never holding up the answer).

use std::collections::HashMap;
use std::sync::Mutex;

use axum::Json;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, header};
use serde_json::{Map, Value, json};
use warden_core::{AuditEvent, Principal};
use warden_pii::json::Shape;
use warden_policy::Obligations;

use crate::Gateway;
use crate::error::GatewayError;
use crate::exchange::RecordGuard;
use crate::owners;

/// Items one batch may carry (the SDK sends at most 128 by default).
pub const MAX_ITEMS: usize = 1000;
/// The most of one span's data (or error) kept in its event; the rest is
/// cut, and the event says so.
pub const MAX_DATA_BYTES: usize = 64 * 1024;
/// Recent traces' sessions kept in memory; beyond this the map starts over
/// (the trail has them too).
const RECENT: usize = 65_536;
/// Longest id Warden accepts for a trace, span or group.
const MAX_ID: usize = 128;

/// The session each recent trace was filed under, so a trace's later
/// batches join the same one without a store read.
#[derive(Debug, Default)]
pub struct TraceSessions {
    recent: Mutex<HashMap<String, String>>,
}

impl TraceSessions {
    fn get(&self, trace: &str) -> Option<String> {
        self.lock().get(trace).cloned()
    }

    fn insert(&self, trace: String, session: String) {
        let mut map = self.lock();
        if map.len() >= RECENT {
            map.clear();
        }
        map.insert(trace, session);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One item of a batch, checked.
enum Item<'a> {
    Trace {
        id: &'a str,
        group_id: Option<&'a str>,
        fields: &'a Map<String, Value>,
    },
    Span {
        id: &'a str,
        trace_id: &'a str,
        fields: &'a Map<String, Value>,
    },
}

impl Item<'_> {
    fn trace_id(&self) -> &str {
        match self {
            Item::Trace { id, .. } => id,
            Item::Span { trace_id, .. } => trace_id,
        }
    }

    /// The model call a `response` span timed.
    fn response_id(&self) -> Option<&str> {
        let Item::Span { fields, .. } = self else {
            return None;
        };
        let data = fields.get("span_data")?;
        (data.get("type")?.as_str()? == "response")
            .then(|| data.get("response_id")?.as_str())
            .flatten()
            .filter(|id| !id.is_empty() && id.len() <= MAX_ID)
    }
}

/// Handles one batch for `principal`, whom policy allowed to send traces.
pub async fn ingest(
    gw: &Gateway,
    principal: &Principal,
    obligations: &Obligations,
    body: &Bytes,
    header_session: Option<String>,
    guard: &mut RecordGuard,
) -> Result<Response, GatewayError> {
    let mut batch: Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("the body is not JSON: {e}")))?;
    // A bad batch is refused before any masking work (the analyzer may be
    // a network call); masking leaves the fields checked here alone.
    check(&batch)?;
    crate::inspect::mask_kept(
        gw,
        principal,
        obligations,
        Shape::Everything,
        &mut batch,
        guard,
    )
    .await?;
    let items = check(&batch)?;
    let links = links(gw, principal, &items).await?;
    let sessions = sessions(gw, &items, &links, header_session.as_deref()).await?;
    let actor = guard.actor();
    let request_id = guard.request_id().to_owned();
    let mut commits = Vec::with_capacity(items.len());
    for (item, link) in items.iter().zip(&links) {
        let mut event = event(item, actor.clone(), &request_id);
        event.session_id = sessions.get(item.trace_id()).cloned();
        event.response_id = link.as_ref().map(|(id, _)| id.clone());
        commits.push(gw.records.event(event));
    }
    let timeout = gw.config.audit.commit_timeout;
    let all = futures_util::future::join_all(commits);
    match tokio::time::timeout(timeout, all).await {
        Ok(done) if done.iter().all(Result::is_ok) => {}
        _ => {
            tracing::error!("agent trace spans not committed in time; the batch is refused");
            return Err(GatewayError::AuditUnavailable);
        }
    }
    for (trace, session) in &sessions {
        gw.traces.insert(trace.clone(), session.clone());
    }
    if let Some(name) = &gw.config.traces.forward {
        forward(gw, name, &batch);
    }
    Ok(Json(json!({
        "object": "trace.ingest",
        "accepted": items.len(),
        "sessions": sessions,
    }))
    .into_response())
}

fn bad(reason: String) -> GatewayError {
    GatewayError::BadTraceBatch(reason)
}

/// An id Warden keeps: 1 to 128 visible ASCII characters.
fn id<'a>(fields: &'a Map<String, Value>, key: &str, at: usize) -> Result<&'a str, GatewayError> {
    match fields.get(key).and_then(Value::as_str) {
        Some(s)
            if !s.is_empty() && s.len() <= MAX_ID && s.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(s)
        }
        _ => Err(bad(format!(
            "data[{at}].{key} must be a string of 1 to {MAX_ID} visible ASCII characters"
        ))),
    }
}

/// Every item is a trace or a span with the ids it needs.
fn check(batch: &Value) -> Result<Vec<Item<'_>>, GatewayError> {
    let data = batch
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("the body must be {\"data\": [...]}".into()))?;
    if data.len() > MAX_ITEMS {
        return Err(bad(format!(
            "a batch holds at most {MAX_ITEMS} items, this one {}",
            data.len()
        )));
    }
    data.iter()
        .enumerate()
        .map(|(at, v)| {
            let fields = v
                .as_object()
                .ok_or_else(|| bad(format!("data[{at}] must be an object")))?;
            match fields.get("object").and_then(Value::as_str) {
                Some("trace") => Ok(Item::Trace {
                    id: id(fields, "id", at)?,
                    group_id: match fields.get("group_id") {
                        None | Some(Value::Null) => None,
                        Some(_) => Some(id(fields, "group_id", at)?),
                    },
                    fields,
                }),
                Some("trace.span") => Ok(Item::Span {
                    id: id(fields, "id", at)?,
                    trace_id: id(fields, "trace_id", at)?,
                    fields,
                }),
                _ => Err(bad(format!(
                    "data[{at}].object must be \"trace\" or \"trace.span\""
                ))),
            }
        })
        .collect()
}

/// A `response` span's call, when the caller made it: its response id and
/// the session it was filed under.
type Link = Option<(String, Option<String>)>;

/// Each item's link (see [`Link`]); `None` for every other item.
async fn links(
    gw: &Gateway,
    principal: &Principal,
    items: &[Item<'_>],
) -> Result<Vec<Link>, GatewayError> {
    let me = owners::owner_of(principal);
    let mut links = Vec::with_capacity(items.len());
    for item in items {
        let link = match item.response_id() {
            None => None,
            Some(response) => match owners::created(gw, response).await? {
                // A chain's first response names itself as its session:
                // that is no grouping a trace should follow.
                Some((owner, session)) if owner == me => {
                    Some((response.to_owned(), session.filter(|s| s != response)))
                }
                _ => None,
            },
        };
        links.push(link);
    }
    Ok(links)
}

/// The session of every trace in the batch (see the module docs).
async fn sessions(
    gw: &Gateway,
    items: &[Item<'_>],
    links: &[Link],
    header: Option<&str>,
) -> Result<HashMap<String, String>, GatewayError> {
    let mut sessions: HashMap<String, String> = HashMap::new();
    for item in items {
        let trace = item.trace_id();
        if sessions.contains_key(trace) {
            continue;
        }
        let earlier = match header.map(str::to_owned).or_else(|| gw.traces.get(trace)) {
            Some(s) => Some(s),
            None => filed(gw, trace).await?,
        };
        let session = earlier
            .or_else(|| {
                items.iter().zip(links).find_map(|(i, link)| match link {
                    Some((_, Some(s))) if i.trace_id() == trace => Some(s.clone()),
                    _ => None,
                })
            })
            .or_else(|| {
                items.iter().find_map(|i| match i {
                    Item::Trace { id, group_id, .. } if *id == trace => group_id.map(str::to_owned),
                    _ => None,
                })
            })
            .unwrap_or_else(|| trace.to_owned());
        sessions.insert(trace.to_owned(), session);
    }
    Ok(sessions)
}

/// The session an earlier batch filed `trace` under, from the trail.
async fn filed(gw: &Gateway, trace: &str) -> Result<Option<String>, GatewayError> {
    let earlier = gw
        .store
        .list_events(&warden_store::EventFilter {
            action_prefix: Some("trace.".into()),
            target: Some(trace.to_owned()),
            limit: Some(1),
            ..warden_store::EventFilter::default()
        })
        .await
        .map_err(|error| {
            tracing::error!(%error, "cannot read an agent trace's earlier spans");
            GatewayError::StoreUnavailable
        })?;
    Ok(earlier.into_iter().find_map(|(_, e)| e.session_id))
}

/// A JSON value as kept in an event's detail: compact, cut at
/// [`MAX_DATA_BYTES`] on a character boundary (the flag says so).
fn kept(v: &Value) -> (String, bool) {
    let mut text = v.to_string();
    if text.len() <= MAX_DATA_BYTES {
        return (text, false);
    }
    let mut cut = MAX_DATA_BYTES;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    (text, true)
}

/// An RFC 3339 time (`2026-11-24T10:00:00.123456+00:00`) as Unix ms.
fn unix_ms(text: &str) -> Option<i64> {
    let at =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

/// The audit event for one item (its session and link set by the caller).
fn event(item: &Item<'_>, actor: warden_core::Actor, request_id: &str) -> AuditEvent {
    let str_of = |fields: &Map<String, Value>, key: &str| {
        fields
            .get(key)
            .and_then(Value::as_str)
            .map(|s| s.chars().take(256).collect::<String>())
    };
    let mut event = match item {
        Item::Trace {
            id,
            group_id,
            fields,
        } => {
            let mut e = AuditEvent::new("trace.start", actor, Some((*id).to_owned()));
            if let Some(name) = str_of(fields, "workflow_name") {
                e = e.with("workflow_name", name);
            }
            if let Some(group) = group_id {
                e = e.with("group_id", *group);
            }
            if let Some(meta) = fields.get("metadata").filter(|m| !m.is_null()) {
                let (text, cut) = kept(meta);
                e = e.with("metadata", text);
                if cut {
                    e = e.with("metadata_truncated", "true");
                }
            }
            e
        }
        Item::Span {
            id,
            trace_id,
            fields,
        } => {
            let mut e = AuditEvent::new("trace.span", actor, Some((*trace_id).to_owned()))
                .with("span_id", *id);
            if let Some(v) = str_of(fields, "parent_id") {
                e = e.with("parent_id", v);
            }
            // The SDK's times (ISO 8601), and as Unix milliseconds when they
            // parse, so readers can order spans among the calls.
            for (key, ms) in [("started_at", "started_ms"), ("ended_at", "ended_ms")] {
                if let Some(v) = str_of(fields, key) {
                    if let Some(at) = unix_ms(&v) {
                        e = e.with(ms, at.to_string());
                    }
                    e = e.with(key, v);
                }
            }
            let data = fields.get("span_data").unwrap_or(&Value::Null);
            for key in ["type", "name", "model"] {
                if let Some(v) = data.get(key).and_then(Value::as_str) {
                    e = e.with(key, v.chars().take(256).collect::<String>());
                }
            }
            if let Some(response) = item.response_id() {
                e = e.with("response_id", response);
            }
            if !data.is_null() {
                let (text, cut) = kept(data);
                e = e.with("data", text);
                if cut {
                    e = e.with("data_truncated", "true");
                }
            }
            if let Some(error) = fields.get("error").filter(|v| !v.is_null()) {
                e = e.with("error", kept(error).0);
                e.status = "error".into();
            }
            e
        }
    };
    event = event.with("request_id", request_id);
    event
}

/// Sends the masked batch on to connection `name` (checked at start-up),
/// in the background: three tries, a second apart, then it is logged and
/// dropped (Warden's own copy is already in the trail).
fn forward(gw: &Gateway, name: &str, batch: &Value) {
    let Some(upstream) = gw.upstreams.all().iter().find(|u| u.name() == name) else {
        return;
    };
    let upstream = upstream.clone();
    let body = Bytes::from(batch.to_string());
    let limit = gw.config.server.max_body_bytes;
    tokio::spawn(async move {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert("openai-beta", HeaderValue::from_static("traces=v1"));
        for attempt in 1..=3 {
            let sent = upstream
                .send(
                    Method::POST,
                    "/traces/ingest",
                    &headers,
                    Some(body.len() as u64),
                    reqwest::Body::from(body.clone()),
                    limit,
                )
                .await;
            match sent {
                Ok((resp, _)) if resp.status().is_success() => return,
                Ok((resp, _)) if resp.status().is_client_error() && resp.status() != 429 => {
                    tracing::warn!(connection = %upstream.name(), status = %resp.status(), "agent traces refused by the upstream; not retried");
                    return;
                }
                Ok((resp, _)) => {
                    tracing::warn!(connection = %upstream.name(), status = %resp.status(), attempt, "agent traces not forwarded");
                }
                Err(error) => {
                    tracing::warn!(connection = %upstream.name(), %error, attempt, "agent traces not forwarded");
                }
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    });
}
