//! Every refusal and failure the data path can produce, and how each is shown
//! to the caller: an OpenAI-shaped body `{"error":{"message","type","param",
//! "code"}}` with a stable `code`. `status()`, `code()` and `kind()` are
//! exhaustive matches, so a new variant forces a decision on all three.
//! Messages never contain credentials or request content.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use warden_identity::IdentityError;
use warden_limits::LimitError;
use warden_policy::DenyReason;

use warden_core::approval::DecideError;

use crate::owners::ObjectKind;
use crate::probe::ProbeError;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A path or method neither the data path nor the admin API serves.
    #[error(
        "unknown endpoint {method} {path}; Warden serves the OpenAI API under /v1 (and, when configured, its admin API under /admin/v1)"
    )]
    UnknownEndpoint { method: String, path: String },
    #[error("{0}")]
    Identity(#[from] IdentityError),
    #[error("request body is larger than the {limit}-byte limit")]
    BodyTooLarge { limit: u64 },
    #[error("content-type must be {expected}")]
    UnsupportedMediaType { expected: &'static str },
    #[error("{0}")]
    BadBody(#[from] ProbeError),
    #[error("could not read the request body")]
    BodyRead,
    #[error("the request body did not arrive within {}s; send it without pauses", .0.as_secs_f64())]
    BodyTimeout(std::time::Duration),
    #[error("the model `{0}` is not served by this gateway")]
    ModelNotFound(String),
    #[error("{}", deny_message(.reason, .model.as_deref()))]
    Denied {
        reason: DenyReason,
        model: Option<String>,
    },
    #[error("connection `{0}` has no upstream credential configured")]
    UpstreamUnconfigured(String),
    #[error("the upstream `{0}` could not be reached")]
    UpstreamUnreachable(String),
    #[error("the upstream `{0}` did not answer in time")]
    UpstreamTimeout(String),
    #[error("no upstream answered the model listing")]
    ListingFailed,
    #[error("{0}")]
    Limited(#[from] LimitError),
    #[error(
        "a masking profile or content rule applies to you, and this request's body (a multipart form or file upload) cannot be inspected; it was not forwarded"
    )]
    MaskingUnsupported,
    #[error("blocked by content rule `{rule}`: {what}")]
    ContentBlocked { rule: String, what: String },
    /// A line of a batch's input file the caller could not send as a call
    /// (line 0: the file as a whole).
    #[error("the batch input file is refused at line {line}: {reason}")]
    BatchInputRefused { line: usize, reason: String },
    /// A hosted MCP tool whose server no applicable rule allows.
    #[error(
        "the hosted MCP server {0} is not allowed: no content rule that applies to you names it in `allow_mcp_servers`"
    )]
    McpServerNotAllowed(String),
    #[error(
        "a masking profile that needs the PII analyzer applies to you, and the analyzer did not answer; the request was not forwarded. Retry later, or ask your Warden operator"
    )]
    AnalyzerUnavailable,
    /// Also what a caller gets for a response someone else created.
    #[error("no response found with id '{0}'")]
    ResponseNotFound(String),
    /// Also what a caller gets for a stored object someone else created.
    #[error("no {} found with id '{id}'", kind.noun())]
    ObjectNotFound {
        kind: crate::owners::ObjectKind,
        id: String,
    },
    /// The store could not be read; its error is logged, never shown (it
    /// can name database hosts and files).
    #[error("Warden's store could not answer, so nothing was done; try again shortly")]
    StoreUnavailable,
    #[error("`X-Warden-Session` must be 1 to 128 visible ASCII characters")]
    BadSession,
    #[error(
        "Warden could not record this request in its audit trail in time, so it does not answer it; retry later"
    )]
    AuditUnavailable,
    /// Admin API: the caller is authenticated but in none of `[admin] groups`.
    #[error("the admin API is for members of the admin groups, and you are not in one")]
    AdminForbidden,
    /// Admin API: a query parameter that is unknown, repeated or malformed.
    #[error("query parameter `{param}` {reason}")]
    BadQuery { param: String, reason: String },
    #[error("no session with id '{0}'")]
    SessionNotFound(String),
    /// Admin API: no recorded body for this request (never recorded, or
    /// past its retention).
    #[error("no recorded body for request '{0}'")]
    BodyNotFound(String),
    #[error("the audit trail is being verified by another call; retry when it is done")]
    VerifyInProgress,
    /// The call needs approval and the caller asked not to wait (async
    /// mode): retry with `X-Warden-Approval: <id>` once it is approved.
    #[error(
        "this call needs approval (rule `{rule}`); approval {id} was requested. Retry with the header `X-Warden-Approval: {id}` once it is approved"
    )]
    ApprovalRequired { id: String, rule: String },
    #[error("approval {id} was denied{}", .comment.as_deref().map(|c| format!(": {c}")).unwrap_or_default())]
    ApprovalDenied { id: String, comment: Option<String> },
    #[error("approval {id} expired before anyone decided it")]
    ApprovalExpired { id: String },
    #[error("approval {id} is still pending; retry when it is approved")]
    ApprovalPending { id: String },
    #[error(
        "approval {id} was given for another call (or another caller, or an older policy); it releases only the call it was shown for"
    )]
    ApprovalMismatch { id: String },
    #[error("approval {id} was already used: it releases one call")]
    ApprovalUsed { id: String },
    #[error("no approval with id '{0}'")]
    ApprovalNotFound(String),
    /// Deciding: refused by the approval rules.
    #[error("{0}")]
    Decide(#[from] warden_core::approval::DecideError),
    #[error("no active grant with id '{0}'")]
    GrantNotFound(String),
    /// Deciding: a body that is not `{"comment"?, "grant"?}`.
    #[error("invalid decision: {0}")]
    BadDecision(String),
    /// `POST /v1/traces/ingest`: a batch that is not the exporter's shape.
    #[error("invalid trace batch: {0}")]
    BadTraceBatch(String),
}

