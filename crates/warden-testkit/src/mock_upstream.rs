//! A fast, deterministic mock of the OpenAI HTTP API, used as Warden's upstream in tests and as
//! the baseline server of the load benchmarks.
//!
//! Everything lives under `/v1`:
//!
//! | route | behaviour |
//! | --- | --- |
//! | `GET /v1/models`, `GET /v1/models/{id}` | `gpt-4o`, `gpt-4o-mini`, `o3-pro`, `text-embedding-3-small` (owned by `mock`) |
//! | `POST /v1/chat/completions` | tool call on the first tool when `tools` is non-empty and the last message is not a `tool` message, else `"mock reply: " + last message text`; SSE with `"stream": true`, the text in token-like pieces of at most four bytes |
//! | `POST /v1/responses` | same logic over `input`; the real Responses SSE event sequence with `"stream": true` |
//! | `GET/DELETE /v1/responses/{id}`, `GET /v1/responses/{id}/input_items` | stored (when recording) or synthesised response, deletion object, empty list |
//! | `POST /v1/embeddings` | 8 deterministic floats per input (float list or base64 little-endian f32) |
//! | `POST /v1/moderations` | one unflagged result per input |
//! | files, uploads, vector stores, batches, stored chat completions | kept in memory (`mock_objects.rs`) |
//! | any other `/v1/...` | `200 {"object":"mock.echo","method":..,"path":..}` |
//! | `GET /__mock/requests`, `DELETE /__mock/requests` | recorded requests as JSON / clear them (not recorded themselves) |
//!
//! Failure controls, read from request headers:
//! - `x-mock-status: N` answers status `N` with an OpenAI-style error body (code `mock_failure`).
//! - `x-mock-delay-ms: N` waits `N` ms before sending the response head.
//! - `x-mock-chunk-delay-ms: N` waits `N` ms between SSE events.
//! - `x-mock-cut-after: N` (streaming only) sends `N` SSE events and then aborts the response
//!   without terminating the chunked body, so the client sees a broken stream.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse as _, Response};
use axum::serve::ListenerExt as _;
use base64::Engine as _;
use bytes::Bytes;
use futures_util::stream;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Models served by `GET /v1/models`.
pub const MODELS: [&str; 4] = ["gpt-4o", "gpt-4o-mini", "o3-pro", "text-embedding-3-small"];

/// Number of floats in every mock embedding.
pub const EMBEDDING_DIMS: usize = 8;

/// One request received by the mock.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// Path including the query string, e.g. `/v1/chat/completions?x=1`.
    pub path: String,
    /// Headers in arrival order; names are lower-case.
    pub headers: Vec<(String, String)>,
    /// The full request body.
    pub body: Bytes,
}

impl RecordedRequest {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON, or `Value::Null` when it is empty or not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// Shared state of a mock server: the recorded requests and stored responses.
#[derive(Clone, Debug)]
pub struct MockState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    record: bool,
    counter: AtomicU64,
    requests: Mutex<Vec<RecordedRequest>>,
    responses: Mutex<HashMap<String, Bytes>>,
    objects: Mutex<crate::mock_objects::Objects>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl MockState {
    /// New state; with `record == false` nothing is recorded or stored (benchmark mode).
    pub fn new(record: bool) -> Self {
        Self {
            inner: Arc::new(Inner {
                record,
                counter: AtomicU64::new(0),
                requests: Mutex::new(Vec::new()),
                responses: Mutex::new(HashMap::new()),
                objects: Mutex::new(crate::mock_objects::Objects::default()),
            }),
        }
    }

    /// Whether requests are being recorded.
    pub fn is_recording(&self) -> bool {
        self.inner.record
    }

    /// Everything received so far (empty when not recording).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.inner.requests).clone()
    }

    /// Forget recorded requests and stored responses.
    pub fn clear(&self) {
        lock(&self.inner.requests).clear();
        lock(&self.inner.responses).clear();
    }

    fn next_id(&self) -> u64 {
        self.inner.counter.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// A running mock server bound to `127.0.0.1:0`; it shuts down when dropped.
#[derive(Debug)]
pub struct MockUpstream {
    addr: SocketAddr,
    state: MockState,
    shutdown: Option<oneshot::Sender<()>>,
}

impl MockUpstream {
    /// Bind `127.0.0.1:0` and serve with recording on, on the current tokio runtime.
    pub async fn start() -> anyhow::Result<MockUpstream> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("binding mock upstream")?;
        let addr = listener.local_addr()?;
        let state = MockState::new(true);
        let (tx, rx) = oneshot::channel::<()>();
        let app = router(state.clone());
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(MockUpstream {
            addr,
            state,
            shutdown: Some(tx),
        })
    }

    /// `http://127.0.0.1:PORT/v1`
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Everything received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests()
    }

    /// Forget recorded requests.
    pub fn clear(&self) {
        self.state.clear();
    }

