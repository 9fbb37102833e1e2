//! File uploads (`POST /v1/files`) by a caller a masking profile or a text
//! rule applies to: the form is read whole (bounded by `max_upload_bytes`
//! and `body_timeout`), the file is checked and masked, and the form is
//! written again around the masked file.
//!
//! - JSON Lines (a `.jsonl` name, an NDJSON type, or `purpose=batch`): each
//!   line is one JSON value. A batch line's `body` is read as the call its
//!   `url` names (chat messages, Responses input, ...); any other line as
//!   every string in it. A line that is not JSON refuses the upload, naming
//!   it.
//! - Other text (`text/*`, JSON, `.txt`, `.md`, `.csv`, ...): one text,
//!   which must be UTF-8.
//! - Anything else (PDF, images, archives) cannot be read by meaning: it is
//!   refused (400 `masking_unsupported`) unless the profile says
//!   `opaque_uploads = "allow"`, and then passes unread, the record noting
//!   `OPAQUE_UPLOAD`.
//!
//! Text rules are checked on each line (or the text) the way a call's text
//! is (`inspect::text_refusal`); what masking finds goes into the record
//! with the line in its path (`file.line[3].messages[0].content`).

use bytes::{Bytes, BytesMut};
use serde_json::Value;
use warden_core::{FindingSummary, Principal};
use warden_pii::json::Shape;
use warden_pii::mask::{Profile, Session};
use warden_policy::Obligations;

use crate::Gateway;
use crate::error::GatewayError;
use crate::exchange::RecordGuard;
use crate::inspect;
use crate::probe::ProbeError;

/// One part of the form, as received.
struct Part {
    name: Option<String>,
    filename: Option<String>,
    content_type: Option<String>,
    data: Bytes,
}

/// Whether an upload by this caller must be read: a masking profile or a
/// text rule applies.
pub fn must_read(gw: &Gateway, principal: &Principal, obligations: &Obligations) -> bool {
    inspect::request_profile(gw, principal, obligations).is_some()
        || inspect::rules_for(gw, principal, obligations)
            .iter()
            .any(|r| r.reads_text())
}

/// The form `body` (with `boundary`) checked and masked; the form to send.
pub async fn inspect_upload(
    gw: &Gateway,
    principal: &Principal,
    obligations: &Obligations,
    body: Bytes,
    boundary: String,
    guard: &mut RecordGuard,
) -> Result<Bytes, GatewayError> {
    let mut parts = read_form(body, &boundary).await?;
    let purpose = parts
        .iter()
        .find(|p| p.name.as_deref() == Some("purpose"))
        .map(|p| String::from_utf8_lossy(&p.data).trim().to_owned());
    let profile = inspect::request_profile(gw, principal, obligations);
    let rules = inspect::rules_for(gw, principal, obligations);
    let text_rules: Vec<_> = rules.into_iter().filter(|r| r.reads_text()).collect();
    let mut findings = Vec::new();
    for part in parts.iter_mut().filter(|p| p.filename.is_some()) {
        let kind = kind_of(part, purpose.as_deref());
        let masked = match kind {
            Kind::Opaque => {
                // Passes unread only if the profile allows it and no text
                // rule would have to read it.
                if profile.as_ref().is_some_and(|p| p.opaque_uploads) && text_rules.is_empty() {
                    findings.push(FindingSummary {
                        kind: "OPAQUE_UPLOAD".into(),
                        action: "skipped".into(),
                        path: "file".into(),
                        count: 1,
                    });
                    continue;
                }
                return Err(GatewayError::MaskingUnsupported);
            }
            Kind::Lines | Kind::Text => {
                let text = std::str::from_utf8(&part.data)
                    .map_err(|_| bad("the uploaded file is not UTF-8 text"))?;
                let mut out = String::with_capacity(text.len());
                if kind == Kind::Text {
                    let mut v = serde_json::json!({ "input": text });
                    let shape = Shape::Field("input");
                    refuse_text(&text_rules, Some(shape), &mut v)?;
                    mask_one(gw, profile.as_deref(), shape, &mut v, "file", &mut findings).await?;
                    out.push_str(v["input"].as_str().unwrap_or_default());
                } else {
                    for (i, line) in text.split_inclusive('\n').enumerate() {
                        let content = line.trim_end_matches(['\n', '\r']);
                        if content.trim().is_empty() {
                            out.push_str(line);
                            continue;
                        }
                        let mut v: Value = serde_json::from_str(content).map_err(|_| {
                            bad(&format!("line {} of the uploaded file is not JSON", i + 1))
                        })?;
                        let (shape, target) = line_shape(&v);
                        let path = format!("file.line[{}]", i + 1);
                        let mut none = Value::Null;
                        let value = match target {
                            Some(key) => v.get_mut(key).unwrap_or(&mut none),
                            None => &mut v,
                        };
                        refuse_text(&text_rules, Some(shape), value)?;
                        mask_one(gw, profile.as_deref(), shape, value, &path, &mut findings)
                            .await?;
                        out.push_str(
                            &serde_json::to_string(&v)
                                .map_err(|_| bad("a line could not be written"))?,
                        );
                        out.push_str(&line[content.len()..]);
                    }
                }
                out
            }
        };
        part.data = Bytes::from(masked);
    }
    if !findings.is_empty() {
        guard.set_findings(findings);
    }
    Ok(write_form(&parts, &boundary))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Lines,
    Text,
    Opaque,
}

