//! Warden's data path: an OpenAI-compatible HTTP server that authenticates
//! each call, authorizes it with policy, forwards it with the connection's
//! credential, streams the answer back, and records the exchange.
//!
//! - [`pipeline`]: the stages, in order, as one async function.
//! - [`routes`]: which endpoints exist and what each needs inspected.
//! - [`probe`]: the one-pass JSON check of request bodies.
//! - [`inspect`] + [`analyzer`]: content rules and masking; the optional
//!   external NER analyzer (Presidio) masking asks.
//! - [`upstream`]: connections, header rules, timeouts.
//! - [`relay`] + [`usage`]: streaming the answer back while reading usage.
//! - [`exchange`] + [`records`]: one record per request, batched to the store.
//! - [`models`]: the policy-filtered model listing.
//! - [`admin`]: the admin API (audit trail reads), for `[admin] groups`.
//! - [`siem`]: the audit trail streamed to a SIEM webhook (`[audit.export]`).
//! - [`error`]: every refusal as an OpenAI-style error.

pub mod admin;
pub mod analyzer;
pub mod approvals;
mod batches;
pub mod error;
pub mod exchange;
pub mod inspect;
mod keepalive;
pub mod models;
pub mod owners;
pub mod pipeline;
pub mod probe;
pub mod rate_headers;
pub mod records;
pub mod relay;
pub mod routes;
mod server;
pub mod siem;
pub mod traces;
mod uploads;
pub mod upstream;
pub mod usage;
mod usage_strip;

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderName, HeaderValue, StatusCode};
use tracing::Instrument as _;
use warden_config::Config;
use warden_core::{Decision, Outcome, RequestRecord, now_ms};
use warden_identity::Identity;
use warden_policy::PolicyEngine;
use warden_store::Store;

use crate::error::GatewayError;
use crate::exchange::RecordGuard;
use crate::pipeline::Reply;
use crate::records::{RecordSink, RecordWriter};
use crate::upstream::{Upstreams, dropped_response_header};

/// Everything the data path needs, built once at start-up.
#[derive(Debug)]
pub struct Gateway {
    pub config: Arc<Config>,
    pub identity: Identity,
    pub policy: PolicyEngine,
    pub upstreams: Upstreams,
    pub records: RecordSink,
    pub store: Arc<dyn Store>,
    /// `None` when no limit rule is configured.
    pub limits: Option<warden_limits::Limiter>,
    /// `None` when no `[pii.analyzer]` is configured.
    pub analyzer: Option<analyzer::Analyzer>,
    /// Who created recent stored objects (see `owners`).
    pub owners: Arc<owners::ObjectOwners>,
    /// The sessions recent agent traces were filed under (see `traces`).
    pub traces: traces::TraceSessions,
    /// `None` without `[approvals]`.
    pub approvals: Option<Arc<approvals::Approvals>>,
    /// Time for approvals and grants (tests move it).
    pub clock: Arc<dyn warden_limits::Clock>,
}

/// Why the gateway could not be built from a config.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("policy: {0}")]
    Policy(#[from] warden_policy::PolicyError),
    #[error("{0}")]
    Upstream(String),
    #[error("limits: {0}")]
    Limits(#[from] warden_limits::counters::BackendError),
    #[error("{0}")]
    Analyzer(String),
    #[error("audit.signing_key_file {path}: {reason}")]
    AuditKey { path: String, reason: String },
    #[error(
        "policy `{policy}`: @mask_output(\"{name}\") masks {kind}, which only the analyzer finds; answers are masked with the built-in detectors only"
    )]
    OutputAnalyzerType {
        policy: String,
        name: String,
        kind: &'static str,
    },
    #[error("audit.checkpoint_webhook: cannot set up an HTTP client: {0}")]
    AuditWebhook(String),
    #[error("approvals.webhook: cannot set up an HTTP client: {0}")]
    Approvals(String),
    #[error("audit.export.webhook: {0}")]
    AuditExport(String),
    #[error("the configuration was loaded without its secrets ({0}); a gateway needs them all")]
    MissingSecrets(String),
    #[error("policy `{policy}`: @{key}(\"{name}\") names no {what} in the config")]
    Obligation {
        policy: String,
        key: &'static str,
        name: String,
        what: &'static str,
    },
}