    /// The server's shared state.
    pub fn state(&self) -> &MockState {
        &self.state
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The mock's router (a single fallback handler dispatching on method and path).
pub fn router(state: MockState) -> Router {
    Router::new().fallback(handle).with_state(state)
}

/// Serve the mock on `listener` until the task is dropped (TCP_NODELAY on every connection).
pub async fn serve(listener: TcpListener, record: bool) -> anyhow::Result<()> {
    let app = router(MockState::new(record));
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Dispatch
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, Default)]
struct Controls {
    status: Option<StatusCode>,
    delay: Option<Duration>,
    chunk_delay: Option<Duration>,
    cut_after: Option<usize>,
}

impl Controls {
    fn from_headers(h: &HeaderMap) -> Self {
        fn num(h: &HeaderMap, name: &str) -> Option<u64> {
            h.get(name)?.to_str().ok()?.trim().parse().ok()
        }
        Self {
            status: num(h, "x-mock-status")
                .and_then(|n| u16::try_from(n).ok())
                .and_then(|n| StatusCode::from_u16(n).ok()),
            delay: num(h, "x-mock-delay-ms").map(Duration::from_millis),
            chunk_delay: num(h, "x-mock-chunk-delay-ms")
                .filter(|&n| n > 0)
                .map(Duration::from_millis),
            cut_after: num(h, "x-mock-cut-after").and_then(|n| usize::try_from(n).ok()),
        }
    }
}

async fn handle(State(state): State<MockState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(_) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "could not read request body",
                "invalid_request_error",
                None,
            );
        }
    };
    let path = parts.uri.path();

    if let Some(rest) = path.strip_prefix("/__mock/") {
        return control(&state, &parts.method, rest);
    }

    if state.inner.record {
        let path_q = parts
            .uri
            .path_and_query()
            .map_or_else(|| path.to_owned(), |pq| pq.as_str().to_owned());
        let headers = parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        lock(&state.inner.requests).push(RecordedRequest {
            method: parts.method.as_str().to_owned(),
            path: path_q,
            headers,
            body: body.clone(),
        });
    }

    let ctl = Controls::from_headers(&parts.headers);
    if let Some(d) = ctl.delay {
        tokio::time::sleep(d).await;
    }
    let n = state.next_id();
    let mut res = match ctl.status {
        Some(status) => {
            error_response(status, "mock failure", "server_error", Some("mock_failure"))
        }
        None => dispatch(&state, &parts, &body, ctl, n),
    };
    let mut rid = String::with_capacity(16);
    let _ = write!(rid, "req_mock{n:08}");
    if let Ok(v) = HeaderValue::try_from(rid) {
        res.headers_mut().insert("x-request-id", v);
    }
    res
}

fn dispatch(
    state: &MockState,
    parts: &http::request::Parts,
    body: &Bytes,
    ctl: Controls,
    n: u64,
) -> Response {
    let path = parts.uri.path();
    let Some(rest) = path.strip_prefix("/v1") else {
        return error_response(
            StatusCode::NOT_FOUND,
            &format!("Invalid URL ({} {})", parts.method, path),
            "invalid_request_error",
            None,
        );
    };
    let rest = rest.trim_end_matches('/');
    let m = &parts.method;

    if *m == Method::GET && rest == "/models" {
        return json_bytes(StatusCode::OK, models_list().clone());
    }
    if *m == Method::POST && rest == "/chat/completions" {
        return chat_completions(state, body, ctl, n);
    }
    if *m == Method::POST && rest == "/responses" {
        return responses(state, body, ctl, n);
    }
    if *m == Method::POST && rest == "/embeddings" {
        return embeddings(body);
    }
    if *m == Method::POST && rest == "/moderations" {
        return moderations(body, n);
    }
    // The Agents SDK's trace exporter: accepted, nothing answered.
    if *m == Method::POST && rest == "/traces/ingest" {
        return StatusCode::NO_CONTENT.into_response();
    }
    if let Some(id) = rest.strip_prefix("/models/")
        && *m == Method::GET
        && !id.contains('/')
    {
        return model_get(id);
    }
    if let Some(tail) = rest.strip_prefix("/responses/") {
        match (m, tail.split_once('/')) {
            (&Method::GET, None) => return response_get(state, tail),
            (&Method::DELETE, None) => {
                lock(&state.inner.responses).remove(tail);
                return json_value(
                    StatusCode::OK,
                    &json!({"id": tail, "object": "response.deleted", "deleted": true}),
                );
            }
            (&Method::GET, Some((id, "input_items"))) if !id.is_empty() => {
                return json_value(
                    StatusCode::OK,
                    &json!({"object": "list", "data": [], "first_id": null, "last_id": null, "has_more": false}),
                );
            }
            _ => {}
        }
    }

    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if let Some(res) = crate::mock_objects::handle(
        &mut lock(&state.inner.objects),
        m,
        rest,
        (body, content_type),
        n,
    ) {
        return res;
    }
    let path_q = parts
        .uri
        .path_and_query()
        .map_or(path, http::uri::PathAndQuery::as_str);
    json_value(
        StatusCode::OK,
        &json!({"object": "mock.echo", "method": m.as_str(), "path": path_q}),
    )
}