fn kind_of(part: &Part, purpose: Option<&str>) -> Kind {
    let name = part
        .filename
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let ct = part
        .content_type
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    if purpose == Some("batch") || ext == "jsonl" || ct.contains("ndjson") || ct.contains("jsonl") {
        return Kind::Lines;
    }
    let text_ext = [
        "txt", "md", "csv", "tsv", "json", "log", "yaml", "yml", "xml", "html", "htm",
    ];
    if ct.starts_with("text/") || ct.starts_with("application/json") || text_ext.contains(&ext) {
        return Kind::Text;
    }
    Kind::Opaque
}

/// How a JSON line is read: a batch line's `body` as the call its `url`
/// names (an endpoint with no text fields still has every string masked);
/// anything else as every string in it.
fn line_shape(v: &Value) -> (Shape, Option<&'static str>) {
    let url = v.get("url").and_then(Value::as_str);
    if let (Some(url), true) = (url, v.get("body").is_some_and(Value::is_object)) {
        let shape = crate::batches::line_route(url).and_then(|r| inspect::shape(r.kind));
        return (shape.unwrap_or(Shape::Everything), Some("body"));
    }
    (Shape::Everything, None)
}

fn refuse_text(
    rules: &[&warden_config::ContentRule],
    shape: Option<Shape>,
    value: &mut Value,
) -> Result<(), GatewayError> {
    if rules.is_empty() {
        return Ok(());
    }
    match inspect::text_refusal(rules, shape, value) {
        Some(rule) => Err(GatewayError::ContentBlocked {
            rule: rule.id.clone(),
            what: "the uploaded file contains a denied term or pattern".into(),
        }),
        None => Ok(()),
    }
}

/// Masks one value with the caller's profile, adding what was found (with
/// `prefix` on each path) to `findings`.
async fn mask_one(
    gw: &Gateway,
    profile: Option<&Profile>,
    shape: Shape,
    value: &mut Value,
    prefix: &str,
    findings: &mut Vec<FindingSummary>,
) -> Result<(), GatewayError> {
    let Some(profile) = profile else {
        return Ok(());
    };
    let mut session = Session::default();
    let (found, skipped) = inspect::mask(gw, shape, value, profile, &mut session).await?;
    findings.extend(found.into_iter().map(|f| FindingSummary {
        kind: f.kind.to_owned(),
        action: f.action.as_str().to_owned(),
        path: format!("{prefix}.{}", f.path),
        count: f.count as u64,
    }));
    if skipped {
        findings.push(FindingSummary {
            kind: "ANALYZER_UNAVAILABLE".into(),
            action: "skipped".into(),
            path: prefix.to_owned(),
            count: 0,
        });
    }
    Ok(())
}

fn bad(message: &str) -> GatewayError {
    GatewayError::BadBody(ProbeError::Invalid(message.to_owned()))
}

async fn read_form(body: Bytes, boundary: &str) -> Result<Vec<Part>, GatewayError> {
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut form = multer::Multipart::new(stream, boundary);
    let malformed = |_| bad("malformed multipart body");
    let mut parts = Vec::new();
    while let Some(field) = form.next_field().await.map_err(malformed)? {
        let name = field.name().map(str::to_owned);
        let filename = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(ToString::to_string);
        let data = field.bytes().await.map_err(malformed)?;
        parts.push(Part {
            name,
            filename,
            content_type,
            data,
        });
    }
    Ok(parts)
}

/// A `multipart/form-data` body of `parts` with `boundary` (RFC 7578).
fn write_form(parts: &[Part], boundary: &str) -> Bytes {
    let size: usize = parts.iter().map(|p| p.data.len() + 160).sum();
    let mut out = BytesMut::with_capacity(size);
    let quoted = |s: &str| s.replace(['"', '\r', '\n'], "_");
    for p in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let mut disposition = format!(
            "Content-Disposition: form-data; name=\"{}\"",
            quoted(p.name.as_deref().unwrap_or_default())
        );
        if let Some(f) = &p.filename {
            disposition.push_str(&format!("; filename=\"{}\"", quoted(f)));
        }
        out.extend_from_slice(disposition.as_bytes());
        out.extend_from_slice(b"\r\n");
        if let Some(ct) = &p.content_type {
            out.extend_from_slice(format!("Content-Type: {}\r\n", quoted(ct)).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&p.data);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out.freeze()
}
