//! The request pipeline, in the order it runs. Each `?` is a refusal that
//! becomes an OpenAI-style error (see `error.rs`) and is recorded by the
//! request's [`RecordGuard`].
//!
//! ```text
//! route -> authenticate -> read body -> resolve -> authorize -> inspect -> limits -> forward
//!  404        401/503       413/415/400   400/404      403     mask / 400    429     502/504
//! ```

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, header};
use http_body_util::{BodyExt as _, Limited};
use warden_config::Price;
use warden_core::{EndpointKind, Principal};
use warden_limits::{LimitRequest, Ticket};
use warden_policy::{Obligations, PolicyRequest, Resource};

use crate::Gateway;
use crate::approvals;
use crate::error::GatewayError;
use crate::exchange::RecordGuard;
use crate::inspect;
use crate::models;
use crate::owners::{self, ObjectKind};
use crate::probe::{self, Probe};
use crate::routes::{self, BodyMode, ModelFrom, Route};
use crate::traces;
use crate::upstream::Upstream;

/// A forwarded call: the upstream's response head, and what relaying its
/// body needs.
#[derive(Debug)]
pub struct Forwarded {
    pub response: reqwest::Response,
    pub idle: std::time::Duration,
    /// The limits reservation, settled when the body ends.
    pub ticket: Option<Ticket>,
    /// The model's price, to record what the call cost.
    pub price: Option<Price>,
    /// Restores pseudonyms and masks the model's output, when needed.
    pub answer: Option<warden_pii::stream::Answer>,
    /// For a call that creates a stored object: its creator, session and
    /// kind.
    pub owner: Option<(warden_store::Owner, Option<String>, ObjectKind)>,
    /// Warden asked for the stream's usage chunk; the caller did not.
    pub strip_usage: bool,
    /// The answer is a stored file's content (read as text to mask it).
    pub file_content: bool,
    /// Its owner reads a batch: its output and error files become theirs.
    pub batch_owner: Option<warden_store::Owner>,
}

impl Forwarded {
    /// The body's relay, which writes the record (`guard`) when it ends.
    pub fn relay(self, gw: &Gateway, guard: RecordGuard) -> crate::relay::Relay {
        crate::relay::Relay::new(self.response, self.idle, guard, self.ticket, self.price)
            .committing(gw.config.audit.commit_timeout)
            .file_content(self.file_content)
            .batch_files(
                self.batch_owner
                    .map(|o| (std::sync::Arc::clone(&gw.owners), o)),
            )
            .answering(self.answer)
            .stripping_usage(self.strip_usage)
            .owning(
                self.owner
                    .map(|(o, s, k)| (std::sync::Arc::clone(&gw.owners), (o, s), k)),
            )
    }
}

/// How a request that passed every stage is answered.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "one per request, moved once; boxing would add an allocation on the hot path"
)]
pub enum Reply {
    /// Forwarded: the upstream's response head; the body is relayed after.
    Forwarded(Forwarded),
    /// Answered by Warden itself (model listing).
    Local(Response),
}

/// The request body, read as far as its route needs.
enum ReadBody {
    Empty,
    Json(Bytes, Probe),
    Multipart(Bytes, Option<String>),
    Stream(Body, Option<u64>),
    /// A file upload read whole, checked and masked (`uploads.rs`).
    Inspected(Bytes),
}