/// With `audit.signing_key_file` set: signs a checkpoint of the trail every
/// `checkpoint_interval`, and as soon as it grew by `checkpoint_every`
/// entries, when it grew at all; keeps it in the store and publishes it to
/// `checkpoint_file` (written to a temp file, then renamed, so a reader
/// never sees half of one) and `checkpoint_webhook` (POSTed as JSON, retried
/// with backoff, never holding up the next checkpoint). A key that cannot be
/// read stops start-up.
fn start_checkpoints(
    config: &Config,
    store: Arc<dyn warden_store::RecordStore>,
    sink: RecordSink,
) -> Result<(), BuildError> {
    let Some(path) = config.audit.signing_key_file.clone() else {
        return Ok(());
    };
    let bad = |reason: String| BuildError::AuditKey {
        path: path.display().to_string(),
        reason,
    };
    let pem = std::fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
    let key =
        warden_store::checkpoint::signing_key_from_pem(&pem).map_err(|e| bad(e.to_string()))?;
    let audit = config.audit.clone();
    // A webhook that cannot be set up stops start-up: configured means sent.
    let webhook = match audit.checkpoint_webhook.clone() {
        None => None,
        Some(url) => {
            let client = warden_identity::http::client_builder()
                .build()
                .map_err(|e| BuildError::AuditWebhook(e.to_string()))?;
            Some((url, client))
        }
    };
    let every = audit.checkpoint_every;
    let mut committed = sink.committed();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(audit.checkpoint_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut signed = 0;
        let mut at_count = *committed.borrow();
        loop {
            // Without `checkpoint_every`, commits do not wake this task.
            let grown_enough = async {
                match every {
                    Some(every) => {
                        if committed.wait_for(|n| n - at_count >= every).await.is_err() {
                            // The writer is gone: only the interval is left.
                            std::future::pending::<()>().await;
                        }
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tick.tick() => {}
                () = grown_enough => {}
            }
            at_count = *committed.borrow();
            let cp = match warden_store::trail::sign_checkpoint(&*store, &key, signed).await {
                Ok(Some(cp)) => cp,
                Ok(None) => continue,
                Err(error) => {
                    tracing::warn!(%error, "could not sign an audit checkpoint");
                    continue;
                }
            };
            signed = cp.seq;
            tracing::info!(seq = cp.seq, root = %cp.root, "audit checkpoint signed");
            let text = serde_json::to_string_pretty(&cp).unwrap_or_default() + "\n";
            if let Some(file) = &audit.checkpoint_file {
                let tmp = file.with_extension("tmp");
                let written = async {
                    tokio::fs::write(&tmp, &text).await?;
                    tokio::fs::rename(&tmp, file).await
                };
                if let Err(error) = written.await {
                    tracing::warn!(%error, file = %file.display(), "could not publish the audit checkpoint");
                }
            }
            if let Some((url, client)) = &webhook {
                tokio::spawn(post_checkpoint(client.clone(), url.clone(), text));
            }
        }
    });
    Ok(())
}

/// With `audit.retention`: prunes the trail hourly (first a minute after
/// start-up) up to the newest checkpoint older than the retention, after
/// verifying it (see `warden_store::trail::prune`), and records an
/// `audit.prune` event. A trail that does not verify is never pruned.
/// With `audit.body_retention`: deletes recorded bodies older than it,
/// hourly (first a minute after start-up). Bodies are not trail entries, so
/// this needs no checkpoint; their records keep the digests.
fn start_body_pruning(config: &Config, store: Arc<dyn warden_store::bodies::BodyStore>) {
    let Some(retention) = config.audit.body_retention else {
        return;
    };
    let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    tokio::spawn(async move {
        let start = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut tick = tokio::time::interval_at(start, std::time::Duration::from_secs(3600));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            match store
                .prune_bodies(now_ms().saturating_sub(retention_ms))
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(bodies = n, "recorded bodies past their retention deleted"),
                Err(error) => tracing::warn!(%error, "could not delete old recorded bodies"),
            }
        }
    });
}