fn deny_message(reason: &DenyReason, model: Option<&str>) -> String {
    match (reason, model) {
        (DenyReason::NotPermitted, Some(m)) => {
            format!("you are not allowed to use the model `{m}` on this endpoint")
        }
        (DenyReason::NotPermitted, None) => "you are not allowed to use this endpoint".into(),
        (DenyReason::OutsideKeyScope, Some(m)) => {
            format!("this Warden key is not scoped to the model `{m}`")
        }
        (DenyReason::OutsideKeyScope, None) => "this Warden key's scope excludes this".into(),
        (DenyReason::Forbidden { policy_id, message }, _) => match message {
            Some(msg) => format!("denied by policy `{policy_id}`: {msg}"),
            None => format!("denied by policy `{policy_id}`"),
        },
    }
}

impl GatewayError {
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::UnknownEndpoint { .. } | GatewayError::ModelNotFound(_) => {
                StatusCode::NOT_FOUND
            }
            GatewayError::Identity(e) if e.is_transient() => StatusCode::SERVICE_UNAVAILABLE,
            GatewayError::Identity(_) => StatusCode::UNAUTHORIZED,
            GatewayError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            GatewayError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            GatewayError::BadBody(_) | GatewayError::BodyRead => StatusCode::BAD_REQUEST,
            GatewayError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            GatewayError::Denied { .. } => StatusCode::FORBIDDEN,
            GatewayError::UpstreamUnconfigured(_) => StatusCode::SERVICE_UNAVAILABLE,
            GatewayError::UpstreamUnreachable(_) | GatewayError::ListingFailed => {
                StatusCode::BAD_GATEWAY
            }
            GatewayError::UpstreamTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            GatewayError::MaskingUnsupported | GatewayError::BadSession => StatusCode::BAD_REQUEST,
            GatewayError::ContentBlocked { .. }
            | GatewayError::McpServerNotAllowed(_)
            | GatewayError::BatchInputRefused { .. } => StatusCode::FORBIDDEN,
            GatewayError::AnalyzerUnavailable
            | GatewayError::StoreUnavailable
            | GatewayError::AuditUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            GatewayError::ResponseNotFound(_) | GatewayError::ObjectNotFound { .. } => {
                StatusCode::NOT_FOUND
            }
            GatewayError::AdminForbidden => StatusCode::FORBIDDEN,
            GatewayError::SessionNotFound(_) | GatewayError::BodyNotFound(_) => {
                StatusCode::NOT_FOUND
            }
            GatewayError::BadQuery { .. }
            | GatewayError::BadTraceBatch(_)
            | GatewayError::BadDecision(_) => StatusCode::BAD_REQUEST,
            GatewayError::ApprovalRequired { .. }
            | GatewayError::ApprovalDenied { .. }
            | GatewayError::ApprovalExpired { .. }
            | GatewayError::ApprovalPending { .. }
            | GatewayError::ApprovalMismatch { .. }
            | GatewayError::ApprovalUsed { .. } => StatusCode::FORBIDDEN,
            GatewayError::ApprovalNotFound(_) | GatewayError::GrantNotFound(_) => {
                StatusCode::NOT_FOUND
            }
            GatewayError::Decide(e) => match e {
                DecideError::NotApprover | DecideError::SelfApproval => StatusCode::FORBIDDEN,
                DecideError::AlreadyDecided | DecideError::NotPending(..) => StatusCode::CONFLICT,
            },
            GatewayError::VerifyInProgress => StatusCode::TOO_MANY_REQUESTS,
            GatewayError::Limited(e) => match e {
                LimitError::Exceeded { .. } => StatusCode::TOO_MANY_REQUESTS,
                LimitError::PriceUnknown(_) => StatusCode::FORBIDDEN,
                LimitError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            },
        }
    }

    /// The stable, documented error code.
    pub fn code(&self) -> &'static str {
        match self {
            GatewayError::UnknownEndpoint { .. } => "unknown_endpoint",
            GatewayError::Identity(e) => e.code(),
            GatewayError::BodyTooLarge { .. } => "request_too_large",
            GatewayError::UnsupportedMediaType { .. } => "unsupported_media_type",
            GatewayError::BadBody(e) => e.code(),
            GatewayError::BodyRead => "request_body_error",
            GatewayError::BodyTimeout(_) => "request_timeout",
            GatewayError::ModelNotFound(_) => "model_not_found",
            GatewayError::Denied { reason, model } => match (reason, model) {
                (DenyReason::NotPermitted | DenyReason::OutsideKeyScope, Some(_)) => {
                    "model_not_allowed"
                }
                (DenyReason::NotPermitted | DenyReason::OutsideKeyScope, None)
                | (DenyReason::Forbidden { .. }, _) => "policy_denied",
            },
            GatewayError::UpstreamUnconfigured(_) => "upstream_not_configured",
            GatewayError::UpstreamUnreachable(_) | GatewayError::ListingFailed => {
                "upstream_unreachable"
            }
            GatewayError::UpstreamTimeout(_) => "upstream_timeout",
            GatewayError::Limited(e) => e.code(),
            GatewayError::MaskingUnsupported => "masking_unsupported",
            GatewayError::ContentBlocked { .. } => "content_blocked",
            GatewayError::McpServerNotAllowed(_) => "mcp_server_not_allowed",
            GatewayError::BatchInputRefused { .. } => "batch_input_refused",
            GatewayError::AnalyzerUnavailable => "analyzer_unavailable",
            GatewayError::ResponseNotFound(_) => "response_not_found",
            GatewayError::ObjectNotFound { kind, .. } => match kind {
                ObjectKind::Response => "response_not_found",
                ObjectKind::File => "file_not_found",
                ObjectKind::Upload => "upload_not_found",
                ObjectKind::VectorStore => "vector_store_not_found",
                ObjectKind::Batch => "batch_not_found",
                ObjectKind::ChatCompletion => "chat_completion_not_found",
            },
            GatewayError::StoreUnavailable => "store_unavailable",
            GatewayError::AuditUnavailable => "audit_unavailable",
            GatewayError::BadSession => "invalid_session",
            GatewayError::AdminForbidden => "admin_forbidden",
            GatewayError::BadQuery { .. } => "invalid_request_error",
            GatewayError::SessionNotFound(_) => "session_not_found",
            GatewayError::BodyNotFound(_) => "body_not_found",
            GatewayError::VerifyInProgress => "verify_in_progress",
            GatewayError::BadTraceBatch(_) => "invalid_trace_batch",
            GatewayError::ApprovalRequired { .. } => "approval_required",
            GatewayError::ApprovalDenied { .. } => "approval_denied",
            GatewayError::ApprovalExpired { .. } => "approval_expired",
            GatewayError::ApprovalPending { .. } => "approval_pending",
            GatewayError::ApprovalMismatch { .. } => "approval_mismatch",
            GatewayError::ApprovalUsed { .. } => "approval_used",
            GatewayError::ApprovalNotFound(_) => "approval_not_found",
            GatewayError::GrantNotFound(_) => "grant_not_found",
            GatewayError::BadDecision(_) => "invalid_request_error",
            GatewayError::Decide(e) => match e {
                DecideError::NotApprover => "not_an_approver",
                DecideError::SelfApproval => "self_approval",
                DecideError::AlreadyDecided => "already_decided",
                DecideError::NotPending(..) => "approval_not_pending",
            },
        }
    }

    /// The pipeline stage that refuses or fails a call with this error,
    /// for the record (`RequestRecord::stage`).
    pub fn stage(&self) -> &'static str {
        match self {
            GatewayError::UnknownEndpoint { .. } => "route",
            GatewayError::Identity(_) => "authenticate",
            GatewayError::BodyTooLarge { .. }
            | GatewayError::UnsupportedMediaType { .. }
            | GatewayError::BadBody(_)
            | GatewayError::BodyRead
            | GatewayError::BodyTimeout(_)
            | GatewayError::BadSession => "read_body",
            GatewayError::ModelNotFound(_) | GatewayError::UpstreamUnconfigured(_) => "resolve",
            GatewayError::Denied { .. } => "authorize",
            GatewayError::ResponseNotFound(_) | GatewayError::ObjectNotFound { .. } => "objects",
            GatewayError::MaskingUnsupported
            | GatewayError::ContentBlocked { .. }
            | GatewayError::McpServerNotAllowed(_)
            | GatewayError::BatchInputRefused { .. }
            | GatewayError::AnalyzerUnavailable => "inspect",
            GatewayError::ApprovalRequired { .. }
            | GatewayError::ApprovalDenied { .. }
            | GatewayError::ApprovalExpired { .. }
            | GatewayError::ApprovalPending { .. }
            | GatewayError::ApprovalMismatch { .. }
            | GatewayError::ApprovalUsed { .. } => "approve",
            GatewayError::Limited(_) => "limits",
            GatewayError::UpstreamUnreachable(_)
            | GatewayError::UpstreamTimeout(_)
            | GatewayError::ListingFailed => "forward",
            GatewayError::StoreUnavailable | GatewayError::AuditUnavailable => "record",
            GatewayError::BadTraceBatch(_) => "traces",
            GatewayError::AdminForbidden
            | GatewayError::BadQuery { .. }
            | GatewayError::SessionNotFound(_)
            | GatewayError::BodyNotFound(_)
            | GatewayError::VerifyInProgress
            | GatewayError::ApprovalNotFound(_)
            | GatewayError::Decide(_)
            | GatewayError::GrantNotFound(_)
            | GatewayError::BadDecision(_) => "admin",
        }
    }

    /// The OpenAI error `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            GatewayError::Identity(e) if e.is_transient() => "server_error",
            GatewayError::Identity(_) => "authentication_error",
            GatewayError::Denied { .. }
            | GatewayError::ContentBlocked { .. }
            | GatewayError::McpServerNotAllowed(_)
            | GatewayError::BatchInputRefused { .. }
            | GatewayError::AdminForbidden
            | GatewayError::ApprovalRequired { .. }
            | GatewayError::ApprovalDenied { .. }
            | GatewayError::ApprovalExpired { .. }
            | GatewayError::ApprovalPending { .. }
            | GatewayError::ApprovalMismatch { .. }
            | GatewayError::ApprovalUsed { .. }
            | GatewayError::Decide(_) => "permission_error",
            GatewayError::UnknownEndpoint { .. }
            | GatewayError::ModelNotFound(_)
            | GatewayError::BodyTooLarge { .. }
            | GatewayError::UnsupportedMediaType { .. }
            | GatewayError::BadBody(_)
            | GatewayError::BodyRead
            | GatewayError::BodyTimeout(_)
            | GatewayError::MaskingUnsupported
            | GatewayError::ResponseNotFound(_)
            | GatewayError::ObjectNotFound { .. }
            | GatewayError::BadSession
            | GatewayError::BadQuery { .. }
            | GatewayError::BadTraceBatch(_)
            | GatewayError::BadDecision(_)
            | GatewayError::ApprovalNotFound(_)
            | GatewayError::GrantNotFound(_)
            | GatewayError::SessionNotFound(_)
            | GatewayError::BodyNotFound(_) => "invalid_request_error",
            GatewayError::VerifyInProgress => "rate_limit_error",
            GatewayError::UpstreamUnconfigured(_)
            | GatewayError::UpstreamUnreachable(_)
            | GatewayError::UpstreamTimeout(_)
            | GatewayError::ListingFailed
            | GatewayError::AnalyzerUnavailable
            | GatewayError::StoreUnavailable
            | GatewayError::AuditUnavailable => "server_error",
            GatewayError::Limited(e) => match e {
                LimitError::Exceeded { .. } => "rate_limit_error",
                LimitError::PriceUnknown(_) => "permission_error",
                LimitError::Unavailable => "server_error",
            },
        }
    }

    /// The approval an error is about.
    pub fn approval_id(&self) -> Option<&str> {
        match self {
            GatewayError::ApprovalRequired { id, .. }
            | GatewayError::ApprovalDenied { id, .. }
            | GatewayError::ApprovalExpired { id }
            | GatewayError::ApprovalPending { id }
            | GatewayError::ApprovalMismatch { id }
            | GatewayError::ApprovalUsed { id } => Some(id),
            _ => None,
        }
    }

    fn param(&self) -> Option<&str> {
        match self {
            GatewayError::BadBody(e) => e.param(),
            GatewayError::BadQuery { param, .. } => Some(param),
            GatewayError::BadTraceBatch(_) => Some("data"),
            GatewayError::ModelNotFound(_) | GatewayError::Denied { model: Some(_), .. } => {
                Some("model")
            }
            _ => None,
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    message: String,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: &'a str,
    /// The approval an approval error is about (an extra field: SDKs keep
    /// it in the error's body).
    #[serde(skip_serializing_if = "Option::is_none")]
    approval_id: Option<&'a str>,
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Inner {
                message: self.to_string(),
                kind: self.kind(),
                param: self.param(),
                code: self.code(),
                approval_id: self.approval_id(),
            },
        };
        let mut resp = (self.status(), axum::Json(body)).into_response();
        let headers = resp.headers_mut();
        match &self {
            GatewayError::Identity(e) if !e.is_transient() => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            GatewayError::Identity(_)
            | GatewayError::UpstreamUnconfigured(_)
            | GatewayError::AnalyzerUnavailable
            | GatewayError::VerifyInProgress
            | GatewayError::StoreUnavailable
            | GatewayError::Limited(LimitError::Unavailable) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            GatewayError::ApprovalRequired { id, .. } | GatewayError::ApprovalPending { id } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
                if let Ok(v) = HeaderValue::from_str(id) {
                    headers.insert("x-warden-approval", v);
                }
            }
            GatewayError::Limited(LimitError::Exceeded {
                retry_after_ms,
                headers: rate,
                ..
            }) => {
                if let Some(ms) = retry_after_ms {
                    let secs = ((*ms).max(0) + 999) / 1000;
                    headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
                }
                crate::rate_headers::apply(headers, rate);
            }
            _ => {}
        }
        resp
    }
}
