//! Inspection, after policy and before limits (so the token estimate sees
//! the masked body):
//!
//! 1. content rules that apply to the caller's groups: refused tools, an
//!    output-token cap, denied terms and patterns in the request's text
//!    (403 `content_blocked`, naming the rule, never the matched text);
//! 2. masking of personal data and secrets, for callers a `[pii]` profile
//!    applies to.
//!
//! A body that cannot be read by meaning (multipart forms with text fields,
//! streamed file uploads that may hold batch inputs) is refused when either
//! needs the text: it could leave unchecked, so Warden fails closed.

use bytes::Bytes;
use warden_core::{EndpointKind, FindingSummary, Principal};
use warden_pii::json::{Shape, mask_request, visit_texts};
use warden_pii::mask::Session;
use warden_pii::restore::Restorer;

use crate::Gateway;
use crate::error::GatewayError;
use crate::exchange::RecordGuard;

/// Where the text lives in an endpoint's JSON body; `None`: it carries none.
fn shape(kind: EndpointKind) -> Option<Shape> {
    match kind {
        EndpointKind::ChatCompletions => Some(Shape::Chat),
        EndpointKind::Responses => Some(Shape::Responses),
        EndpointKind::Completions | EndpointKind::Images => Some(Shape::Field("prompt")),
        EndpointKind::Embeddings | EndpointKind::Moderations | EndpointKind::Audio => {
            Some(Shape::Field("input"))
        }
        EndpointKind::VectorStores => Some(Shape::Field("query")),
        EndpointKind::Models
        | EndpointKind::Files
        | EndpointKind::Uploads
        | EndpointKind::Batches => None,
    }
}

/// What the body looks like to inspection.
#[derive(Debug)]
pub enum Body<'a> {
    None,
    Json(&'a mut Bytes),
    /// Multipart forms and streamed uploads.
    Opaque,
}

/// What the probe learned that content rules check.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    pub tools: &'a [String],
    pub max_tokens: Option<u64>,
}

pub fn apply(
    gw: &Gateway,
    principal: &Principal,
    kind: EndpointKind,
    asked: Asked<'_>,
    body: Body<'_>,
    guard: &mut RecordGuard,
) -> Result<Option<Restorer>, GatewayError> {
    let rules = gw.config.content.rules_for(&principal.groups);
    let profile = gw.config.pii.profile_for(&principal.groups);
    for rule in &rules {
        if let Some(tool) = asked.tools.iter().find(|t| rule.refuses_tool(t)) {
            return Err(GatewayError::ContentBlocked {
                rule: rule.id.clone(),
                what: format!("the tool `{tool}` is not allowed"),
            });
        }
        if let (Some(cap), Some(asked)) = (rule.max_output_tokens, asked.max_tokens)
            && asked > cap
        {
            return Err(GatewayError::ContentBlocked {
                rule: rule.id.clone(),
                what: format!("at most {cap} output tokens may be requested"),
            });
        }
    }
    let text_rules: Vec<_> = rules.into_iter().filter(|r| r.reads_text()).collect();
    if profile.is_none() && text_rules.is_empty() {
        return Ok(None);
    }
    let bytes = match body {
        Body::None => return Ok(None),
        Body::Opaque => return Err(GatewayError::MaskingUnsupported),
        Body::Json(bytes) => bytes,
    };
    let Some(shape) = shape(kind) else {
        return Ok(None);
    };
    // The probe already proved this parses; a failure here is refused anyway.
    let mut value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|_| GatewayError::MaskingUnsupported)?;
    let mut blocked = None;
    visit_texts(shape, &mut value, &mut |v, _path| {
        if blocked.is_none()
            && let Some(text) = v.as_str()
        {
            blocked = text_rules
                .iter()
                .find(|r| r.refuses_text(text))
                .map(|r| r.id.clone());
        }
    });
    if let Some(rule) = blocked {
        return Err(GatewayError::ContentBlocked {
            rule,
            what: "the request contains a denied term or pattern".into(),
        });
    }
    let Some(profile) = profile else {
        return Ok(None);
    };
    let mut session = Session::default();
    let found = mask_request(shape, &mut value, profile, &mut session);
    if found.is_empty() {
        return Ok(None);
    }
    *bytes = Bytes::from(serde_json::to_vec(&value).map_err(|_| GatewayError::MaskingUnsupported)?);
    guard.set_findings(
        found
            .into_iter()
            .map(|f| FindingSummary {
                kind: f.kind.to_owned(),
                action: f.action.as_str().to_owned(),
                path: f.path,
                count: f.count as u64,
            })
            .collect(),
    );
    // Pseudonyms handed out are put back in the answer the caller reads.
    let restorer = Restorer::new(session.pseudonyms());
    Ok((!restorer.is_empty()).then_some(restorer))
}
