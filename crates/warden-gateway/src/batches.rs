//! A batch runs whatever models and prompts its input file holds, so its
//! input is checked like the calls it will make before the batch is
//! created: every line's model must be one the caller may use on the
//! endpoint its `url` names (Cedar, with the line's tools), and the line
//! must pass the content rules that apply to the caller (tools, output cap,
//! denied terms and patterns), and must not need a human's approval (a
//! batch line cannot wait for one). A line that fails refuses the batch, naming
//! the line number (403 `batch_input_refused`).
//!
//! Each line's estimated cost is then reserved under the caller's spend
//! budgets (spend only: a batch takes no request, token or concurrency slot
//! now, it runs later). The reservations are kept once the upstream has
//! created the batch, and given back if it does not. They are not
//! reconciled with the batch's real usage, which arrives in its output file
//! later: a batch can only be over-counted, never under.
//!
//! The check runs when the batch is created rather than when the file is
//! uploaded: every way to run a batch goes through `POST /v1/batches`, and
//! a file built with the Uploads API is covered too. The file is read from
//! the upstream with the connection's credential. (A masked caller's file
//! was already masked when it was uploaded, `uploads.rs`.)

use bytes::Bytes;
use http::{HeaderMap, Method};
use serde_json::Value;
use warden_core::Principal;
use warden_limits::{LimitError, LimitRequest, Ticket};
use warden_policy::{PolicyRequest, Resource};

use crate::Gateway;
use crate::error::GatewayError;
use crate::inspect;
use crate::probe;
use crate::routes::{self, BodyMode, ModelFrom, Route};
use crate::upstream::Upstream;

/// Checks the input file `POST /v1/batches` names (`body`) and reserves
/// its lines' cost; the reservations, to keep once the batch is created.
pub async fn check_input(
    gw: &Gateway,
    principal: &Principal,
    upstream: &Upstream,
    body: &[u8],
) -> Result<Vec<Ticket>, GatewayError> {
    let request: Value = serde_json::from_slice(body)
        .map_err(|e| GatewayError::BadBody(probe::ProbeError::Invalid(e.to_string())))?;
    let Some(file) = request.get("input_file_id").and_then(Value::as_str) else {
        return Err(GatewayError::BadBody(probe::ProbeError::WrongType {
            field: "input_file_id",
            expected: "a file id",
        }));
    };
    // The file this reads must be the caller's, whatever spelling of the
    // key named it (the body scan in `owners::referenced` checks it too).
    if !crate::owners::sees_all(gw, principal) {
        crate::owners::check(gw, principal, crate::owners::ObjectKind::File, file).await?;
    }
    let limit = gw.config.server.max_upload_bytes;
    let (response, _) = upstream
        .send(
            Method::GET,
            &format!("/files/{file}/content"),
            &HeaderMap::new(),
            None,
            reqwest::Body::from(Bytes::new()),
            limit,
        )
        .await?;
    if !response.status().is_success() {
        return Err(GatewayError::UpstreamUnreachable(format!(
            "the batch input file could not be read ({})",
            response.status()
        )));
    }
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(GatewayError::BodyTooLarge { limit });
    }
    let content = response
        .bytes()
        .await
        .map_err(|e| GatewayError::UpstreamUnreachable(e.to_string()))?;
    let text = std::str::from_utf8(&content)
        .map_err(|_| refused(0, "the input file is not UTF-8 text"))?;
    let mut calls = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let call = check_line(gw, principal, line).map_err(|reason| refused(i + 1, &reason))?;
        calls.push((i + 1, call));
    }
    // Reserved after every line passed: a refused file reserves nothing.
    // A reservation that does not fit gives back those before it (dropped
    // unanswered).
    let mut tickets = Vec::new();
    if let Some(limiter) = &gw.limits {
        for (n, call) in calls {
            let ticket = limiter
                .admit(&LimitRequest {
                    principal,
                    model: Some(&call.model),
                    body: Some(&call.body),
                    max_output_tokens: call.max_tokens,
                    choices: call.choices,
                    generates: call.generates,
                    spend_only: true,
                })
                .await
                .map_err(|e| match e {
                    LimitError::Exceeded { .. } | LimitError::PriceUnknown(_) => {
                        refused(n, &format!("{}: {e}", e.code()))
                    }
                    LimitError::Unavailable => GatewayError::Limited(e),
                })?;
            tickets.push(ticket);
        }
    }
    Ok(tickets)
}

/// The route a call to a batch line's `url` (`/v1/chat/completions`)
/// takes; `None` when Warden serves no such endpoint. Uploads read a batch
/// line's body by the same route (`uploads.rs`).
pub(crate) fn line_route(url: &str) -> Option<Route> {
    let sub = url.split('?').next()?.strip_prefix("/v1")?;
    routes::classify(&Method::POST, sub)
}

