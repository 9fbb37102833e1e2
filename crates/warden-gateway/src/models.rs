//! `GET /v1/models` and `GET /v1/models/{id}`, answered by Warden: the
//! models every connection offers, narrowed to the patterns it serves and to
//! what policy lets this principal use on at least one endpoint.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method};
use serde::Deserialize;
use serde_json::{Value, json};
use warden_core::{EndpointKind, Principal};
use warden_policy::{PolicyRequest, Resource};

use crate::Gateway;
use crate::error::GatewayError;
use crate::exchange::RecordGuard;
use crate::upstream::Upstream;

#[derive(Deserialize)]
struct ModelList {
    data: Vec<Value>,
}

pub async fn serve(
    gw: &Gateway,
    principal: &Principal,
    sub_path: &str,
    guard: &mut RecordGuard,
) -> Result<Response, GatewayError> {
    match sub_path.strip_prefix("/models/") {
        None => list(gw, principal, guard).await,
        Some(id) => retrieve(gw, principal, id, guard).await,
    }
}

/// Whether the principal may use `model` on any model-bearing endpoint.
fn permitted(gw: &Gateway, principal: &Principal, upstream: &Upstream, model: &str) -> bool {
    EndpointKind::ALL
        .into_iter()
        .filter(|k| k.carries_model())
        .any(|endpoint| {
            gw.policy
                .authorize(&PolicyRequest {
                    principal,
                    endpoint,
                    resource: Resource::Model {
                        connection: upstream.name(),
                        name: model,
                    },
                    stream: false,
                    tools: &[],
                    mcp_servers: &[],
                    max_tokens: None,
                })
                .allowed
        })
}

async fn fetch(upstream: &Upstream, path: &str) -> Result<(u16, Value), GatewayError> {
    let limit = 0;
    let (resp, _) = upstream
        .send(
            Method::GET,
            path,
            &HeaderMap::new(),
            None,
            reqwest::Body::from(""),
            limit,
        )
        .await?;
    let status = resp.status().as_u16();
    let body = resp
        .json::<Value>()
        .await
        .map_err(|_| GatewayError::UpstreamUnreachable(upstream.name().to_owned()))?;
    Ok((status, body))
}

async fn list(
    gw: &Gateway,
    principal: &Principal,
    guard: &mut RecordGuard,
) -> Result<Response, GatewayError> {
    let upstreams = gw.upstreams.all();
    let answers =
        futures_util::future::join_all(upstreams.iter().map(|u| fetch(u, "/models"))).await;
    let mut data = Vec::new();
    let mut any_ok = false;
    for (upstream, answer) in upstreams.iter().zip(answers) {
        let list = match answer {
            Ok((200, body)) => serde_json::from_value::<ModelList>(body).ok(),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(connection = upstream.name(), error = %e, "model listing failed");
                None
            }
        };
        let Some(list) = list else { continue };
        any_ok = true;
        for entry in list.data {
            let Some(id) = entry.get("id").and_then(Value::as_str) else {
                continue;
            };
            let served = gw
                .upstreams
                .for_model(id)
                .is_some_and(|u| std::ptr::eq(u, upstream));
            if served && permitted(gw, principal, upstream, id) {
                data.push(entry);
            }
        }
    }
    if !any_ok {
        return Err(GatewayError::ListingFailed);
    }
    guard.set_decision(true, Vec::new());
    guard.upstream_answered(200, 0);
    Ok(Json(json!({"object": "list", "data": data})).into_response())
}

async fn retrieve(
    gw: &Gateway,
    principal: &Principal,
    id: &str,
    guard: &mut RecordGuard,
) -> Result<Response, GatewayError> {
    let not_found = || GatewayError::ModelNotFound(id.chars().take(200).collect());
    let upstream = gw.upstreams.for_model(id).ok_or_else(not_found)?;
    guard.set_model(id, false);
    guard.set_connection(upstream.name());
    // A model the caller may not use does not exist as far as they can tell.
    if !permitted(gw, principal, upstream, id) {
        guard.set_decision(false, Vec::new());
        return Err(not_found());
    }
    guard.set_decision(true, Vec::new());
    let (status, body) = fetch(upstream, &format!("/models/{id}")).await?;
    guard.upstream_answered(status, 0);
    let status = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_GATEWAY);
    Ok((status, Json(body)).into_response())
}
