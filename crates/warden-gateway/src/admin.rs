//! The admin API's read side: the audit trail as JSON (request records,
//! audit events, sessions, the chain's verification and head), for members
//! of `[admin] groups` only. Described by `admin_openapi.json`, served at
//! `/admin/v1/openapi.json`.
//!
//! Where: under `/admin/v1/` on the main listener, or on `[admin] listen`
//! alone (`crate::serve`). Without an `[admin]` section there are no admin routes
//! at all, so the paths fall through to the data path's 404: there is no
//! default admin group to get wrong.
//!
//! Every call is answered in the same order: authenticate exactly as the
//! data path does (401), require an admin group (403), read, then append an
//! `admin.read` audit event (refusals too, with the error code as its
//! status) and wait for its commit before answering. Reading the trail is
//! recorded in the trail; if the event cannot be committed in time the
//! caller gets 503 `audit_unavailable` instead of the data, as on the data
//! path. A caller who hangs up cancels the read (a verify stops too), but
//! its event is still written (status `client_gone`, see `EventGuard`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{ConnectInfo, Query, RawPathParams, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use http::request::Parts;
use http::{HeaderMap, Method, Uri, header};
use serde::Serialize;
use serde_json::json;
use tokio::sync::{Semaphore, SemaphorePermit};
use warden_core::{Actor, AuditEvent, RequestRecord};
use warden_store::chain::{Verdict, hex};
use warden_store::{EventFilter, RecordFilter, SessionRow, StoreError};

use crate::Gateway;
use crate::error::GatewayError;
use crate::records::EventGuard;

/// The OpenAPI 3.1 document: hand-written, checked against [`ROUTES`] by a
/// test.
const OPENAPI: &str = include_str!("admin_openapi.json");

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;
/// The most calls one session answer lists (its newest).
const SESSION_CALLS: u32 = 10_000;

/// What a route reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Read {
    Records,
    Events,
    Sessions,
    Session,
    Body,
    Verify,
    VerifyBodies,
    Head,
    OpenApi,
}

/// Every admin route (all `GET`). Anything else under `/admin/v1/` is a 404,
/// after the same authentication, group check and audit event.
const ROUTES: [(&str, Read); 9] = [
    ("/admin/v1/records", Read::Records),
    ("/admin/v1/records/{id}/body", Read::Body),
    ("/admin/v1/events", Read::Events),
    ("/admin/v1/sessions", Read::Sessions),
    ("/admin/v1/sessions/{id}", Read::Session),
    ("/admin/v1/audit/verify", Read::Verify),
    ("/admin/v1/audit/verify-bodies", Read::VerifyBodies),
    ("/admin/v1/audit/head", Read::Head),
    ("/admin/v1/openapi.json", Read::OpenApi),
];

#[derive(Debug)]
struct Admin {
    gw: Arc<Gateway>,
    /// `[admin] groups`, never empty.
    groups: Vec<String>,
    /// One permit: verifying reads the whole trail, so a second call made
    /// while one runs is refused (429) rather than queued behind it.
    verifying: Semaphore,
}

/// The admin routes, or none without an `[admin]` section (fail closed).
pub(crate) fn routes<S: Clone + Send + Sync + 'static>(gw: &Arc<Gateway>) -> Router<S> {
    let Some(config) = &gw.config.admin else {
        return Router::new();
    };
    let admin = Arc::new(Admin {
        gw: Arc::clone(gw),
        groups: config.groups.clone(),
        verifying: Semaphore::new(1),
    });
    let mut router = Router::new();
    for (path, read) in ROUTES {
        router = router.route(
            path,
            any(
                move |State(admin): State<Arc<Admin>>,
                      params: Result<RawPathParams, RawPathParamsRejection>,
                      request: Request| {
                    let id = params.ok().and_then(|p| {
                        p.iter()
                            .find(|(name, _)| *name == "id")
                            .map(|(_, value)| value.to_owned())
                    });
                    call(admin, Some((read, id)), request)
                },
            ),
        );
    }
    router
        .route(
            "/admin/v1/{*rest}",
            any(|State(admin): State<Arc<Admin>>, request: Request| call(admin, None, request)),
        )
        .with_state(admin)
}