/// A line that passed, as the limiter estimates it.
struct LineCall {
    model: String,
    body: Vec<u8>,
    max_tokens: Option<u64>,
    choices: u64,
    generates: bool,
}

fn refused(line: usize, reason: &str) -> GatewayError {
    GatewayError::BatchInputRefused {
        line,
        reason: reason.chars().take(300).collect(),
    }
}

/// One line of a batch input file, checked as the call it describes; the
/// reason it is refused.
fn check_line(gw: &Gateway, principal: &Principal, line: &str) -> Result<LineCall, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    if v.get("method").and_then(Value::as_str) != Some("POST") {
        return Err("`method` must be POST".into());
    }
    let url = v.get("url").and_then(Value::as_str).unwrap_or_default();
    let route = line_route(url)
        .filter(|r| r.body == BodyMode::Json && matches!(r.model, ModelFrom::Body { .. }))
        .ok_or_else(|| format!("`url` {url:?} is not an endpoint a batch may call"))?;
    let body = v
        .get("body")
        .filter(|b| b.is_object())
        .ok_or("`body` must be an object")?;
    let bytes = serde_json::to_vec(body).map_err(|e| e.to_string())?;
    let probe = probe::probe(&bytes, gw.config.server.max_json_depth).map_err(|e| e.to_string())?;
    let model = match (&probe.model, route.model) {
        (Some(m), _) => m.clone(),
        (None, ModelFrom::Body { default: Some(d) }) => d.to_owned(),
        _ => return Err("`body.model` is required".into()),
    };
    let upstream = gw
        .upstreams
        .for_model(&model)
        .ok_or_else(|| format!("no connection serves the model `{model}`"))?;
    let mcp_servers: Vec<String> = probe.tools.mcp_ids().collect();
    let verdict = gw.policy.authorize(&PolicyRequest {
        principal,
        endpoint: route.kind,
        resource: Resource::Model {
            connection: upstream.name(),
            name: &model,
        },
        stream: probe.stream,
        tools: &probe.tools.names,
        mcp_servers: &mcp_servers,
        max_tokens: probe.output_tokens(),
    });
    if !verdict.allowed || verdict.deny.is_some() {
        return Err(format!(
            "model_not_allowed: you may not use `{model}` on {}",
            route.kind.as_str()
        ));
    }
    // A line whose call would need a human's approval cannot wait for one
    // inside a batch: refused, never run unapproved.
    if let Some(ap) = &gw.approvals {
        let headers = HeaderMap::new();
        let body_bytes = Bytes::from(bytes.clone());
        let call = crate::approvals::Call {
            headers: &headers,
            method: "POST",
            path: url,
            principal,
            obligations: &verdict.obligations,
            endpoint: route.kind,
            model: Some(&model),
            connection: upstream.name(),
            stream: probe.stream,
            tools: &probe.tools.names,
            max_output_tokens: probe.output_tokens(),
            body: Some(&body_bytes),
            session: None,
        };
        let cost = || crate::approvals::estimate(gw, &call).1;
        if let Some(rule) = crate::approvals::rule_for(&ap.config, &call, cost, ap.now_ms()) {
            return Err(format!(
                "approval_required: rule `{}` asks for a human's approval, which a batch line cannot wait for",
                rule.id
            ));
        }
    }
    let rules = inspect::rules_of(&gw.config, principal, &verdict.obligations);
    inspect::check_tools(&rules, &probe.tools).map_err(|e| format!("{}: {e}", e.code()))?;
    // A stored file cannot be given the cap: a capped line must state one.
    match inspect::check_cap(&rules, probe.max_tokens, probe.choices) {
        Err(e) => {
            return Err(format!(
                "content_blocked: rule `{}` allows at most {} output tokens",
                e.rule, e.cap
            ));
        }
        Ok(inspect::Cap::Unstated { cap, rule, .. }) => {
            return Err(format!(
                "content_blocked: rule `{rule}` caps output at {cap} tokens; the line must state max tokens"
            ));
        }
        Ok(inspect::Cap::None | inspect::Cap::Within { .. }) => {}
    }
    let text_rules: Vec<_> = rules.into_iter().filter(|r| r.reads_text()).collect();
    if !text_rules.is_empty() {
        let mut body = body.clone();
        if let Some(rule) =
            inspect::text_refusal(&text_rules, inspect::shape(route.kind), &mut body)
        {
            return Err(format!(
                "content_blocked: rule `{}` refuses a denied term or pattern",
                rule.id
            ));
        }
    }
    Ok(LineCall {
        model,
        body: bytes,
        max_tokens: probe.max_tokens,
        choices: probe.choices,
        generates: !matches!(
            route.kind,
            warden_core::EndpointKind::Embeddings | warden_core::EndpointKind::Moderations
        ),
    })
}
