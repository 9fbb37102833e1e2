//! The approvers' API, beside the admin API under `/admin/v1/` whenever
//! `[approvals]` is configured:
//!
//! - `GET /admin/v1/approvals[?state=pending&limit=N]`, `GET .../{id}`;
//! - `POST /admin/v1/approvals/{id}/approve` `{"comment"?, "grant"?: "60m"}`
//!   and `POST .../{id}/deny` `{"comment"?}`;
//! - `GET /admin/v1/grants`, `POST /admin/v1/grants/{id}/revoke`.
//!
//! Callers authenticate as on the data path and must be in an approver
//! group (any rule's, or `[admin] groups` to read); who may decide a given
//! approval, and how, is [`Approval::decide`]'s to say. A decision is
//! conditional on the version it read (two approvers at once never
//! overwrite each other), lands with its events in one transaction, then
//! wakes the held call and tells the webhooks. Every read is an
//! `admin.read` event, as for the admin API.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use http::HeaderMap;
use serde::Deserialize;
use serde_json::json;
use warden_core::Actor;
use warden_core::approval::{Approval, ApprovalState, Grant};

use super::{Approvals, store_down};
use crate::Gateway;
use crate::admin::{Authorized, audited};
use crate::error::GatewayError;

/// Most decisions' bodies are a few bytes; anything past this is refused.
const MAX_DECISION: usize = 16 * 1024;

#[derive(Clone)]
struct Api {
    gw: Arc<Gateway>,
    ap: Arc<Approvals>,
}

/// Every route and its one method (the OpenAPI document lists these).
pub(crate) const PATHS: [(&str, &str); 6] = [
    ("/admin/v1/approvals", "get"),
    ("/admin/v1/approvals/{id}", "get"),
    ("/admin/v1/approvals/{id}/approve", "post"),
    ("/admin/v1/approvals/{id}/deny", "post"),
    ("/admin/v1/grants", "get"),
    ("/admin/v1/grants/{id}/revoke", "post"),
];

/// The routes, or none without `[approvals]`.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>(gw: &Arc<Gateway>) -> Router<S> {
    let Some(ap) = &gw.approvals else {
        return Router::new();
    };
    let api = Api {
        gw: Arc::clone(gw),
        ap: Arc::clone(ap),
    };
    let [list_at, show_at, approve_at, deny_at, grants_at, revoke_at] = PATHS.map(|(p, _)| p);
    Router::new()
        .route(list_at, get(list))
        .route(show_at, get(show))
        .route(approve_at, post(approve))
        .route(deny_at, post(deny))
        .route(grants_at, get(grants))
        .route(revoke_at, post(revoke))
        .with_state(api)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    state: Option<String>,
    limit: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    comment: Option<String>,
    /// With an approval: a grant of this length (`"60m"`).
    grant: Option<String>,
}

impl Api {
    /// Who is calling, and whether they may use this API at all (an
    /// approver of some rule, or for reads an admin).
    async fn caller(&self, headers: &HeaderMap, read: bool) -> Authorized {
        let p = match self.gw.identity.authenticate(headers).await {
            Ok(p) => p,
            Err(e) => return (None, Err(e.into())),
        };
        let config = &self.ap.config;
        let approver = p.groups.iter().any(|g| {
            config.approver_groups.contains(g)
                || config.rules.iter().any(|r| r.approver_groups.contains(g))
        });
        let admin = read
            && self
                .gw
                .config
                .admin
                .as_ref()
                .is_some_and(|a| p.groups.iter().any(|g| a.groups.contains(g)));
        let allowed = if approver || admin {
            Ok(())
        } else {
            Err(GatewayError::AdminForbidden)
        };
        (Some(Actor::of(&p)), allowed)
    }

    /// An approver, for a decision.
    async fn approver(&self, headers: &HeaderMap) -> Result<Actor, GatewayError> {
        match self.caller(headers, false).await {
            (Some(who), Ok(())) => Ok(who),
            (_, Err(refused)) => Err(refused),
            (None, Ok(())) => Err(GatewayError::AdminForbidden),
        }
    }

    /// A read, audited as the admin API's reads are.
    async fn read(
        &self,
        request: Request,
        answer: impl Future<Output = Result<serde_json::Value, GatewayError>> + Send,
    ) -> Response {
        let client = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        let (parts, _body) = request.into_parts();
        let answer = async { answer.await.map(|v| axum::Json(v).into_response()) };
        audited(
            &self.gw,
            &parts,
            client,
            self.caller(&parts.headers, true),
            answer,
        )
        .await
    }
}

async fn list(
    State(api): State<Api>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
    request: Request,
) -> Response {
    api.read(request, async {
        let Query(q) = query.map_err(|e| GatewayError::BadQuery {
            param: "query".into(),
            reason: e.body_text(),
        })?;
        let state = q
            .state
            .map(|s| {
                ApprovalState::parse(&s).ok_or_else(|| GatewayError::BadQuery {
                    param: "state".into(),
                    reason: "must be pending, approved, denied, expired or cancelled".into(),
                })
            })
            .transpose()?;
        let limit = q.limit.unwrap_or(100).clamp(1, 1000);
        let data = api
            .gw
            .store
            .list_approvals(state, limit)
            .await
            .map_err(store_down)?;
        Ok(json!({ "data": data }))
    })
    .await
}

async fn show(State(api): State<Api>, Path(id): Path<String>, request: Request) -> Response {
    api.read(request, async {
        let (a, _) = api
            .gw
            .store
            .approval(&id)
            .await
            .map_err(store_down)?
            .ok_or_else(|| GatewayError::ApprovalNotFound(id.chars().take(64).collect()))?;
        Ok(json!(a))
    })
    .await
}