/// The admin API alone, for its own listener: anything outside
/// `/admin/v1/` is a plain 404.
pub(crate) fn app(gw: &Arc<Gateway>) -> Router {
    routes(gw)
        .merge(crate::approvals::api::routes(gw))
        .fallback(|request: Request| async move {
            unknown(request.method(), request.uri()).into_response()
        })
}

fn unknown(method: &Method, uri: &Uri) -> GatewayError {
    GatewayError::UnknownEndpoint {
        method: method.to_string(),
        path: uri.path().chars().take(256).collect(),
    }
}

/// One admin call. `read`: the route and its `{id}`, `None` for an unknown
/// path.
async fn call(
    admin: Arc<Admin>,
    read: Option<(Read, Option<String>)>,
    request: Request,
) -> Response {
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let (parts, _body) = request.into_parts();
    admin.answer(read, &parts, client).await
}

/// Who called, as far as authentication got, and whether they may.
pub(crate) type Authorized = (Option<Actor>, Result<(), GatewayError>);

/// One audited call to the admin API (its reads, and the approvers'
/// reads): an `admin.read` event naming who (once authenticated), from
/// where, the path and query, written whatever happens (an `EventGuard`:
/// a caller who hangs up still leaves it) and committed before the answer
/// goes out (503 `audit_unavailable` if it cannot be). `answer` runs only
/// when `authorize` allowed the call.
pub(crate) async fn audited(
    gw: &Gateway,
    parts: &Parts,
    client: Option<SocketAddr>,
    authorize: impl Future<Output = Authorized> + Send,
    answer: impl Future<Output = Result<Response, GatewayError>> + Send,
) -> Response {
    let mut event = AuditEvent::new(
        "admin.read",
        Actor {
            client_addr: client.map(|a| a.to_string()),
            ..Actor::default()
        },
        Some(parts.uri.path().chars().take(512).collect()),
    );
    if let Some(query) = parts.uri.query() {
        event = event.with("query", query.chars().take(1024).collect::<String>());
    }
    if parts.method != Method::GET {
        event = event.with("method", parts.method.as_str());
    }
    let mut guard = EventGuard::new(gw.records.clone(), event);
    let (who, allowed) = authorize.await;
    if let (Some(who), Some(event)) = (who, guard.event()) {
        let client = event.actor.client_addr.take();
        event.actor = Actor {
            client_addr: client,
            ..who
        };
    }
    let result = match allowed {
        Ok(()) => answer.await,
        Err(refused) => Err(refused),
    };
    let status = result.as_ref().map_or_else(GatewayError::code, |_| "ok");
    let commit = guard.finish(status);
    if let Err(error) = crate::committed(commit, gw.config.audit.commit_timeout).await {
        return error.into_response();
    }
    result.unwrap_or_else(IntoResponse::into_response)
}

impl Admin {
    async fn answer(
        &self,
        read: Option<(Read, Option<String>)>,
        parts: &Parts,
        client: Option<SocketAddr>,
    ) -> Response {
        let answer = async {
            match read {
                Some((read, id)) if parts.method == Method::GET => {
                    self.read(read, id, &parts.uri).await
                }
                _ => Err(unknown(&parts.method, &parts.uri)),
            }
        };
        audited(
            &self.gw,
            parts,
            client,
            self.authorize(&parts.headers),
            answer,
        )
        .await
    }

    /// Who is calling, and whether they are an admin.
    async fn authorize(&self, headers: &HeaderMap) -> Authorized {
        match self.gw.identity.authenticate(headers).await {
            Err(e) => (None, Err(e.into())),
            Ok(p) => {
                let admin = p.groups.iter().any(|g| self.groups.contains(g));
                let allowed = if admin {
                    Ok(())
                } else {
                    Err(GatewayError::AdminForbidden)
                };
                (Some(Actor::of(&p)), allowed)
            }
        }
    }