fn start_pruning(config: &Config, store: Arc<dyn warden_store::RecordStore>, sink: RecordSink) {
    let Some(retention) = config.audit.retention else {
        return;
    };
    let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    tokio::spawn(async move {
        let start = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut tick = tokio::time::interval_at(start, std::time::Duration::from_secs(3600));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let cutoff = now_ms().saturating_sub(retention_ms);
            match warden_store::trail::prune(&*store, cutoff).await {
                Ok(None) => {}
                Ok(Some((cp, pruned))) => {
                    tracing::info!(through_seq = cp.seq, pruned, "audit trail pruned");
                    drop(
                        sink.event(
                            warden_core::AuditEvent::new(
                                "audit.prune",
                                warden_core::Actor::warden(),
                                None,
                            )
                            .with("through_seq", cp.seq.to_string())
                            .with("entries", pruned.to_string())
                            .with("anchor_root", cp.root),
                        ),
                    );
                }
                Err(error) => tracing::error!(%error, "audit trail not pruned"),
            }
        }
    });
}

/// POSTs one checkpoint, retrying with backoff for about a minute. A newer
/// checkpoint supersedes it, so giving up loses nothing that matters.
async fn post_checkpoint(client: reqwest::Client, url: String, body: String) {
    let mut delay = std::time::Duration::from_millis(200);
    for _ in 0..8 {
        let sent = client
            .post(&url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .timeout(std::time::Duration::from_secs(10))
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => return,
            Ok(r) => tracing::warn!(status = %r.status(), %url, "checkpoint webhook refused"),
            Err(error) => tracing::warn!(%error, %url, "checkpoint webhook unreachable"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(std::time::Duration::from_secs(15));
    }
}

/// Every masking profile and content rule a policy attaches must exist: a
/// typo must stop start-up, not switch masking off. (`warden config check`
/// runs it too.)
pub fn check_obligations(policy: &PolicyEngine, config: &Config) -> Result<(), BuildError> {
    for key in warden_policy::OBLIGATION_KEYS {
        for (id, name) in policy.obligation_names(key) {
            let (known, what) = if key == "content_rules" {
                (
                    config.content.rules.iter().any(|r| r.id == name),
                    "[[content.rule]] id",
                )
            } else if key == "approval" {
                (
                    config
                        .approvals
                        .as_ref()
                        .is_some_and(|a| a.rule(&name).is_some()),
                    "[[approvals.rule]] id",
                )
            } else {
                let profile = config.pii.profiles.get(&name);
                if key == "mask_output"
                    && let Some(kind) = profile.and_then(|p| p.analyzer_only_kind())
                {
                    // Answers are masked with the built-in detectors only: a
                    // type they cannot find would be configured, not enforced.
                    return Err(BuildError::OutputAnalyzerType {
                        policy: id,
                        name,
                        kind,
                    });
                }
                (profile.is_some(), "[pii.profiles] entry")
            };
            if !known {
                return Err(BuildError::Obligation {
                    policy: id,
                    key,
                    name,
                    what,
                });
            }
        }
    }
    Ok(())
}

pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-warden-request-id");
pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

impl Gateway {
    /// Builds the gateway and starts its record writer (needs a runtime).
    /// Connects to Redis first when limits are shared through it.
    pub async fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
    ) -> Result<(Arc<Gateway>, RecordWriter), BuildError> {
        Gateway::with_clock(config, store, Arc::new(warden_limits::SystemClock)).await
    }

    /// [`Gateway::new`] with its own clock (tests move time for grants).
    pub async fn with_clock(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        clock: Arc<dyn warden_limits::Clock>,
    ) -> Result<(Arc<Gateway>, RecordWriter), BuildError> {
        // A config loaded leniently (for `warden config check` and the like)
        // holds no value where a secret was missing: never serve with it.
        if !config.missing_secrets.is_empty() {
            let keys: Vec<&str> = config
                .missing_secrets
                .iter()
                .map(|m| m.key.as_str())
                .collect();
            return Err(BuildError::MissingSecrets(keys.join(", ")));
        }
        let policy = PolicyEngine::new(&config.policy)?;
        check_obligations(&policy, &config)?;
        let limits = build_limiter(&config).await?;
        let upstreams = Upstreams::new(&config.connections).map_err(BuildError::Upstream)?;
        let analyzer = config
            .pii
            .analyzer
            .as_ref()
            .map(analyzer::Analyzer::new)
            .transpose()
            .map_err(BuildError::Analyzer)?;
        let key_store: Arc<dyn warden_store::KeyStore> = store.clone();
        let identity = Identity::new(&config, key_store);
        let record_store: Arc<dyn warden_store::RecordStore> = store.clone();
        let durable = config.audit.durability == warden_config::Durability::Fsync;
        let approvals = approvals::Approvals::new(&config, Arc::clone(&clock))
            .map_err(BuildError::Approvals)?;
        let body_store: Arc<dyn warden_store::bodies::BodyStore> = store.clone();
        start_body_pruning(&config, Arc::clone(&body_store));
        let (records, writer) = RecordSink::start(Arc::clone(&record_store), body_store, durable);
        start_checkpoints(&config, Arc::clone(&record_store), records.clone())?;
        siem::start(&config, Arc::clone(&record_store), &records)?;
        start_pruning(&config, record_store, records.clone());
        // The detectors' tables (tens of milliseconds for the phone metadata)
        // load now, off the runtime, not on the first masked request.
        let detects: Vec<warden_pii::Detect> = config
            .pii
            .apply
            .iter()
            .map(|(_, p)| p.detect.clone())
            .collect();
        if !detects.is_empty() {
            let _ =
                tokio::task::spawn_blocking(move || detects.iter().for_each(warden_pii::warm_up))
                    .await;
        }
        let gw = Gateway {
            config,
            identity,
            policy,
            upstreams,
            records,
            store,
            limits,
            analyzer,
            owners: Arc::default(),
            traces: traces::TraceSessions::default(),
            approvals,
            clock,
        };
        if let Some(ap) = &gw.approvals {
            ap.start_poller(Arc::clone(&gw.store));
        }
        Ok((Arc::new(gw), writer))
    }

    /// The HTTP application: health endpoints, the admin API when it has
    /// no listener of its own, and the proxied API.
    pub fn router(self: &Arc<Gateway>) -> Router {
        let on_main = self
            .config
            .admin
            .as_ref()
            .is_some_and(|a| a.listen.is_none());
        // The approvers' API lives beside the admin API, on its listener.
        let admin = if on_main || self.config.admin.is_none() {
            admin::routes(self).merge(approvals::api::routes(self))
        } else {
            Router::new()
        };
        Router::new()
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .merge(admin)
            .fallback(proxy)
            .with_state(Arc::clone(self))
    }
}

async fn build_limiter(config: &Config) -> Result<Option<warden_limits::Limiter>, BuildError> {
    use warden_config::LimitBackend;
    use warden_limits::counters::Counters;
    if config.limits.rules.is_empty() {
        return Ok(None);
    }
    let counters: Arc<dyn Counters> = match &config.limits.backend {
        LimitBackend::Memory => Arc::new(warden_limits::memory::MemoryCounters::new()),
        LimitBackend::Redis { url, .. } => {
            Arc::new(warden_limits::redis::RedisCounters::connect(url).await?)
        }
    };
    Ok(Some(warden_limits::Limiter::new(
        &config.limits,
        config.prices.clone(),
        counters,
        Arc::new(warden_limits::SystemClock),
    )))
}

async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({"status": "ok"}))
}