fn control(state: &MockState, method: &Method, rest: &str) -> Response {
    match (method, rest) {
        (&Method::GET, "requests") => {
            let list: Vec<Value> = lock(&state.inner.requests)
                .iter()
                .map(|r| {
                    json!({
                        "method": r.method,
                        "path": r.path,
                        "headers": r.headers,
                        "body": String::from_utf8_lossy(&r.body),
                    })
                })
                .collect();
            json_value(StatusCode::OK, &Value::Array(list))
        }
        (&Method::DELETE, "requests") => {
            state.clear();
            json_value(StatusCode::OK, &json!({"cleared": true}))
        }
        _ => error_response(
            StatusCode::NOT_FOUND,
            "unknown mock control route",
            "invalid_request_error",
            None,
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Response helpers
// ---------------------------------------------------------------------------------------------

const JSON: HeaderValue = HeaderValue::from_static("application/json");
const SSE: HeaderValue = HeaderValue::from_static("text/event-stream");
const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");

fn json_bytes(status: StatusCode, body: Bytes) -> Response {
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = status;
    res.headers_mut().insert(header::CONTENT_TYPE, JSON);
    res
}

fn json_value(status: StatusCode, v: &Value) -> Response {
    json_bytes(status, Bytes::from(v.to_string()))
}

fn error_response(status: StatusCode, message: &str, kind: &str, code: Option<&str>) -> Response {
    json_value(
        status,
        &json!({"error": {"message": message, "type": kind, "param": null, "code": code}}),
    )
}

fn bad_json() -> Response {
    error_response(
        StatusCode::BAD_REQUEST,
        "We could not parse the JSON body of your request.",
        "invalid_request_error",
        None,
    )
}

fn parse_object(body: &Bytes) -> Option<Value> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Some(v),
        _ => None,
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Build a streaming (chunked) response from pre-rendered SSE events, honouring the chunk delay
/// and the cut-after control. A cut makes the body stream yield an error, which makes hyper abort
/// the response without the terminating chunk.
fn sse_response(events: Vec<Bytes>, ctl: &Controls) -> Response {
    let body = match (ctl.chunk_delay, ctl.cut_after) {
        (None, None) => Body::from_stream(stream::iter(
            events.into_iter().map(Ok::<Bytes, Infallible>),
        )),
        (delay, cut) => {
            let events = match cut {
                Some(n) if n < events.len() => events[..n].to_vec(),
                _ => events,
            };
            let cut = cut.is_some();
            let st = (events.into_iter(), delay, cut, true);
            Body::from_stream(stream::unfold(
                st,
                |(mut it, delay, cut, first)| async move {
                    match it.next() {
                        Some(ev) => {
                            if let Some(d) = delay
                                && !first
                            {
                                tokio::time::sleep(d).await;
                            }
                            Some((Ok(ev), (it, delay, cut, false)))
                        }
                        None if cut => {
                            if let Some(d) = delay {
                                tokio::time::sleep(d).await;
                            }
                            // Return Pending once so hyper flushes the head and the events
                            // already written before it sees the error and aborts.
                            tokio::task::yield_now().await;
                            Some((
                                Err(std::io::Error::new(
                                    std::io::ErrorKind::ConnectionAborted,
                                    "x-mock-cut-after",
                                )),
                                (it, delay, false, false),
                            ))
                        }
                        None => None,
                    }
                },
            ))
        }
    };
    let mut res = Response::new(body);
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, SSE);
    h.insert(header::CACHE_CONTROL, NO_CACHE);
    res
}

fn data_event(v: &Value) -> Bytes {
    let mut buf = Vec::with_capacity(256);
    buf.extend_from_slice(b"data: ");
    // Writing a Value into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut buf, v);
    buf.extend_from_slice(b"\n\n");
    Bytes::from(buf)
}

fn named_event(name: &str, v: &Value) -> Bytes {
    let mut buf = Vec::with_capacity(512);
    buf.extend_from_slice(b"event: ");
    buf.extend_from_slice(name.as_bytes());
    buf.extend_from_slice(b"\ndata: ");
    let _ = serde_json::to_writer(&mut buf, v);
    buf.extend_from_slice(b"\n\n");
    Bytes::from(buf)
}

// ---------------------------------------------------------------------------------------------
// Decision logic shared by chat completions and responses
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
enum Reply {
    Text(String),
    Call { name: String, arguments: String },
}

impl Reply {
    fn tokens(&self) -> u64 {
        let s = match self {
            Reply::Text(t) => t,
            Reply::Call { arguments, .. } => arguments,
        };
        s.split_whitespace().count().max(1) as u64
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Text of a message `content` / tool `output`: a string, or the concatenated `text` of parts.
fn content_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => {
            let mut out = String::new();
            for p in parts {
                if let Some(t) = p.as_str() {
                    out.push_str(t);
                } else if let Some(t) = str_of(p, "text") {
                    out.push_str(t);
                }
            }
            out
        }
        _ => String::new(),
    }
}

/// The JSON type a property schema asks for (first non-null of `type`, `anyOf`, `oneOf`).
fn schema_type(schema: &Value) -> Option<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => return Some(t),
        Some(Value::Array(ts)) => {
            return ts.iter().filter_map(Value::as_str).find(|t| *t != "null");
        }
        _ => {}
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(alts) = schema.get(key).and_then(Value::as_array)
            && let Some(t) = alts.iter().filter_map(schema_type).find(|t| *t != "null")
        {
            return Some(t);
        }
    }
    None
}

/// Arguments with every `required` property filled: string -> "mock" (or the first `enum`
/// value), integer/number -> 1, boolean -> true, anything else -> null.
fn mock_arguments(params: Option<&Value>) -> String {
    let mut map = Map::new();
    if let Some(p) = params {
        let props = p.get("properties");
        if let Some(req) = p.get("required").and_then(Value::as_array) {
            for name in req.iter().filter_map(Value::as_str) {
                let schema = props.and_then(|pr| pr.get(name));
                let value = match schema {
                    Some(s) => {
                        if let Some(first) = s
                            .get("enum")
                            .and_then(Value::as_array)
                            .and_then(|e| e.first())
                        {
                            first.clone()
                        } else {
                            match schema_type(s) {
                                Some("string") => Value::from("mock"),
                                Some("integer" | "number") => Value::from(1),
                                Some("boolean") => Value::Bool(true),
                                _ => Value::Null,
                            }
                        }
                    }
                    None => Value::Null,
                };
                map.insert(name.to_owned(), value);
            }
        }
    }
    Value::Object(map).to_string()
}

fn tool_choice_none(req: &Value) -> bool {
    str_of(req, "tool_choice") == Some("none")
}

fn chat_decide(req: &Value) -> Reply {
    let last = req
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| m.last());
    let last_is_tool = last.and_then(|m| str_of(m, "role")) == Some("tool");
    if let Some(tool) = req
        .get("tools")
        .and_then(Value::as_array)
        .and_then(|t| t.first())
        && !last_is_tool
        && !tool_choice_none(req)
    {
        let func = tool
            .get("function")
            .or_else(|| tool.get("custom"))
            .unwrap_or(tool);
        let name = str_of(func, "name").unwrap_or("tool").to_owned();
        return Reply::Call {
            name,
            arguments: mock_arguments(func.get("parameters")),
        };
    }
    let text = content_text(last.and_then(|m| m.get("content")));
    Reply::Text(format!("mock reply: {text}"))
}