pub async fn run(
    gw: &Gateway,
    parts: &Parts,
    body: Body,
    guard: &mut RecordGuard,
    held: Option<&tokio::sync::watch::Sender<Option<String>>>,
) -> Result<Reply, GatewayError> {
    let (sub_path, route) = route(parts)?;
    guard.set_endpoint(route.kind.as_str());
    guard.entering("authenticate");
    let principal = gw.identity.authenticate(&parts.headers).await?;
    guard.entering("read_body");
    guard.set_principal(&principal);
    let mut session = session_header(&parts.headers)?;
    // A stored object is its creator's alone (or an objects admin's).
    let access = owners::access(&parts.method, sub_path);
    let admin = owners::sees_all(gw, &principal);
    if let Some((kind, id)) = access.item {
        if admin {
            guard.add_policy(OBJECTS_ADMIN);
        } else {
            let chain = owners::check(gw, &principal, kind, id).await?;
            if kind == ObjectKind::Response {
                session = session.or(chain);
            }
        }
    }
    if route.local {
        return models::serve(gw, &principal, sub_path, guard)
            .await
            .map(Reply::Local);
    }
    let mut body = read_body(gw, route, parts, body).await?;
    let (upstream, model) = resolve(gw, route, &body)?;
    guard.set_connection(upstream.name());
    let probe = match &body {
        ReadBody::Json(_, p) => Some(p),
        _ => None,
    };
    if let Some(m) = &model {
        guard.set_model(m, probe.is_some_and(|p| p.stream));
    }
    let obligations = authorize(
        gw,
        &principal,
        route,
        upstream,
        model.as_deref(),
        probe,
        guard,
    )?;
    let body_probe = match &body {
        ReadBody::Json(_, p) => Some(p.clone()),
        _ => None,
    };
    // Continuing a response is reading it; the call joins its session (the
    // chain's first response, when the caller names none).
    if let Some(previous) = body_probe
        .as_ref()
        .and_then(|p| p.previous_response_id.as_deref())
    {
        let chain = owners::check(gw, &principal, ObjectKind::Response, previous).await?;
        session = session.or(chain).or_else(|| Some(previous.to_owned()));
    }
    // Objects the body names (a batch's input file, files for a vector
    // store, input files, file_search stores) must be the caller's too.
    if let ReadBody::Json(bytes, _) = &body {
        let named = owners::referenced(bytes);
        if admin && !named.is_empty() {
            guard.add_policy(OBJECTS_ADMIN);
        } else {
            for (kind, id) in &named {
                owners::check(gw, &principal, *kind, id).await?;
            }
        }
    }
    // A call in a conversation joins the conversation's session.
    if let Some(conversation) = body_probe.as_ref().and_then(|p| p.conversation.as_deref())
        && session.is_none()
        && valid_session(conversation)
    {
        session = Some(conversation.to_owned());
    }
    if let Some(s) = &session {
        guard.set_session(s.clone());
    }
    if route.kind == EndpointKind::Traces {
        let ReadBody::Json(bytes, _) = &body else {
            return Err(GatewayError::BadTraceBatch("the body must be JSON".into()));
        };
        return traces::ingest(gw, &principal, &obligations, bytes, session, guard)
            .await
            .map(Reply::Local);
    }
    let creates = access.creates_with(body_probe.as_ref().is_some_and(|p| p.store));
    // A batch runs what its input file says: each line is checked as the
    // call it describes.
    let mut batch_lines = Vec::new();
    if creates == Some(ObjectKind::Batch)
        && let ReadBody::Json(bytes, _) = &body
    {
        guard.entering("inspect");
        batch_lines =
            Box::pin(crate::batches::check_input(gw, &principal, upstream, bytes)).await?;
    }
    // A file upload by a caller masking or a text rule applies to is read,
    // checked and masked before it goes on.
    if parts.method == http::Method::POST
        && sub_path == "/files"
        && matches!(body, ReadBody::Stream(..))
        && crate::uploads::must_read(gw, &principal, &obligations)
        && let ReadBody::Stream(stream, _) = std::mem::replace(&mut body, ReadBody::Empty)
    {
        let boundary = content_type(&parts.headers)
            .and_then(|c| multer::parse_boundary(c).ok())
            .ok_or(GatewayError::UnsupportedMediaType {
                expected: "multipart/form-data",
            })?;
        let server = &gw.config.server;
        let bytes = collect(
            stream,
            &parts.headers,
            server.max_upload_bytes,
            server.body_timeout,
        )
        .await?;
        guard.entering("inspect");
        let form = Box::pin(crate::uploads::inspect_upload(
            gw,
            &principal,
            &obligations,
            bytes,
            boundary,
            guard,
        ))
        .await?;
        body = ReadBody::Inspected(form);
    }
    let view = match &mut body {
        ReadBody::Empty | ReadBody::Inspected(_) => inspect::Body::None,
        ReadBody::Json(bytes, _) => inspect::Body::Json(bytes),
        ReadBody::Multipart(..) | ReadBody::Stream(..) => inspect::Body::Opaque,
    };
    let asked = match &body_probe {
        Some(p) => inspect::Asked {
            tools: &p.tools,
            max_tokens: p.max_tokens,
            states_max_tokens: p.states_max_tokens,
            choices: p.choices,
        },
        None => inspect::Asked::NOTHING,
    };
    let choices = asked.choices;
    guard.entering("inspect");
    let inspected =
        inspect::apply(gw, &principal, &obligations, route.kind, asked, view, guard).await?;
    let answer = inspected.answer;
    // The cap in the body now (the request's, or the one a rule set), per
    // choice: what limits and approvals estimate with.
    let max_output = inspected.max_tokens;
    // A streamed chat call reports usage only when asked: Warden asks, so
    // limits and the record get real usage, and the relay removes the
    // chunk from what a caller that did not ask receives.
    let mut strip_usage = false;
    if route.kind == EndpointKind::ChatCompletions
        && let ReadBody::Json(bytes, p) = &mut body
        && p.stream
        && !p.include_usage
    {
        *bytes = inspect::ask_for_usage(bytes, p.has_stream_options)?;
        strip_usage = true;
    }
    let json = match &body {
        ReadBody::Json(bytes, _) => {
            guard.record_request(bytes);
            Some(bytes.clone())
        }
        _ => None,
    };
    // Stage 5b: a human's approval, when policy asks for one.
    if gw.approvals.is_some() {
        guard.entering("approve");
        let call = approvals::Call {
            headers: &parts.headers,
            method: parts.method.as_str(),
            path: parts.uri.path(),
            principal: &principal,
            obligations: &obligations,
            endpoint: route.kind,
            model: model.as_deref(),
            connection: upstream.name(),
            stream: body_probe.as_ref().is_some_and(|p| p.stream),
            tools: body_probe
                .as_ref()
                .map_or(&[], |p| p.tools.names.as_slice()),
            max_output_tokens: max_output.map(|m| m.saturating_mul(choices)),
            body: json.as_ref(),
            session: session.as_deref(),
        };
        approvals::gate(gw, call, guard, held).await?;
    }
    guard.entering("limits");
    let mut ticket = admit(
        gw,
        &principal,
        route,
        model.as_deref(),
        json.as_deref(),
        (max_output, choices),
    )
    .await?;
    let price = model
        .as_deref()
        .and_then(|m| warden_limits::estimate::price_of(&gw.config.prices, m));
    let path_and_query = match parts.uri.query() {
        Some(q) => format!("{sub_path}?{q}"),
        None => sub_path.to_owned(),
    };
    let (method, headers) = (parts.method.clone(), &parts.headers);
    guard.entering("forward");
    let limit = gw.config.server.max_upload_bytes;
    let (response, latency) = match body {
        ReadBody::Empty => {
            upstream
                .send(
                    method,
                    &path_and_query,
                    headers,
                    None,
                    reqwest::Body::from(Bytes::new()),
                    limit,
                )
                .await?
        }
        ReadBody::Json(bytes, _) | ReadBody::Multipart(bytes, _) | ReadBody::Inspected(bytes) => {
            let len = bytes.len() as u64;
            upstream
                .send(
                    method,
                    &path_and_query,
                    headers,
                    Some(len),
                    reqwest::Body::from(bytes),
                    limit,
                )
                .await?
        }
        ReadBody::Stream(body, len) => {
            let stream =
                Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX)).into_data_stream();
            upstream
                .send(
                    method,
                    &path_and_query,
                    headers,
                    len,
                    reqwest::Body::wrap_stream(stream),
                    limit,
                )
                .await?
        }
    };
    // From here the upstream may have done work: a call that ends without
    // usage keeps its estimate. An error status costs nothing.
    let served = !(response.status().is_client_error() || response.status().is_server_error());
    if served {
        if let Some(t) = ticket.as_mut() {
            t.answered();
        }
        // The batch exists: its lines' reservations stay (else, dropped
        // unanswered, they are given back).
        batch_lines.iter_mut().for_each(Ticket::answered);
    }
    drop(batch_lines);
    guard.upstream_answered(
        response.status().as_u16(),
        u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
    );
    // A list shows only the caller's own objects.
    if access.lists.is_some() && !admin && response.status().is_success() {
        return owners::own_list(gw, &principal, response)
            .await
            .map(Reply::Local);
    }
    if access.lists.is_some() && admin {
        guard.add_policy(OBJECTS_ADMIN);
    }
    Ok(Reply::Forwarded(Forwarded {
        response,
        idle: upstream.config.idle_timeout,
        ticket,
        price,
        answer,
        owner: creates.map(|kind| (owners::owner_of(&principal), session, kind)),
        strip_usage,
        file_content: parts.method == http::Method::GET
            && sub_path.starts_with("/files/")
            && sub_path.ends_with("/content"),
        batch_owner: (parts.method == http::Method::GET
            && !admin
            && access
                .item
                .is_some_and(|(kind, _)| kind == ObjectKind::Batch))
        .then(|| owners::owner_of(&principal)),
    }))
}