async fn grants(State(api): State<Api>, request: Request) -> Response {
    api.read(request, async {
        let data = api.gw.store.list_grants(1000).await.map_err(store_down)?;
        Ok(json!({ "data": data }))
    })
    .await
}

fn decision(body: &Bytes) -> Result<DecisionBody, GatewayError> {
    if body.is_empty() {
        return Ok(DecisionBody::default());
    }
    if body.len() > MAX_DECISION {
        return Err(GatewayError::BadDecision(format!(
            "the body is larger than {MAX_DECISION} bytes"
        )));
    }
    let d: DecisionBody = serde_json::from_slice(body).map_err(|e| {
        GatewayError::BadDecision(format!("expected {{\"comment\", \"grant\"}}: {e}"))
    })?;
    if d.comment.as_ref().is_some_and(|c| c.chars().count() > 2000) {
        return Err(GatewayError::BadDecision(
            "the comment is longer than 2000 characters".into(),
        ));
    }
    Ok(d)
}

async fn approve(
    State(api): State<Api>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    decide(&api, &id, &headers, &body, true)
        .await
        .map_or_else(IntoResponse::into_response, |a| {
            axum::Json(a).into_response()
        })
}

async fn deny(
    State(api): State<Api>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    decide(&api, &id, &headers, &body, false)
        .await
        .map_or_else(IntoResponse::into_response, |a| {
            axum::Json(a).into_response()
        })
}

/// One approver's decision, retried from a fresh read when another landed
/// first.
async fn decide(
    api: &Api,
    id: &str,
    headers: &HeaderMap,
    body: &Bytes,
    approve: bool,
) -> Result<Approval, GatewayError> {
    let who = api.approver(headers).await?;
    let d = decision(body)?;
    let grant_secs = match (&d.grant, approve) {
        (None, _) => None,
        (Some(_), false) => {
            return Err(GatewayError::BadDecision(
                "only an approval can grant".into(),
            ));
        }
        (Some(text), true) => {
            let length: Duration = humantime::parse_duration(text)
                .map_err(|e| GatewayError::BadDecision(format!("grant `{text}`: {e}")))?;
            if length.is_zero() || length > api.ap.config.max_grant {
                return Err(GatewayError::BadDecision(format!(
                    "a grant lasts more than 0s and at most {}",
                    humantime::format_duration(api.ap.config.max_grant)
                )));
            }
            Some(length.as_secs().max(1))
        }
    };
    let store = &api.gw.store;
    for _ in 0..5 {
        let Some((mut a, version)) = store.approval(id).await.map_err(store_down)? else {
            return Err(GatewayError::ApprovalNotFound(
                id.chars().take(64).collect(),
            ));
        };
        let now = api.ap.now_ms();
        let was_pending = a.state == ApprovalState::Pending;
        let result = a.decide(&who, approve, d.comment.clone(), grant_secs, now);
        let state = match result {
            Ok(state) => state,
            Err(e) => {
                // A decision that found it expired records the expiry.
                if was_pending && a.state == ApprovalState::Expired {
                    let e = super::step("approval.expire", Actor::warden(), &a);
                    let _ = store.update_approval(&a, version, None, &[e]).await;
                    api.ap.wake(&a.id, a.state);
                }
                return Err(e.into());
            }
        };
        let mut decided = super::step("approval.decide", who.clone(), &a)
            .with("decision", if approve { "approve" } else { "deny" });
        if let Some(c) = &d.comment {
            decided = decided.with("comment", c.clone());
        }
        let mut events = vec![decided];
        let grant = a.grant_secs().map(|secs| Grant {
            id: format!("grt_{}", ulid::Ulid::new()),
            approval_id: a.id.clone(),
            principal: Actor {
                client_addr: None,
                ..a.requester.clone()
            },
            models: vec![a.summary.model.clone().unwrap_or_else(|| "*".into())],
            endpoints: vec![a.summary.endpoint.clone()],
            rule: a.rule.clone(),
            created_ms: now,
            expires_ms: now + i64::try_from(secs).unwrap_or(i64::MAX / 1000) * 1000,
            revoked_ms: None,
            created_by: a
                .decisions
                .iter()
                .filter(|d| d.approve)
                .map(|d| d.by.clone())
                .collect(),
        });
        if let Some(g) = &grant {
            a.grant_id = Some(g.id.clone());
            let mut e =
                warden_core::AuditEvent::new("grant.create", who.clone(), Some(g.id.clone()))
                    .with("approval_id", a.id.clone())
                    .with("models", g.models.join(","))
                    .with("endpoints", g.endpoints.join(","))
                    .with("expires_ms", g.expires_ms.to_string());
            e.session_id.clone_from(&a.summary.session_id);
            events.push(e);
        }
        if store
            .update_approval(&a, version, grant.as_ref(), &events)
            .await
            .map_err(store_down)?
        {
            if state != ApprovalState::Pending {
                api.ap.wake(&a.id, state);
                api.ap
                    .notify(super::notify::Notice::Decided, &a, &api.gw.records);
            }
            return Ok(a);
        }
    }
    Err(GatewayError::StoreUnavailable)
}

async fn revoke(State(api): State<Api>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let result = async {
        let who = api.approver(&headers).await?;
        let at = api.ap.now_ms();
        let event = warden_core::AuditEvent::new("grant.revoke", who, Some(id.clone()));
        if api
            .gw
            .store
            .revoke_grant(&id, at, &event)
            .await
            .map_err(store_down)?
        {
            Ok(json!({"id": id, "revoked_ms": at}))
        } else {
            Err(GatewayError::GrantNotFound(id.chars().take(64).collect()))
        }
    }
    .await;
    match result {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}