fn responses_decide(req: &Value) -> Reply {
    let mut last_user: Option<(usize, String)> = None;
    let mut last_output: Option<(usize, String)> = None;
    match req.get("input") {
        Some(Value::String(s)) => last_user = Some((0, s.clone())),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                match str_of(item, "type") {
                    Some("function_call_output" | "custom_tool_call_output") => {
                        last_output = Some((i, content_text(item.get("output"))));
                    }
                    Some("message") | None if str_of(item, "role") == Some("user") => {
                        last_user = Some((i, content_text(item.get("content"))));
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
    let output_after_user = match (&last_output, &last_user) {
        (Some((o, _)), Some((u, _))) => o > u,
        (Some(_), None) => true,
        _ => false,
    };
    if !output_after_user
        && !tool_choice_none(req)
        && let Some(tool) = req
            .get("tools")
            .and_then(Value::as_array)
            .and_then(|ts| ts.iter().find(|t| str_of(t, "type") == Some("function")))
    {
        return Reply::Call {
            name: str_of(tool, "name").unwrap_or("tool").to_owned(),
            arguments: mock_arguments(tool.get("parameters")),
        };
    }
    let text = if output_after_user {
        last_output.map(|(_, t)| t)
    } else {
        last_user.map(|(_, t)| t)
    };
    Reply::Text(format!("mock reply: {}", text.unwrap_or_default()))
}

/// Token-like pieces whose concatenation is `s`: words, and words longer
/// than four bytes cut into pieces of at most four ("a <EMAIL_1>" -> "a ",
/// "<EMA", "IL_1", ">"), as a model's tokens split a placeholder or a number
/// across SSE events.
fn token_pieces(s: &str) -> Vec<&str> {
    let mut v = Vec::new();
    for word in s.split_inclusive(' ') {
        let mut rest = word;
        while rest.len() > 4 {
            let mut cut = 4;
            while !rest.is_char_boundary(cut) {
                cut += 1;
            }
            if cut >= rest.len() {
                break;
            }
            v.push(&rest[..cut]);
            rest = &rest[cut..];
        }
        v.push(rest);
    }
    if v.is_empty() { vec![""] } else { v }
}

/// Split `s` into (up to) three pieces at char boundaries; two or more when `s` has 2+ chars.
fn arg_pieces(s: &str) -> Vec<&str> {
    let n = s.chars().count();
    if n < 2 {
        return vec![s];
    }
    let cuts: Vec<usize> = if n >= 3 {
        vec![n / 3, 2 * n / 3]
    } else {
        vec![1]
    };
    let idx: Vec<usize> = s.char_indices().map(|(i, _)| i).collect();
    let mut out = Vec::with_capacity(3);
    let mut start = 0;
    for c in cuts {
        let at = idx.get(c).copied().unwrap_or(s.len());
        if at > start {
            out.push(&s[start..at]);
            start = at;
        }
    }
    out.push(&s[start..]);
    out
}

fn model_of(req: &Value) -> String {
    str_of(req, "model").unwrap_or("gpt-4o").to_owned()
}

fn prompt_tokens(body: &Bytes) -> u64 {
    (body.len() / 4) as u64
}

// ---------------------------------------------------------------------------------------------
// Chat completions
// ---------------------------------------------------------------------------------------------

fn chat_completions(state: &MockState, body: &Bytes, ctl: Controls, n: u64) -> Response {
    let Some(req) = parse_object(body) else {
        return bad_json();
    };
    let model = model_of(&req);
    let reply = chat_decide(&req);
    let id = format!("chatcmpl-mock{n:08}");
    let created = now();
    let prompt = prompt_tokens(body);
    let completion = reply.tokens();
    let usage = json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0
        }
    });
    let call_id = format!("call_mock{n:08}");

    if req.get("stream").and_then(Value::as_bool) != Some(true) {
        let (message, finish) = match &reply {
            Reply::Text(t) => (
                json!({"role": "assistant", "content": t, "refusal": null, "annotations": []}),
                "stop",
            ),
            Reply::Call { name, arguments } => (
                json!({
                    "role": "assistant", "content": null, "refusal": null, "annotations": [],
                    "tool_calls": [{
                        "id": call_id, "type": "function",
                        "function": {"name": name, "arguments": arguments}
                    }]
                }),
                "tool_calls",
            ),
        };
        let answer = json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
            "usage": usage,
            "service_tier": "default",
            "system_fingerprint": "fp_mock",
        });
        if req.get("store").and_then(Value::as_bool) == Some(true) {
            lock(&state.inner.objects).put("chat", answer.clone());
        }
        return json_value(StatusCode::OK, &answer);
    }

    let include_usage = req
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        == Some(true);
    let chunk = |delta: Value, finish: Option<&str>| {
        let mut v = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": "fp_mock",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        if include_usage && let Value::Object(m) = &mut v {
            m.insert("usage".to_owned(), Value::Null);
        }
        data_event(&v)
    };

    let mut events = Vec::with_capacity(16);
    let finish = match &reply {
        Reply::Text(t) => {
            events.push(chunk(
                json!({"role": "assistant", "content": "", "refusal": null}),
                None,
            ));
            for piece in token_pieces(t) {
                events.push(chunk(json!({"content": piece}), None));
            }
            "stop"
        }
        Reply::Call { name, arguments } => {
            events.push(chunk(
                json!({"role": "assistant", "content": null, "refusal": null}),
                None,
            ));
            events.push(chunk(
                json!({"tool_calls": [{
                    "index": 0, "id": call_id, "type": "function",
                    "function": {"name": name, "arguments": ""}
                }]}),
                None,
            ));
            for piece in arg_pieces(arguments) {
                events.push(chunk(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
                    None,
                ));
            }
            "tool_calls"
        }
    };
    events.push(chunk(json!({}), Some(finish)));
    if include_usage {
        events.push(data_event(&json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": "fp_mock",
            "choices": [],
            "usage": usage,
        })));
    }
    events.push(Bytes::from_static(b"data: [DONE]\n\n"));
    sse_response(events, &ctl)
}

// ---------------------------------------------------------------------------------------------
// Responses API
// ---------------------------------------------------------------------------------------------

fn output_text_part(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

fn response_object(
    req: &Value,
    id: &str,
    created_at: u64,
    status: &str,
    output: Vec<Value>,
    usage: Value,
) -> Value {
    let get = |k: &str, default: Value| req.get(k).cloned().unwrap_or(default);
    let mut v = json!({
        "id": id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": false,
        "error": null,
        "incomplete_details": null,
        "instructions": get("instructions", Value::Null),
        "max_output_tokens": get("max_output_tokens", Value::Null),
        "max_tool_calls": null,
        "model": model_of(req),
        "output": null,
        "parallel_tool_calls": get("parallel_tool_calls", Value::Bool(true)),
        "previous_response_id": get("previous_response_id", Value::Null),
        "reasoning": {"effort": null, "summary": null},
        "service_tier": "default",
        "store": get("store", Value::Bool(true)),
        "temperature": get("temperature", json!(1.0)),
        "text": get("text", json!({"format": {"type": "text"}})),
        "tool_choice": get("tool_choice", json!("auto")),
        "tools": get("tools", json!([])),
        "top_logprobs": 0,
        "top_p": get("top_p", json!(1.0)),
        "truncation": "disabled",
        "usage": null,
        "user": null,
        "metadata": get("metadata", json!({})),
    });
    if let Value::Object(m) = &mut v {
        m.insert("output".to_owned(), Value::Array(output));
        m.insert("usage".to_owned(), usage);
    }
    v
}

fn responses_usage(input: u64, output: u64) -> Value {
    json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input + output,
    })
}