async fn readyz(State(gw): State<Arc<Gateway>>) -> Response {
    let store = gw.store.is_ready();
    let records = gw.records.is_healthy();
    let status = if store && records {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "status": if status == StatusCode::OK { "ready" } else { "not_ready" },
        "store": store,
        "records": records,
    });
    (status, axum::Json(body)).into_response()
}

pub(crate) fn new_record(
    request_id: String,
    method: &http::Method,
    path: &str,
    client: Option<SocketAddr>,
) -> RequestRecord {
    RequestRecord {
        request_id,
        started_at_ms: now_ms(),
        principal_kind: None,
        subject: None,
        issuer: None,
        groups: Vec::new(),
        key_id: None,
        client_addr: client.map(|a| a.to_string()),
        method: method.to_string(),
        path: path.chars().take(512).collect(),
        endpoint: "unknown".into(),
        model: None,
        connection: None,
        stream: false,
        decision: Decision::Deny,
        reason: None,
        policy_ids: Vec::new(),
        status: 499,
        outcome: Outcome::ClientGone,
        upstream_latency_us: None,
        total_latency_us: 0,
        usage: None,
        cost_usd_micros: None,
        findings: Vec::new(),
        response_id: None,
        session_id: None,
        ttft_us: None,
        chunks: None,
        body_sha256: None,
        policy_decision: None,
        stage: None,
        client_request_id: None,
    }
}