/// Marks a record whose call used another caller's object by
/// `[objects] admin_groups`.
const OBJECTS_ADMIN: &str = "objects.admin";

/// Stage 6: rate limits, token limits, concurrency and spend budgets.
async fn admit(
    gw: &Gateway,
    principal: &Principal,
    route: Route,
    model: Option<&str>,
    json: Option<&[u8]>,
    (max_output_tokens, choices): (Option<u64>, u64),
) -> Result<Option<Ticket>, GatewayError> {
    let Some(limiter) = &gw.limits else {
        return Ok(None);
    };
    let ticket = limiter
        .admit(&LimitRequest {
            principal,
            model,
            body: json,
            max_output_tokens,
            choices,
            generates: !matches!(
                route.kind,
                EndpointKind::Embeddings | EndpointKind::Moderations
            ),
            spend_only: false,
        })
        .await?;
    Ok(Some(ticket))
}

/// Stage 1: is this an endpoint Warden serves? Returns the path below `/v1`.
fn route(parts: &Parts) -> Result<(&str, Route), GatewayError> {
    let path = parts.uri.path();
    let unknown = || GatewayError::UnknownEndpoint {
        method: parts.method.to_string(),
        path: path.chars().take(200).collect(),
    };
    let sub = path
        .strip_prefix("/v1")
        .filter(|s| s.starts_with('/'))
        .ok_or_else(unknown)?;
    let route = routes::classify(&parts.method, sub).ok_or_else(unknown)?;
    Ok((sub, route))
}