fn responses(state: &MockState, body: &Bytes, ctl: Controls, n: u64) -> Response {
    let Some(req) = parse_object(body) else {
        return bad_json();
    };
    let reply = responses_decide(&req);
    let id = format!("resp_mock{n:08}");
    let created_at = now();
    let usage = responses_usage(prompt_tokens(body), reply.tokens());
    let (item_id, item) = match &reply {
        Reply::Text(t) => {
            let item_id = format!("msg_mock{n:08}");
            let item = json!({
                "id": item_id, "type": "message", "status": "completed", "role": "assistant",
                "content": [output_text_part(t)],
            });
            (item_id, item)
        }
        Reply::Call { name, arguments } => {
            let item_id = format!("fc_mock{n:08}");
            let item = json!({
                "id": item_id, "type": "function_call", "status": "completed",
                "call_id": format!("call_mock{n:08}"), "name": name, "arguments": arguments,
            });
            (item_id, item)
        }
    };
    let done = response_object(
        &req,
        &id,
        created_at,
        "completed",
        vec![item.clone()],
        usage,
    );
    if state.inner.record {
        lock(&state.inner.responses).insert(id.clone(), Bytes::from(done.to_string()));
    }

    if req.get("stream").and_then(Value::as_bool) != Some(true) {
        return json_value(StatusCode::OK, &done);
    }

    let in_progress = response_object(&req, &id, created_at, "in_progress", vec![], Value::Null);
    let mut seq: u64 = 0;
    let mut events = Vec::with_capacity(16);
    let mut push = |name: &str, mut v: Value| {
        if let Value::Object(m) = &mut v {
            m.insert("type".to_owned(), Value::from(name));
            m.insert("sequence_number".to_owned(), Value::from(seq));
        }
        seq += 1;
        events.push(named_event(name, &v));
    };
    push("response.created", json!({"response": in_progress}));
    push("response.in_progress", json!({"response": in_progress}));
    match &reply {
        Reply::Text(t) => {
            push(
                "response.output_item.added",
                json!({"output_index": 0, "item": {
                    "id": item_id, "type": "message", "status": "in_progress",
                    "role": "assistant", "content": [],
                }}),
            );
            push(
                "response.content_part.added",
                json!({"item_id": item_id, "output_index": 0, "content_index": 0,
                       "part": output_text_part("")}),
            );
            for piece in token_pieces(t) {
                push(
                    "response.output_text.delta",
                    json!({"item_id": item_id, "output_index": 0, "content_index": 0,
                           "delta": piece, "logprobs": []}),
                );
            }
            push(
                "response.output_text.done",
                json!({"item_id": item_id, "output_index": 0, "content_index": 0,
                       "text": t, "logprobs": []}),
            );
            push(
                "response.content_part.done",
                json!({"item_id": item_id, "output_index": 0, "content_index": 0,
                       "part": output_text_part(t)}),
            );
        }
        Reply::Call { name, arguments } => {
            push(
                "response.output_item.added",
                json!({"output_index": 0, "item": {
                    "id": item_id, "type": "function_call", "status": "in_progress",
                    "call_id": format!("call_mock{n:08}"), "name": name, "arguments": "",
                }}),
            );
            for piece in arg_pieces(arguments) {
                push(
                    "response.function_call_arguments.delta",
                    json!({"item_id": item_id, "output_index": 0, "delta": piece}),
                );
            }
            push(
                "response.function_call_arguments.done",
                json!({"item_id": item_id, "output_index": 0, "name": name,
                       "arguments": arguments}),
            );
        }
    }
    push(
        "response.output_item.done",
        json!({"output_index": 0, "item": item}),
    );
    push("response.completed", json!({"response": done}));
    sse_response(events, &ctl)
}