/// The caller's `X-Request-Id`, when it is 1-128 visible ASCII characters
/// (anything else is not kept: it is the caller's label, not Warden's).
fn client_request_id(headers: &http::HeaderMap) -> Option<String> {
    let v = headers.get("x-request-id")?.to_str().ok()?.trim();
    (!v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .then(|| v.to_owned())
}

/// Every request that is not a health check comes here. The pipeline runs
/// as a future of its own: when approval holds a streaming call past
/// `[approvals] keepalive`, the caller gets a 200 event stream of SSE
/// comments at once, and the outcome follows in it (`keepalive.rs`).
///
/// A plain function that returns the future: what only starting the
/// request needs (the request itself, its record before the guard takes
/// it) stays on the stack instead of in the state every request keeps
/// until it is answered, a held call's for minutes.
fn proxy(
    State(gw): State<Arc<Gateway>>,
    request: Request,
) -> impl Future<Output = Response> + Send {
    let (mut run, id_value, watch) = start(&gw, request);
    async move {
        let answer = {
            let (result, guard) = match watch {
                None => run.await,
                Some((every, held_rx)) => match keepalive::race(&mut run, held_rx, every).await {
                    keepalive::Raced::Done(out) => out,
                    keepalive::Raced::Held(id) => {
                        return keepalive::respond(gw, run, id, every, id_value);
                    }
                },
            };
            respond(&gw, result, guard, id_value)
        };
        match answer {
            Answer::Now(response) => response,
            Answer::Later(response) => response.await,
        }
    }
}

/// The request's pipeline, boxed, with its guard, its id as a header value
/// and, with approvals configured, the keep-alive period and the channel
/// on which the pipeline says it holds the call.
#[expect(
    clippy::type_complexity,
    reason = "the one place that starts a request; a named type would only hide it"
)]
fn start(
    gw: &Arc<Gateway>,
    request: Request,
) -> (
    Pin<Box<impl Future<Output = (Result<Reply, GatewayError>, RecordGuard)> + Send + use<>>>,
    HeaderValue,
    Option<(
        std::time::Duration,
        tokio::sync::watch::Receiver<Option<String>>,
    )>,
) {
    let started = Instant::now();
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let (mut parts, body) = request.into_parts();
    own_head(&mut parts);
    let request_id = ulid::Ulid::new().to_string();
    let mut record = new_record(request_id.clone(), &parts.method, parts.uri.path(), client);
    record.client_request_id = client_request_id(&parts.headers);
    let mut guard = RecordGuard::new(gw.records.clone(), record, started);
    match gw.config.audit.record_bodies {
        warden_config::RecordBodies::Off => {}
        warden_config::RecordBodies::Metadata => guard.recording(false, 0),
        warden_config::RecordBodies::Full => {
            guard.recording(true, gw.config.audit.body_max_bytes);
        }
    }
    // Everything logged while handling this request carries its id.
    let span = tracing::info_span!("request", request_id = %request_id);
    let id_value = HeaderValue::from_str(&request_id).unwrap_or(HeaderValue::from_static("-"));
    // Only with approvals can a call be held: only then does the pipeline
    // get a channel to say so.
    let (held, watch) = match &gw.approvals {
        Some(a) => {
            let (held, held_rx) = tokio::sync::watch::channel(None);
            (Some(held), Some((a.config.keepalive, held_rx)))
        }
        None => (None, None),
    };
    let gw = Arc::clone(gw);
    let run = async move {
        let result = pipeline::run(&gw, &parts, body, &mut guard, held.as_ref()).await;
        (result, guard)
    }
    .instrument(span);
    // Boxed either way: one slot for the pipeline's state, not two.
    (Box::pin(run), id_value, watch)
}

/// Copies the request's path and header values out of the connection's
/// read buffer, into one allocation: hyper's are slices of that buffer,
/// and they would keep all of it (8 KiB or more) for as long as the call
/// runs, minutes for a held one, while hyper reads on into a second buffer.
/// (Header names are copies already.) A value or path that does not
/// survive the copy (never, as hyper has parsed them) keeps its slice.
fn own_head(parts: &mut http::request::Parts) {
    let path = match parts.uri.scheme() {
        None => parts.uri.path_and_query().map_or("", |p| p.as_str()),
        Some(_) => "",
    };
    let path_len = path.len();
    let values: usize = parts.headers.values().map(|v| v.len()).sum();
    let mut store = bytes::BytesMut::with_capacity(path_len + values);
    store.extend_from_slice(path.as_bytes());
    for value in parts.headers.values() {
        store.extend_from_slice(value.as_bytes());
    }
    let store = store.freeze();
    if path_len > 0
        && let Ok(uri) = http::Uri::from_maybe_shared(store.slice(..path_len))
    {
        parts.uri = uri;
    }
    let mut at = path_len;
    let mut headers = http::HeaderMap::with_capacity(parts.headers.len());
    for (name, value) in &parts.headers {
        let copy = store.slice(at..at + value.len());
        at += value.len();
        let owned = match HeaderValue::from_maybe_shared(copy) {
            Ok(mut v) => {
                v.set_sensitive(value.is_sensitive());
                v
            }
            Err(_) => value.clone(),
        };
        headers.append(name.clone(), owned);
    }
    parts.headers = headers;
}