    async fn read(
        &self,
        read: Read,
        id: Option<String>,
        uri: &Uri,
    ) -> Result<Response, GatewayError> {
        let store = &*self.gw.store;
        let body = match read {
            Read::Records => {
                let q = Params::parse(uri, &["subject", "session", "since_ms", "limit"])?;
                let filter = RecordFilter {
                    subject: q.text("subject")?,
                    session_id: q.text("session")?,
                    since_ms: q.since_ms()?,
                    limit: Some(q.limit()?),
                };
                let data = store.list_records(&filter).await.map_err(unavailable)?;
                json!({ "data": data })
            }
            Read::Events => {
                let q = Params::parse(
                    uri,
                    &["action_prefix", "session", "target", "since_ms", "limit"],
                )?;
                let filter = EventFilter {
                    action_prefix: q.text("action_prefix")?,
                    since_ms: q.since_ms()?,
                    session_id: q.text("session")?,
                    target: q.text("target")?,
                    limit: Some(q.limit()?),
                };
                let events = store.list_events(&filter).await.map_err(unavailable)?;
                let data: Vec<_> = events
                    .into_iter()
                    .map(|(seq, event)| json!({ "seq": seq, "event": event }))
                    .collect();
                json!({ "data": data })
            }
            Read::Sessions => {
                let q = Params::parse(uri, &["since_ms", "limit"])?;
                let (since_ms, limit) = (q.since_ms()?.unwrap_or(0), q.limit()?);
                let rows = store.sessions(since_ms).await.map_err(unavailable)?;
                let data: Vec<SessionRow> = rows
                    .into_iter()
                    .take(usize::try_from(limit).unwrap_or(usize::MAX))
                    .collect();
                json!({ "data": data })
            }
            Read::Session => {
                Params::parse(uri, &[])?;
                let id = id.ok_or_else(|| bad("id", "must be percent-encoded UTF-8"))?;
                json!(self.session(id).await?)
            }
            Read::Verify => {
                Params::parse(uri, &[])?;
                let _only = self.one_verify()?;
                match warden_store::trail::verify(store, None)
                    .await
                    .map_err(unavailable)?
                {
                    Verdict::Intact {
                        events,
                        unchained,
                        head,
                    } => json!({
                        "intact": true,
                        "events": events,
                        "unchained": unchained,
                        "head_seq": head.map(|(seq, _)| seq),
                        "head_hash": head.map(|(_, hash)| hex(&hash)),
                    }),
                    Verdict::Broken { seq, reason } => {
                        json!({ "intact": false, "seq": seq, "reason": reason })
                    }
                }
            }
            Read::Body => {
                Params::parse(uri, &[])?;
                let id = id.ok_or_else(|| bad("id", "must be percent-encoded UTF-8"))?;
                let body = self
                    .gw
                    .store
                    .body(&id)
                    .await
                    .map_err(unavailable)?
                    .ok_or_else(|| GatewayError::BodyNotFound(id.chars().take(128).collect()))?;
                json!(body)
            }
            Read::VerifyBodies => {
                Params::parse(uri, &[])?;
                let _only = self.one_verify()?;
                let verdict = warden_store::trail::verify_bodies(&*self.gw.store)
                    .await
                    .map_err(unavailable)?;
                json!({
                    "intact": verdict.problems.is_empty(),
                    "checked": verdict.checked,
                    "problems": verdict.problems,
                })
            }
            Read::Head => {
                Params::parse(uri, &[])?;
                let head = store.chain_head().await.map_err(unavailable)?;
                json!({
                    "seq": head.seq,
                    "hash": hex(&head.hash),
                    "tree_size": head.frontier.size(),
                    "root": hex(&head.frontier.root()),
                })
            }
            Read::OpenApi => {
                Params::parse(uri, &[])?;
                return Ok(([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response());
            }
        };
        Ok(axum::Json(body).into_response())
    }

    async fn session(&self, id: String) -> Result<SessionView, GatewayError> {
        let filter = RecordFilter {
            session_id: Some(id.clone()),
            limit: Some(SESSION_CALLS + 1),
            ..RecordFilter::default()
        };
        let store = &self.gw.store;
        let mut calls = store.list_records(&filter).await.map_err(unavailable)?;
        let mut events = store
            .list_events(&EventFilter {
                session_id: Some(id.clone()),
                limit: Some(SESSION_CALLS + 1),
                ..EventFilter::default()
            })
            .await
            .map_err(unavailable)?;
        if calls.is_empty() && events.is_empty() {
            return Err(GatewayError::SessionNotFound(
                id.chars().take(128).collect(),
            ));
        }
        let truncated =
            calls.len() > SESSION_CALLS as usize || events.len() > SESSION_CALLS as usize;
        calls.truncate(SESSION_CALLS as usize);
        calls.reverse();
        events.truncate(SESSION_CALLS as usize);
        events.reverse();
        let events = events
            .into_iter()
            .map(|(seq, event)| SeqEvent { seq, event })
            .collect();
        Ok(SessionView {
            id,
            calls,
            events,
            truncated,
        })
    }

    /// The verification slot, held until the returned permit drops.
    fn one_verify(&self) -> Result<SemaphorePermit<'_>, GatewayError> {
        self.verifying
            .try_acquire()
            .map_err(|_| GatewayError::VerifyInProgress)
    }
}

/// The store's error is logged, not shown.
fn unavailable(error: StoreError) -> GatewayError {
    tracing::error!(%error, "admin API: the store could not answer");
    GatewayError::StoreUnavailable
}

/// One session: its calls and its events (agent trace spans), each oldest
/// first.
#[derive(Debug, Serialize)]
struct SessionView {
    id: String,
    calls: Vec<RequestRecord>,
    events: Vec<SeqEvent>,
    /// The session has more than [`SESSION_CALLS`] calls or events: only
    /// the newest are listed.
    truncated: bool,
}

/// An audit event with its place in the trail.
#[derive(Debug, Serialize)]
struct SeqEvent {
    seq: i64,
    event: AuditEvent,
}

fn bad(param: &str, reason: impl Into<String>) -> GatewayError {
    GatewayError::BadQuery {
        param: param.chars().take(64).collect(),
        reason: reason.into(),
    }
}

/// A query string checked against the parameters an endpoint takes: an
/// unknown or repeated parameter is refused, not ignored, so a typo
/// (`subjet=`) cannot silently widen what is read.
#[derive(Debug)]
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(uri: &Uri, takes: &[&str]) -> Result<Params, GatewayError> {
        let Ok(Query(pairs)) = Query::<Vec<(String, String)>>::try_from_uri(uri) else {
            return Err(bad("query", "is not a valid query string"));
        };
        for (i, (name, _)) in pairs.iter().enumerate() {
            if !takes.contains(&name.as_str()) {
                let takes = if takes.is_empty() {
                    "none".to_owned()
                } else {
                    takes.join(", ")
                };
                return Err(bad(
                    name,
                    format!("is not known here (this endpoint takes: {takes})"),
                ));
            }
            if pairs[..i].iter().any(|(earlier, _)| earlier == name) {
                return Err(bad(name, "is given more than once"));
            }
        }
        Ok(Params(pairs))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self, name: &str) -> Result<Option<String>, GatewayError> {
        match self.get(name) {
            None => Ok(None),
            Some("") => Err(bad(name, "must not be empty")),
            Some(v) if v.len() > 512 => Err(bad(name, "is longer than 512 bytes")),
            Some(v) => Ok(Some(v.to_owned())),
        }
    }

