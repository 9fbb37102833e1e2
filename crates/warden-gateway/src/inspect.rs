//! Inspection: masks personal data and secrets in what the upstream will
//! read, for callers a `[pii]` profile applies to. Runs after policy and
//! before limits (so the token estimate sees the masked body).
//!
//! A body the masker cannot read by meaning (multipart forms with text
//! fields, streamed file uploads that may hold batch inputs) is refused for
//! such callers: the data could leave unmasked, so Warden fails closed.

use bytes::Bytes;
use warden_core::{EndpointKind, FindingSummary, Principal};
use warden_pii::json::{Shape, mask_request};
use warden_pii::mask::Session;

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

pub fn apply(
    gw: &Gateway,
    principal: &Principal,
    kind: EndpointKind,
    body: Body<'_>,
    guard: &mut RecordGuard,
) -> Result<(), GatewayError> {
    let Some(profile) = gw.config.pii.profile_for(&principal.groups) else {
        return Ok(());
    };
    let bytes = match body {
        Body::None => return Ok(()),
        Body::Opaque => return Err(GatewayError::MaskingUnsupported),
        Body::Json(bytes) => bytes,
    };
    let Some(shape) = shape(kind) else {
        return Ok(());
    };
    // The probe already proved this parses; a failure here is refused anyway.
    let mut value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|_| GatewayError::MaskingUnsupported)?;
    let found = mask_request(shape, &mut value, profile, &mut Session::default());
    if found.is_empty() {
        return Ok(());
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
    Ok(())
}