/// The caller's `X-Warden-Session`, if it is one: 1-128 visible ASCII
/// characters. Anything else is refused, not silently dropped.
pub fn session_header(headers: &HeaderMap) -> Result<Option<String>, GatewayError> {
    let Some(v) = headers.get("x-warden-session") else {
        return Ok(None);
    };
    let s = v.to_str().map_err(|_| GatewayError::BadSession)?.trim();
    if !valid_session(s) {
        return Err(GatewayError::BadSession);
    }
    Ok(Some(s.to_owned()))
}

/// A session id Warden files calls under: 1-128 visible ASCII characters.
fn valid_session(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic())
}

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// Reads the whole body into a buffer of its own, refusing it past `limit`
/// (early if declared). Of its own: hyper's chunks are slices of the
/// connection's read buffer, and a slice kept for the call's life keeps
/// that whole buffer (8 KiB or more) for minutes when the call is held.
///
/// The whole read must finish within `[server] body_timeout`: a client that
/// trickles a body (or stops half way) is answered 408, not waited on.
async fn collect(
    body: Body,
    headers: &HeaderMap,
    limit: u64,
    within: std::time::Duration,
) -> Result<Bytes, GatewayError> {
    /// What a declared length may reserve before any byte arrives.
    const RESERVE_MAX: u64 = 64 * 1024;
    let declared = declared_length(headers);
    if declared.is_some_and(|n| n > limit) {
        return Err(GatewayError::BodyTooLarge { limit });
    }
    let reserve = usize::try_from(declared.unwrap_or(0).min(RESERVE_MAX)).unwrap_or(0);
    let mut buf = bytes::BytesMut::with_capacity(reserve);
    let mut body = Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX));
    let deadline = tokio::time::Instant::now() + within;
    while let Some(frame) = tokio::time::timeout_at(deadline, body.frame())
        .await
        .map_err(|_| GatewayError::BodyTimeout(within))?
    {
        let frame = frame.map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                GatewayError::BodyTooLarge { limit }
            } else {
                GatewayError::BodyRead
            }
        })?;
        if let Some(data) = frame.data_ref() {
            buf.extend_from_slice(data);
        }
    }
    Ok(buf.freeze())
}