    fn since_ms(&self) -> Result<Option<i64>, GatewayError> {
        self.get("since_ms")
            .map(|v| {
                v.parse::<i64>().ok().filter(|ms| *ms >= 0).ok_or_else(|| {
                    bad(
                        "since_ms",
                        "must be a Unix time in milliseconds (an integer, 0 or more)",
                    )
                })
            })
            .transpose()
    }

    fn limit(&self) -> Result<u32, GatewayError> {
        let Some(v) = self.get("limit") else {
            return Ok(DEFAULT_LIMIT);
        };
        v.parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| bad("limit", format!("must be an integer from 1 to {MAX_LIMIT}")))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use http::StatusCode;

    use super::*;

    #[test]
    fn the_openapi_document_lists_every_route_and_only_those() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("valid JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().expect("paths");
        let documented: BTreeSet<&str> = paths.keys().map(String::as_str).collect();
        let approvals = crate::approvals::api::PATHS;
        let served: BTreeSet<&str> = ROUTES
            .iter()
            .map(|(p, _)| *p)
            .chain(approvals.iter().map(|(p, _)| *p))
            .collect();
        assert_eq!(documented, served);
        for (path, item) in paths {
            let ops: Vec<&String> = item.as_object().expect("path item").keys().collect();
            // The admin API only reads; approvers also decide.
            let method = approvals
                .iter()
                .find(|(p, _)| p == path)
                .map_or("get", |(_, m)| *m);
            assert_eq!(ops, [method], "{path}");
        }
    }