/// The caller's response to the pipeline's outcome. A forwarded call's
/// head is answered at once; a local answer or a refusal first waits for
/// its record's commit, in a future of its own: every request's state (a
/// held call's too) would otherwise carry room for those waits.
fn respond(
    gw: &Arc<Gateway>,
    result: Result<Reply, GatewayError>,
    guard: RecordGuard,
    id_value: HeaderValue,
) -> Answer {
    match result {
        Ok(Reply::Forwarded(forwarded)) => {
            let mut builder = Response::builder().status(forwarded.response.status().as_u16());
            if let Some(headers) = builder.headers_mut() {
                for (name, value) in forwarded.response.headers() {
                    if !dropped_response_header(name) {
                        headers.append(name, value.clone());
                    }
                }
                if let Some(t) = &forwarded.ticket {
                    rate_headers::apply(headers, t.headers());
                }
                headers.insert(REQUEST_ID, id_value);
            }
            Answer::Now(
                builder
                    .body(Body::from_stream(forwarded.relay(gw, guard)))
                    .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()),
            )
        }
        Ok(Reply::Local(response)) => {
            let gw = Arc::clone(gw);
            Answer::Later(Box::pin(async move {
                let mut response = local(&gw, response, guard).await;
                response.headers_mut().insert(REQUEST_ID, id_value);
                response
            }))
        }
        Err(error) => {
            let gw = Arc::clone(gw);
            Answer::Later(Box::pin(async move {
                error_response(refused(&gw, error, guard).await, id_value)
            }))
        }
    }
}

/// A response, now or once its record is committed.
enum Answer {
    Now(Response),
    Later(Pin<Box<dyn Future<Output = Response> + Send>>),
}

/// A local answer, once its record is committed; 503 `audit_unavailable`
/// if it cannot be.
pub(crate) async fn local(gw: &Gateway, response: Response, mut guard: RecordGuard) -> Response {
    let commit = guard.finish(Outcome::Completed, None);
    match committed(commit, gw.config.audit.commit_timeout).await {
        Ok(()) => response,
        Err(error) => error.into_response(),
    }
}

/// Records a refusal and waits for its commit; the error to show (the
/// refusal, or `audit_unavailable` if it could not be recorded).
pub(crate) async fn refused(gw: &Gateway, error: GatewayError, guard: RecordGuard) -> GatewayError {
    let commit = refuse(&error, guard);
    match committed(commit, gw.config.audit.commit_timeout).await {
        Ok(()) => error,
        Err(audit) => audit,
    }
}

/// Waits until the request's record is committed before its response goes
/// out (with durability on). If the trail cannot take it in time the caller
/// is refused instead: no answer leaves Warden unrecorded.
pub(crate) async fn committed(
    commit: Option<records::Committed>,
    timeout: std::time::Duration,
) -> Result<(), GatewayError> {
    let Some(commit) = commit else {
        return Ok(());
    };
    match tokio::time::timeout(timeout, commit).await {
        Ok(Ok(())) => Ok(()),
        _ => {
            tracing::error!("audit record not committed in time; refusing the response");
            Err(GatewayError::AuditUnavailable)
        }
    }
}

fn error_response(error: GatewayError, id_value: HeaderValue) -> Response {
    let mut response = error.into_response();
    response.headers_mut().insert(REQUEST_ID, id_value.clone());
    response.headers_mut().insert(X_REQUEST_ID, id_value);
    response
}

/// Records the refusal; the returned commit must resolve before it is sent.
fn refuse(error: &GatewayError, mut guard: RecordGuard) -> Option<records::Committed> {
    let outcome = match error {
        GatewayError::UpstreamUnreachable(_)
        | GatewayError::UpstreamTimeout(_)
        | GatewayError::UpstreamUnconfigured(_)
        | GatewayError::ListingFailed => Outcome::UpstreamFailed,
        _ => Outcome::Refused,
    };
    guard.refused(
        error.status().as_u16(),
        error.code(),
        outcome,
        error.stage(),
    );
    guard.finish(outcome, None)
}