/// Stage 3: read the body as the route needs it.
async fn read_body(
    gw: &Gateway,
    route: Route,
    parts: &Parts,
    body: Body,
) -> Result<ReadBody, GatewayError> {
    let server = &gw.config.server;
    let ct = content_type(&parts.headers).map(str::to_ascii_lowercase);
    match route.body {
        BodyMode::None => Ok(ReadBody::Empty),
        BodyMode::Json => {
            let bytes = collect(
                body,
                &parts.headers,
                server.max_body_bytes,
                server.body_timeout,
            )
            .await?;
            if bytes.is_empty() && route.model == ModelFrom::None {
                return Ok(ReadBody::Empty); // e.g. POST .../cancel without a body
            }
            if !ct
                .as_deref()
                .is_some_and(|c| c.starts_with("application/json"))
            {
                return Err(GatewayError::UnsupportedMediaType {
                    expected: "application/json",
                });
            }
            let probe = probe::probe(&bytes, server.max_json_depth)?;
            Ok(ReadBody::Json(bytes, probe))
        }
        BodyMode::MultipartModel => {
            let boundary = ct
                .as_deref()
                .and_then(|c| multer::parse_boundary(c).ok())
                .ok_or(GatewayError::UnsupportedMediaType {
                    expected: "multipart/form-data",
                })?;
            let bytes = collect(
                body,
                &parts.headers,
                server.max_upload_bytes,
                server.body_timeout,
            )
            .await?;
            // Boxed: the form parser's state is large, and every request's
            // future would otherwise carry room for it.
            let model = Box::pin(multipart_model(bytes.clone(), boundary)).await?;
            Ok(ReadBody::Multipart(bytes, model))
        }
        BodyMode::Stream => {
            let limit = server.max_upload_bytes;
            let len = declared_length(&parts.headers);
            if len.is_some_and(|n| n > limit) {
                return Err(GatewayError::BodyTooLarge { limit });
            }
            Ok(ReadBody::Stream(body, len))
        }
    }
}

/// The `model` field of a multipart form, if it has one.
async fn multipart_model(bytes: Bytes, boundary: String) -> Result<Option<String>, GatewayError> {
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(bytes) });
    let mut form = multer::Multipart::new(stream, boundary);
    let bad = |_| {
        GatewayError::BadBody(probe::ProbeError::Invalid(
            "malformed multipart body".into(),
        ))
    };
    while let Some(field) = form.next_field().await.map_err(bad)? {
        if field.name() == Some("model") {
            return Ok(Some(field.text().await.map_err(bad)?));
        }
    }
    Ok(None)
}

/// Stage 4: which model, and which connection serves it.
fn resolve<'g>(
    gw: &'g Gateway,
    route: Route,
    body: &ReadBody,
) -> Result<(&'g Upstream, Option<String>), GatewayError> {
    match route.model {
        ModelFrom::None => {
            let upstream = gw
                .upstreams
                .default_upstream()
                .ok_or(GatewayError::ListingFailed)?;
            Ok((upstream, None))
        }
        ModelFrom::Body { default } => {
            let given = match body {
                ReadBody::Json(_, p) => p.model.clone(),
                ReadBody::Multipart(_, m) => m.clone(),
                ReadBody::Empty | ReadBody::Stream(..) | ReadBody::Inspected(_) => None,
            };
            let model = given
                .or_else(|| default.map(str::to_owned))
                .ok_or(probe::ProbeError::MissingModel)?;
            let upstream = gw
                .upstreams
                .for_model(&model)
                .ok_or_else(|| GatewayError::ModelNotFound(model.chars().take(200).collect()))?;
            Ok((upstream, Some(model)))
        }
    }
}

/// Stage 5: may this principal do this?
fn authorize(
    gw: &Gateway,
    principal: &Principal,
    route: Route,
    upstream: &Upstream,
    model: Option<&str>,
    probe: Option<&Probe>,
    guard: &mut RecordGuard,
) -> Result<Obligations, GatewayError> {
    let resource = match model {
        Some(name) => Resource::Model {
            connection: upstream.name(),
            name,
        },
        None => Resource::Connection(upstream.name()),
    };
    let mcp_servers: Vec<String> = probe.map_or_else(Vec::new, |p| p.tools.mcp_ids().collect());
    let verdict = gw.policy.authorize(&PolicyRequest {
        principal,
        endpoint: route.kind,
        resource,
        stream: probe.is_some_and(|p| p.stream),
        tools: probe.map_or(&[], |p| p.tools.names.as_slice()),
        mcp_servers: &mcp_servers,
        max_tokens: probe.and_then(Probe::output_tokens),
    });
    guard.set_decision(verdict.allowed, verdict.policy_ids);
    match verdict.deny {
        None if verdict.allowed => Ok(verdict.obligations),
        reason => Err(GatewayError::Denied {
            reason: reason.unwrap_or(warden_policy::DenyReason::NotPermitted),
            model: model.map(str::to_owned),
        }),
    }
}