    /// The schemas name exactly the fields the API serializes: a field added
    /// to a record or a session summary must be documented.
    #[test]
    fn the_openapi_schemas_match_what_is_served() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("valid JSON");
        let documented = |schema: &str| -> BTreeSet<String> {
            doc["components"]["schemas"][schema]["properties"]
                .as_object()
                .unwrap_or_else(|| panic!("schema {schema}"))
                .keys()
                .cloned()
                .collect()
        };
        let keys = |v: serde_json::Value| -> BTreeSet<String> {
            v.as_object().expect("object").keys().cloned().collect()
        };
        // Every optional field set, so none is skipped.
        let mut record = crate::new_record("r".into(), &Method::POST, "/v1/x", None);
        record.principal_kind = Some(warden_core::PrincipalKind::User);
        record.subject = Some("s".into());
        record.issuer = Some("i".into());
        record.key_id = Some("k".into());
        record.client_addr = Some("c".into());
        record.model = Some("m".into());
        record.connection = Some("c".into());
        record.reason = Some("r".into());
        record.upstream_latency_us = Some(1);
        record.usage = Some(warden_core::Usage::default());
        record.cost_usd_micros = Some(1);
        record.response_id = Some("resp".into());
        record.session_id = Some("s".into());
        record.ttft_us = Some(1);
        record.chunks = Some(1);
        record.body_sha256 = Some("ab".into());
        record.policy_decision = Some(warden_core::Decision::Allow);
        record.stage = Some("limits".into());
        record.client_request_id = Some("mine".into());
        assert_eq!(keys(json!(record)), documented("RequestRecord"));
        let body = warden_store::bodies::CallBody::default();
        assert_eq!(keys(json!(body)), documented("CallBody"));
        let approval = warden_core::approval::Approval {
            id: "a".into(),
            created_ms: 0,
            expires_ms: 0,
            state: warden_core::approval::ApprovalState::Pending,
            mode: warden_core::approval::ApprovalMode::Hold,
            requester: Actor::default(),
            rule: "r".into(),
            summary: warden_core::approval::CallSummary::default(),
            request_hash: "h".into(),
            policy_version: "p".into(),
            quorum: 1,
            approver_groups: Vec::new(),
            decisions: Vec::new(),
            decided_ms: None,
            used_ms: None,
            grant_id: None,
        };
        assert_eq!(keys(json!(approval)), documented("Approval"));
        let grant = warden_core::approval::Grant {
            id: "g".into(),
            approval_id: "a".into(),
            principal: Actor::default(),
            models: Vec::new(),
            endpoints: Vec::new(),
            rule: "r".into(),
            created_ms: 0,
            expires_ms: 0,
            revoked_ms: None,
            created_by: Vec::new(),
        };
        assert_eq!(keys(json!(grant)), documented("Grant"));
        let session = SessionRow {
            id: "s".into(),
            calls: 1,
            first_ms: 0,
            last_ms: 0,
            subject: Some("s".into()),
            input_tokens: 0,
            output_tokens: 0,
            cost_usd_micros: 0,
        };
        assert_eq!(keys(json!(session)), documented("SessionSummary"));
        let mut event = AuditEvent::new("a", Actor::default(), Some("t".into()));
        event.session_id = Some("s".into());
        event.response_id = Some("resp".into());
        assert_eq!(keys(json!(event)), documented("AuditEvent"));
        assert_eq!(keys(json!(event.actor)), documented("Actor"));
    }

    fn uri(q: &str) -> Uri {
        format!("/admin/v1/records{q}").parse().expect("uri")
    }

    fn refused(q: &str, takes: &[&str]) -> (String, String) {
        let checked = Params::parse(&uri(q), takes).and_then(|p| {
            p.limit()?;
            p.since_ms()?;
            p.text("subject")?;
            Ok(())
        });
        match checked {
            Err(GatewayError::BadQuery { param, reason }) => (param, reason),
            other => panic!("{q}: expected BadQuery, got {other:?}"),
        }
    }

    #[test]
    fn query_parameters_are_checked_and_named() {
        let takes = ["subject", "since_ms", "limit"];
        let p = Params::parse(&uri(""), &takes).expect("none");
        assert_eq!(p.limit().expect("default"), 100);
        assert_eq!(p.since_ms().expect("none"), None);
        let p = Params::parse(&uri("?limit=1000&since_ms=0&subject=a%20b"), &takes).expect("ok");
        assert_eq!(p.limit().expect("max"), 1000);
        assert_eq!(p.since_ms().expect("zero"), Some(0));
        assert_eq!(p.text("subject").expect("text").as_deref(), Some("a b"));
        for (q, param) in [
            ("?limit=0", "limit"),
            ("?limit=1001", "limit"),
            ("?limit=ten", "limit"),
            ("?limit=-1", "limit"),
            ("?since_ms=-5", "since_ms"),
            ("?since_ms=yesterday", "since_ms"),
            ("?subject=", "subject"),
            ("?subjet=alice", "subjet"),
            ("?limit=1&limit=2", "limit"),
        ] {
            assert_eq!(refused(q, &takes).0, param, "{q}");
        }
        let (param, reason) = refused("?x=1", &[]);
        assert_eq!(param, "x");
        assert!(reason.contains("takes: none"), "{reason}");
    }

    #[test]
    fn bad_query_errors_are_400_invalid_request_naming_the_param() {
        let e = bad("limit", "must be an integer from 1 to 1000");
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert_eq!(e.code(), "invalid_request_error");
        assert_eq!(e.kind(), "invalid_request_error");
        assert!(e.to_string().contains("`limit`"), "{e}");
    }

    async fn gateway(extra: &str) -> (Arc<Gateway>, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("warden-admin-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir).expect("dir");
        let text = format!(
            "[store]\nsqlite = \"warden.db\"\n[[connection]]\nname = \"x\"\nbase_url = \"http://127.0.0.1:1/v1\"\nmodels = [\"*\"]\n{extra}\n"
        );
        let config = warden_config::from_toml(
            &text,
            warden_config::Source::File(dir.join("t.toml")),
            &|_| None,
        )
        .expect("config");
        let store = warden_store::SqliteStore::open(&config.store.sqlite_path)
            .await
            .expect("store");
        let (gw, _writer) = Gateway::new(Arc::new(config), Arc::new(store))
            .await
            .expect("gateway");
        (gw, dir)
    }

    #[tokio::test]
    async fn one_verification_at_a_time() {
        let (gw, dir) = gateway("[admin]\ngroups = [\"security\"]").await;
        let admin = Admin {
            gw,
            groups: vec!["security".into()],
            verifying: Semaphore::new(1),
        };
        let verify = "/admin/v1/audit/verify".parse::<Uri>().expect("uri");
        let running = admin.one_verify().expect("free");
        match admin.read(Read::Verify, None, &verify).await {
            Err(GatewayError::VerifyInProgress) => {}
            other => panic!("expected VerifyInProgress, got {other:?}"),
        }
        drop(running);
        let answer = admin
            .read(Read::Verify, None, &verify)
            .await
            .expect("verified");
        assert_eq!(answer.status(), StatusCode::OK);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn without_an_admin_section_there_are_no_routes() {
        use tower::ServiceExt as _;
        let (gw, dir) = gateway("").await;
        let app: Router = routes(&gw);
        let resp = app
            .oneshot(
                http::Request::get("/admin/v1/records")
                    .body(axum::body::Body::empty())
                    .expect("request"),
            )
            .await
            .expect("infallible");
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        let _ = std::fs::remove_dir_all(dir);
    }
}