fn response_get(state: &MockState, id: &str) -> Response {
    if let Some(b) = lock(&state.inner.responses).get(id).cloned() {
        return json_bytes(StatusCode::OK, b);
    }
    let req = json!({"model": "gpt-4o"});
    let item = json!({
        "id": format!("msg_{id}"), "type": "message", "status": "completed", "role": "assistant",
        "content": [output_text_part("mock reply: ")],
    });
    json_value(
        StatusCode::OK,
        &response_object(
            &req,
            id,
            now(),
            "completed",
            vec![item],
            responses_usage(0, 2),
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// Models, embeddings, moderations
// ---------------------------------------------------------------------------------------------

fn model_json(id: &str) -> Value {
    json!({"id": id, "object": "model", "created": 1_715_367_049, "owned_by": "mock"})
}

fn models_list() -> &'static Bytes {
    static LIST: OnceLock<Bytes> = OnceLock::new();
    LIST.get_or_init(|| {
        let data: Vec<Value> = MODELS.iter().map(|m| model_json(m)).collect();
        Bytes::from(json!({"object": "list", "data": data}).to_string())
    })
}

fn model_get(id: &str) -> Response {
    if MODELS.contains(&id) {
        json_value(StatusCode::OK, &model_json(id))
    } else {
        json_value(
            StatusCode::NOT_FOUND,
            &json!({"error": {
                "message": format!("The model '{id}' does not exist or you do not have access to it."),
                "type": "invalid_request_error", "param": null, "code": "model_not_found"
            }}),
        )
    }
}

/// Deterministic embedding of `text`: FNV-1a seeded per dimension, mapped into [-1, 1].
pub fn mock_embedding(text: &str) -> [f32; EMBEDDING_DIMS] {
    let mut out = [0f32; EMBEDDING_DIMS];
    for (d, slot) in out.iter_mut().enumerate() {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ (d as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for b in text.as_bytes() {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // Top 24 bits -> [0, 1) -> [-1, 1).
        let unit = (h >> 40) as f32 / (1u64 << 24) as f32;
        *slot = unit * 2.0 - 1.0;
    }
    out
}

fn input_texts(input: Option<&Value>) -> Vec<String> {
    match input {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => {
            // An array of token ids is a single input; an array of strings/arrays is many.
            if items.iter().all(Value::is_number) && !items.is_empty() {
                return vec![Value::Array(items.clone()).to_string()];
            }
            items
                .iter()
                .map(|i| match i {
                    Value::String(s) => s.clone(),
                    other => {
                        let t = content_text(Some(other));
                        if t.is_empty() { other.to_string() } else { t }
                    }
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

fn embeddings(body: &Bytes) -> Response {
    let Some(req) = parse_object(body) else {
        return bad_json();
    };
    let base64 = str_of(&req, "encoding_format") == Some("base64");
    let texts = input_texts(req.get("input"));
    let data: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let e = mock_embedding(t);
            let embedding = if base64 {
                let mut raw = Vec::with_capacity(EMBEDDING_DIMS * 4);
                for f in e {
                    raw.extend_from_slice(&f.to_le_bytes());
                }
                Value::from(base64::engine::general_purpose::STANDARD.encode(raw))
            } else {
                Value::from(e.iter().map(|f| f64::from(*f)).collect::<Vec<f64>>())
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    let tokens = prompt_tokens(body);
    json_value(
        StatusCode::OK,
        &json!({
            "object": "list",
            "data": data,
            "model": str_of(&req, "model").unwrap_or("text-embedding-3-small"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }),
    )
}

const MODERATION_CATEGORIES: [&str; 13] = [
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
];

fn moderations(body: &Bytes, n: u64) -> Response {
    let Some(req) = parse_object(body) else {
        return bad_json();
    };
    let count = input_texts(req.get("input")).len().max(1);
    let mut categories = Map::new();
    let mut scores = Map::new();
    let mut applied = Map::new();
    for c in MODERATION_CATEGORIES {
        categories.insert(c.to_owned(), Value::Bool(false));
        scores.insert(c.to_owned(), json!(0.0));
        applied.insert(c.to_owned(), json!(["text"]));
    }
    let result = json!({
        "flagged": false,
        "categories": categories,
        "category_scores": scores,
        "category_applied_input_types": applied,
    });
    let mut id = String::from("modr-mock");
    let _ = write!(id, "{n:08}");
    json_value(
        StatusCode::OK,
        &json!({
            "id": id,
            "model": str_of(&req, "model").unwrap_or("omni-moderation-latest"),
            "results": vec![result; count],
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::new()
    }

    async fn post(mock: &MockUpstream, path: &str, body: Value) -> reqwest::Response {
        client()
            .post(format!("{}{path}", mock.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Split an SSE body into (event name, data) pairs.
    fn sse(body: &str) -> Vec<(Option<String>, String)> {
        body.split("\n\n")
            .filter(|b| !b.trim().is_empty())
            .map(|block| {
                let mut name = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(n) = line.strip_prefix("event: ") {
                        name = Some(n.to_owned());
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data.push_str(d);
                    }
                }
                (name, data)
            })
            .collect()
    }

    #[tokio::test]
    async fn chat_non_stream_text() {
        let mock = MockUpstream::start().await.unwrap();
        let res = post(
            &mock,
            "/chat/completions",
            json!({"model": "gpt-4o-mini", "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "hello "}, {"type": "text", "text": "there"}]}
            ]}),
        )
        .await;
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers()["content-type"].to_str().unwrap(),
            "application/json"
        );
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["model"], "gpt-4o-mini");
        assert_eq!(
            v["choices"][0]["message"]["content"],
            "mock reply: hello there"
        );
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
        assert_eq!(v["usage"]["completion_tokens"], 4);
        let u = &v["usage"];
        assert_eq!(
            u["total_tokens"].as_u64().unwrap(),
            u["prompt_tokens"].as_u64().unwrap() + 4
        );
    }

    #[tokio::test]
    async fn chat_tool_call_and_round_trip() {
        let mock = MockUpstream::start().await.unwrap();
        let tools = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"},
                           "metric": {"type": "boolean"}, "tags": {"type": "array"},
                           "unit": {"anyOf": [{"type": "null"}, {"type": "number"}]}},
            "required": ["city", "days", "metric", "tags", "unit"]
        }}}, {"type": "function", "function": {"name": "other", "parameters": {}}}]);
        let v: Value = post(
            &mock,
            "/chat/completions",
            json!({"model": "gpt-4o", "tools": tools, "messages": [{"role": "user", "content": "weather?"}]}),
        )
        .await
        .json()
        .await
        .unwrap();
        let choice = &v["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls");
        assert!(choice["message"]["content"].is_null());
        let call = &choice["message"]["tool_calls"][0];
        assert_eq!(call["type"], "function");
        assert_eq!(call["function"]["name"], "get_weather");
        let args: Value =
            serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(
            args,
            json!({"city": "mock", "days": 1, "metric": true, "tags": null, "unit": 1})
        );

        // Second turn with the tool result: the mock echoes it.
        let v: Value = post(
            &mock,
            "/chat/completions",
            json!({"model": "gpt-4o", "tools": tools, "messages": [
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": null, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": call["id"], "content": "sunny in mock"}
            ]}),
        )
        .await
        .json()
        .await
        .unwrap();
        assert_eq!(
            v["choices"][0]["message"]["content"],
            "mock reply: sunny in mock"
        );
    }

    #[tokio::test]
    async fn chat_stream_with_usage_and_done() {
        let mock = MockUpstream::start().await.unwrap();
        let res = post(
            &mock,
            "/chat/completions",
            json!({"model": "gpt-4o", "stream": true, "stream_options": {"include_usage": true},
                   "messages": [{"role": "user", "content": "one two three"}]}),
        )
        .await;
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        assert!(res.headers().get("content-length").is_none());
        let body = res.text().await.unwrap();
        let events = sse(&body);
        assert_eq!(events.last().unwrap().1, "[DONE]");
        let chunks: Vec<Value> = events[..events.len() - 1]
            .iter()
            .map(|(_, d)| serde_json::from_str(d).unwrap())
            .collect();
        assert!(
            chunks
                .iter()
                .all(|c| c["object"] == "chat.completion.chunk")
        );
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        let text: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(text, "mock reply: one two three");
        let deltas = chunks
            .iter()
            .filter(|c| {
                c["choices"][0]["delta"]["content"]
                    .as_str()
                    .is_some_and(|s| !s.is_empty())
            })
            .count();
        assert!(deltas >= 3, "content split into several deltas");
        let finish = &chunks[chunks.len() - 2];
        assert_eq!(finish["choices"][0]["finish_reason"], "stop");
        let usage_chunk = chunks.last().unwrap();
        assert_eq!(usage_chunk["choices"], json!([]));
        assert_eq!(usage_chunk["usage"]["completion_tokens"], 5);
    }

    #[tokio::test]
    async fn chat_stream_tool_call_deltas() {
        let mock = MockUpstream::start().await.unwrap();
        let body = post(
            &mock,
            "/chat/completions",
            json!({"model": "gpt-4o", "stream": true,
                   "tools": [{"type": "function", "function": {"name": "f", "parameters": {
                       "type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}}],
                   "messages": [{"role": "user", "content": "x"}]}),
        )
        .await
        .text()
        .await
        .unwrap();
        let events = sse(&body);
        assert_eq!(events.last().unwrap().1, "[DONE]");
        let chunks: Vec<Value> = events[..events.len() - 1]
            .iter()
            .map(|(_, d)| serde_json::from_str(d).unwrap())
            .collect();
        // No usage requested: no usage chunk, and chunks carry no usage key.
        assert!(chunks.iter().all(|c| c.get("usage").is_none()));
        let calls: Vec<&Value> = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"].get("tool_calls"))
            .collect();
        assert_eq!(calls[0][0]["function"]["name"], "f");
        assert!(calls[0][0]["id"].is_string());
        assert!(calls.len() >= 3, "name first, then 2+ argument pieces");
        let args: String = calls
            .iter()
            .filter_map(|c| c[0]["function"]["arguments"].as_str())
            .collect();
        assert_eq!(args, r#"{"q":"mock"}"#);
        assert_eq!(
            chunks.last().unwrap()["choices"][0]["finish_reason"],
            "tool_calls"
        );
    }

    #[tokio::test]
    async fn responses_stream_event_order() {
        let mock = MockUpstream::start().await.unwrap();
        let body = post(
            &mock,
            "/responses",
            json!({"model": "gpt-4o", "stream": true, "instructions": "hi",
                   "input": [{"role": "user", "content": [{"type": "input_text", "text": "hello world"}]}]}),
        )
        .await
        .text()
        .await
        .unwrap();
        let events = sse(&body);
        let names: Vec<&str> = events.iter().map(|(n, _)| n.as_deref().unwrap()).collect();
        let mut expected = vec![
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
        ];
        // "mock reply: hello world" in token-like pieces.
        let pieces = token_pieces("mock reply: hello world").len();
        assert_eq!(pieces, 8);
        expected.extend(std::iter::repeat_n("response.output_text.delta", pieces));
        expected.extend([
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]);
        assert_eq!(names, expected);
        let datas: Vec<Value> = events
            .iter()
            .map(|(_, d)| serde_json::from_str(d).unwrap())
            .collect();
        for (i, (d, (n, _))) in datas.iter().zip(&events).enumerate() {
            assert_eq!(d["sequence_number"], i);
            assert_eq!(d["type"].as_str(), n.as_deref());
        }
        let done = &datas.last().unwrap()["response"];
        assert_eq!(done["status"], "completed");
        assert_eq!(
            done["output"][0]["content"][0]["text"],
            "mock reply: hello world"
        );
        assert!(done["usage"]["input_tokens"].as_u64().unwrap() > 0);
        assert!(!body.contains("[DONE]"));

        // Function call stream.
        let body = post(
            &mock,
            "/responses",
            json!({"model": "gpt-4o", "stream": true, "input": "weather?",
                   "tools": [{"type": "function", "name": "get_weather", "strict": true, "parameters": {
                       "type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"], "additionalProperties": false}}]}),
        )
        .await
        .text()
        .await
        .unwrap();
        let events = sse(&body);
        let names: Vec<&str> = events.iter().map(|(n, _)| n.as_deref().unwrap()).collect();
        assert_eq!(names[2], "response.output_item.added");
        let n_deltas = names
            .iter()
            .filter(|n| **n == "response.function_call_arguments.delta")
            .count();
        assert!(n_deltas >= 2);
        assert_eq!(
            &names[names.len() - 3..],
            [
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed"
            ]
        );
        let done: Value = serde_json::from_str(&events.last().unwrap().1).unwrap();
        let item = &done["response"]["output"][0];
        assert_eq!(item["type"], "function_call");
        assert_eq!(item["name"], "get_weather");
        assert_eq!(item["arguments"], r#"{"city":"mock"}"#);

        // Second turn: the function output is echoed.
        let v: Value = post(
            &mock,
            "/responses",
            json!({"model": "gpt-4o", "input": [
                {"role": "user", "content": "weather?"},
                {"type": "function_call", "call_id": item["call_id"], "name": "get_weather", "arguments": item["arguments"]},
                {"type": "function_call_output", "call_id": item["call_id"], "output": "sunny in mock"}
            ], "tools": [{"type": "function", "name": "get_weather", "parameters": {}}]}),
        )
        .await
        .json()
        .await
        .unwrap();
        assert_eq!(v["object"], "response");
        assert_eq!(v["output"][0]["type"], "message");
        assert_eq!(
            v["output"][0]["content"][0]["text"],
            "mock reply: sunny in mock"
        );

        // Stored, retrievable and deletable.
        let id = v["id"].as_str().unwrap();
        let got: Value = client()
            .get(format!("{}/responses/{id}", mock.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(got, v);
        let del: Value = client()
            .delete(format!("{}/responses/{id}", mock.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            del,
            json!({"id": id, "object": "response.deleted", "deleted": true})
        );
    }

    #[tokio::test]
    async fn cut_stream_ends_with_error_and_no_done() {
        let mock = MockUpstream::start().await.unwrap();
        let mut res = client()
            .post(format!("{}/chat/completions", mock.base_url()))
            .header("x-mock-cut-after", "2")
            .header("x-mock-chunk-delay-ms", "5")
            .json(&json!({"model": "gpt-4o", "stream": true,
                          "messages": [{"role": "user", "content": "a b c d e f"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let mut got = Vec::new();
        let err = loop {
            match res.chunk().await {
                Ok(Some(c)) => got.extend_from_slice(&c),
                Ok(None) => panic!("stream ended cleanly; expected an abort"),
                Err(e) => break e,
            }
        };
        let text = String::from_utf8(got).unwrap();
        assert_eq!(sse(&text).len(), 2, "exactly two events before the cut");
        assert!(!text.contains("[DONE]"));
        assert!(
            err.is_body() || err.is_decode() || err.is_request(),
            "{err:?}"
        );

        // Without delays, too (responses API): the head arrives, then the body breaks.
        for n in [0usize, 3] {
            let mut res = client()
                .post(format!("{}/responses", mock.base_url()))
                .header("x-mock-cut-after", n.to_string())
                .json(&json!({"model": "gpt-4o", "stream": true, "input": "x"}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            let mut got = Vec::new();
            loop {
                match res.chunk().await {
                    Ok(Some(c)) => got.extend_from_slice(&c),
                    Ok(None) => panic!("stream ended cleanly; expected an abort"),
                    Err(_) => break,
                }
            }
            let text = String::from_utf8(got).unwrap();
            assert_eq!(sse(&text).len(), n);
            assert!(!text.contains("response.completed"));
        }
    }

    #[tokio::test]
    async fn failure_and_delay_controls() {
        let mock = MockUpstream::start().await.unwrap();
        let res = client()
            .post(format!("{}/chat/completions", mock.base_url()))
            .header("x-mock-status", "503")
            .json(&json!({"model": "gpt-4o", "messages": []}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 503);
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["error"]["code"], "mock_failure");
        assert_eq!(v["error"]["type"], "server_error");

        let t = std::time::Instant::now();
        let res = client()
            .get(format!("{}/models", mock.base_url()))
            .header("x-mock-delay-ms", "120")
            .send()
            .await
            .unwrap();
        assert!(t.elapsed() >= Duration::from_millis(120));
        let v: Value = res.json().await.unwrap();
        let ids: Vec<&str> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, MODELS);
    }

    #[tokio::test]
    async fn embeddings_moderations_models_echo() {
        let mock = MockUpstream::start().await.unwrap();
        let v: Value = post(
            &mock,
            "/embeddings",
            json!({"model": "text-embedding-3-small", "input": ["a", "b"]}),
        )
        .await
        .json()
        .await
        .unwrap();
        assert_eq!(v["data"].as_array().unwrap().len(), 2);
        assert_eq!(v["data"][1]["index"], 1);
        assert_eq!(
            v["data"][0]["embedding"].as_array().unwrap().len(),
            EMBEDDING_DIMS
        );
        assert_ne!(v["data"][0]["embedding"], v["data"][1]["embedding"]);
        let v: Value = post(
            &mock,
            "/embeddings",
            json!({"input": "a", "encoding_format": "base64"}),
        )
        .await
        .json()
        .await
        .unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(v["data"][0]["embedding"].as_str().unwrap())
            .unwrap();
        assert_eq!(raw.len(), EMBEDDING_DIMS * 4);
        assert_eq!(
            f32::from_le_bytes(raw[..4].try_into().unwrap()),
            mock_embedding("a")[0]
        );

        let v: Value = post(&mock, "/moderations", json!({"input": "hi"}))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(v["results"][0]["flagged"], false);

        let c = client();
        let v: Value = c
            .get(format!("{}/models/o3-pro", mock.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["owned_by"], "mock");
        let res = c
            .get(format!("{}/models/nope", mock.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404);
        let v: Value = c
            .post(format!("{}/files?purpose=batch", mock.base_url()))
            .body("x")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["object"], "file", "{v}");
        assert!(v["id"].as_str().is_some_and(|id| id.starts_with("file-")));
    }

    #[tokio::test]
    async fn recording() {
        let mock = MockUpstream::start().await.unwrap();
        assert!(mock.requests().is_empty());
        let res = client()
            .post(format!("{}/chat/completions?trace=1", mock.base_url()))
            .header("Authorization", "Bearer sk-upstream")
            .header("X-Custom", "v")
            .json(&json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert!(
            res.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .starts_with("req_mock")
        );
        let reqs = mock.requests();
        assert_eq!(reqs.len(), 1);
        let r = &reqs[0];
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/v1/chat/completions?trace=1");
        assert_eq!(r.header("authorization"), Some("Bearer sk-upstream"));
        assert_eq!(r.header("x-custom"), Some("v"));
        assert_eq!(r.json()["messages"][0]["content"], "hi");

        // The control route exposes the same data and is not recorded itself.
        let list: Value = client()
            .get(format!("http://{}/__mock/requests", mock.addr()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list[0]["path"], "/v1/chat/completions?trace=1");
        assert_eq!(mock.requests().len(), 1);

        mock.clear();
        assert!(mock.requests().is_empty());
    }

    #[tokio::test]
    async fn no_record_mode() {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(serve(listener, false));
        let v: Value = client()
            .post(format!("http://{addr}/v1/chat/completions"))
            .json(&json!({"messages": [{"role": "user", "content": "x"}]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], "mock reply: x");
        assert_eq!(v["model"], "gpt-4o");
        task.abort();
    }

    #[test]
    fn pieces() {
        assert_eq!(arg_pieces("{}"), vec!["{", "}"]);
        assert_eq!(arg_pieces("{\"a\":1}").concat(), "{\"a\":1}");
        assert_eq!(arg_pieces("{\"a\":1}").len(), 3);
        assert_eq!(token_pieces("a b  c").concat(), "a b  c");
        assert_eq!(
            token_pieces("to <EMAIL_1>"),
            vec!["to ", "<EMA", "IL_1", ">"]
        );
        assert_eq!(token_pieces("Zoë Saldaña").concat(), "Zoë Saldaña");
    }
}