/// Serves the API on `listener` and, with `[admin] listen`, the admin API
/// on `admin`, until `shutdown` resolves; then both drain in-flight
/// requests. If either server stops on its own, the other is stopped too,
/// so a caller never runs half a gateway.
pub async fn serve(
    listener: tokio::net::TcpListener,
    admin: Option<tokio::net::TcpListener>,
    gw: Arc<Gateway>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let stop = tokio_util::sync::CancellationToken::new();
    let header_timeout = gw.config.server.header_timeout;
    let one = |app: Router, listener: tokio::net::TcpListener| {
        let stop = stop.clone();
        async move {
            let served = server::serve(listener, app, stop.clone(), header_timeout).await;
            stop.cancel();
            served
        }
    };
    let main = one(gw.router(), listener);
    let admin = async {
        match admin {
            Some(listener) => one(admin::app(&gw), listener).await,
            None => Ok(()),
        }
    };
    let signal = async {
        tokio::select! {
            () = shutdown => stop.cancel(),
            () = stop.cancelled() => {}
        }
    };
    let ((), main, admin) = tokio::join!(signal, main, admin);
    main.and(admin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_config_loaded_without_its_secrets_never_serves() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = "[[connection]]\nname = \"x\"\nbase_url = \"http://127.0.0.1:1/v1\"\napi_key_env = \"UNSET\"\nmodels = [\"*\"]\n";
        let config = warden_config::from_toml_with_mode(
            text,
            warden_config::Source::File(dir.path().join("t.toml")),
            &|_| None,
            warden_config::SecretMode::Lenient,
        )
        .expect("a lenient load");
        let store = warden_store::SqliteStore::open(&dir.path().join("w.db"))
            .await
            .expect("store");
        match Gateway::new(Arc::new(config), Arc::new(store)).await {
            Err(e @ BuildError::MissingSecrets(_)) => {
                assert!(e.to_string().contains("connection[0].api_key_env"), "{e}");
            }
            other => panic!("expected MissingSecrets, got {:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn the_head_copied_out_of_the_read_buffer_is_the_same_head() {
        const TARGET: &str = "/v1/chat/completions?x=1&y=%20z";
        let buffer = bytes::Bytes::from(format!("{TARGET}Bearer wdn_abc"));
        let n = TARGET.len();
        let request = http::Request::builder()
            .method("POST")
            .uri(http::Uri::from_maybe_shared(buffer.slice(..n)).expect("uri"))
            .header("authorization", {
                let mut v = HeaderValue::from_maybe_shared(buffer.slice(n..)).expect("value");
                v.set_sensitive(true);
                v
            })
            .header("x-dup", "one")
            .header("content-type", "application/json")
            .header("x-dup", "two")
            .body(())
            .expect("request");
        let (mut parts, ()) = request.into_parts();
        let before = parts.clone();
        own_head(&mut parts);
        assert_eq!(parts.uri, before.uri);
        assert_eq!(parts.uri.query(), Some("x=1&y=%20z"));
        assert_eq!(parts.method, before.method);
        let pairs = |h: &http::HeaderMap| {
            h.iter()
                .map(|(n, v)| (n.clone(), v.clone(), v.is_sensitive()))
                .collect::<Vec<_>>()
        };
        assert_eq!(pairs(&parts.headers), pairs(&before.headers));
        assert!(parts.headers["authorization"].is_sensitive());
        let dups: Vec<_> = parts.headers.get_all("x-dup").iter().collect();
        assert_eq!(dups, ["one", "two"]);
        // Nothing copied still points into the original buffer.
        let range = buffer.as_ptr_range();
        let inside = |p: *const u8| range.contains(&p);
        assert!(!inside(parts.uri.path().as_ptr()));
        assert!(
            parts
                .headers
                .values()
                .all(|v| !inside(v.as_bytes().as_ptr()))
        );
        // An absolute-form target is left as it was.
        let mut absolute = http::Request::get("http://example.com/v1/models")
            .body(())
            .expect("request")
            .into_parts()
            .0;
        own_head(&mut absolute);
        assert_eq!(absolute.uri, "http://example.com/v1/models");
    }
}
