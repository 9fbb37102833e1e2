//! Keep-alives for streaming calls held for approval.
//!
//! A held call sends nothing, and proxies and load balancers on the way
//! close connections that are silent for a minute or so. A streaming
//! caller (`"stream": true`) held longer than `[approvals] keepalive` gets
//! its answer started: `200 text/event-stream`, then an SSE comment
//! (`: warden: waiting for approval apr_...`) every `keepalive`, which SDKs
//! ignore. When the approval is decided, the stream goes on with the
//! upstream's events, or with one `data: {"error": {...}}` event carrying
//! the same error object a 403 would have (`approval_denied`,
//! `approval_expired`): the SDKs raise it as an API error with that code.
//! A decision made before `keepalive` passes gets a real HTTP status, as a
//! non-streaming caller always does.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};
use http::{HeaderValue, StatusCode, header};
use tokio::sync::watch;

use crate::Gateway;
use crate::error::GatewayError;
use crate::exchange::RecordGuard;
use crate::pipeline::Reply;
use crate::relay::RelayError;

type Finished = (Result<Reply, GatewayError>, RecordGuard);
type Events = Pin<Box<dyn Stream<Item = Result<Bytes, RelayError>> + Send>>;

/// How the race between the pipeline and a hold ended.
pub(crate) enum Raced<O> {
    /// The pipeline finished first.
    Done(O),
    /// A streaming call has been held for `every`: its approval id.
    Held(String),
}

/// Runs the pipeline until it finishes, or until it has held a streaming
/// call for `every`.
pub(crate) async fn race<F>(
    run: &mut Pin<Box<F>>,
    mut held: watch::Receiver<Option<String>>,
    every: Duration,
) -> Raced<F::Output>
where
    F: Future,
{
    loop {
        let id = tokio::select! {
            out = run.as_mut() => return Raced::Done(out),
            changed = held.changed() => {
                if changed.is_err() {
                    return Raced::Done(run.as_mut().await);
                }
                match held.borrow_and_update().clone() {
                    Some(id) => id,
                    None => continue,
                }
            }
        };
        tokio::select! {
            out = run.as_mut() => return Raced::Done(out),
            () = tokio::time::sleep(every) => return Raced::Held(id),
            // Decided meanwhile: the pipeline will finish on its own.
            _ = held.changed() => {}
        }
    }
}

/// The event stream for a held streaming call: keep-alive comments, then
/// the outcome.
pub(crate) fn respond<F>(
    gw: Arc<Gateway>,
    run: Pin<Box<F>>,
    id: String,
    every: Duration,
    id_value: HeaderValue,
) -> Response
where
    F: Future<Output = Finished> + Send + 'static,
{
    let comment = Bytes::from(format!(": warden: waiting for approval {id}\n\n"));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    enum State<F> {
        Waiting(Pin<Box<F>>, tokio::time::Interval),
        Streaming(Events),
    }
    let events = futures_util::stream::unfold(Some(State::Waiting(run, tick)), move |state| {
        let (gw, comment) = (Arc::clone(&gw), comment.clone());
        async move {
            match state? {
                State::Waiting(mut run, mut tick) => {
                    tokio::select! {
                        (result, guard) = run.as_mut() => {
                            let mut events = outcome(&gw, result, guard).await;
                            let first = events.next().await?;
                            Some((first, Some(State::Streaming(events))))
                        }
                        _ = tick.tick() => Some((Ok(comment), Some(State::Waiting(run, tick)))),
                    }
                }
                State::Streaming(mut events) => {
                    let next = events.next().await?;
                    Some((next, Some(State::Streaming(events))))
                }
            }
        }
    });
    let mut response = Response::new(Body::from_stream(events));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(crate::REQUEST_ID, id_value.clone());
    headers.insert(crate::X_REQUEST_ID, id_value);
    if let Ok(v) = HeaderValue::from_str(&id) {
        headers.insert("x-warden-approval", v);
    }
    response
}

/// One SSE `data:` event of a JSON body (on one line).
fn event(body: &[u8]) -> Bytes {
    let text = String::from_utf8_lossy(body).replace(['\r', '\n'], " ");
    Bytes::from(format!("data: {text}\n\n"))
}

/// What follows the keep-alives: the upstream's events as relayed, or one
/// event with the answer or the error.
async fn outcome(
    gw: &Arc<Gateway>,
    result: Result<Reply, GatewayError>,
    guard: RecordGuard,
) -> Events {
    let body = match result {
        Ok(Reply::Forwarded(forwarded)) => {
            let sse = forwarded.response.status() == StatusCode::OK
                && forwarded
                    .response
                    .headers()
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|t| t.starts_with("text/event-stream"));
            let relay = forwarded.relay(gw, guard);
            if sse {
                return Box::pin(relay);
            }
            // An upstream error (JSON): one event, as OpenAI sends errors
            // mid-stream.
            return Box::pin(futures_util::stream::once(async move {
                let parts: Vec<Result<Bytes, RelayError>> = relay.collect().await;
                let mut body = Vec::new();
                for part in parts {
                    body.extend_from_slice(&part?);
                }
                Ok(event(&body))
            }));
        }
        Ok(Reply::Local(response)) => crate::local(gw, response, guard).await,
        Err(error) => crate::refused(gw, error, guard).await.into_response(),
    };
    let body = axum::body::to_bytes(body.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    Box::pin(futures_util::stream::once(async move { Ok(event(&body)) }))
}
