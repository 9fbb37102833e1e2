//! Inspection, after policy and before limits (so the token estimate sees
//! the masked body):
//!
//! 1. content rules that apply to the caller's groups: refused tools, an
//!    output-token cap, denied terms and patterns in the request's text
//!    (403 `content_blocked`, naming the rule, never the matched text);
//! 2. masking of personal data and secrets, for callers a `[pii]` profile
//!    applies to. When the profile names types only the external analyzer
//!    finds (`PERSON`, `LOCATION`), every text is sent to it first
//!    (`analyzer.rs`), and its findings are masked with the built-in ones.
//!    If it cannot answer, the request is refused (503
//!    `analyzer_unavailable`), or with `on_error = "open"` masked by the
//!    built-in detectors alone, the record saying so (`ANALYZER_UNAVAILABLE`,
//!    action `skipped`).
//!
//! A body that cannot be read by meaning (multipart forms with text fields,
//! streamed file uploads that may hold batch inputs) is refused when either
//! needs the text: it could leave unchecked, so Warden fails closed.

use bytes::Bytes;
use serde_json::Value;
use warden_core::{EndpointKind, FindingSummary, Principal};
use warden_pii::json::{FieldFinding, Shape, mask_request, mask_request_with, visit_texts};
use warden_pii::mask::{External, Profile, Session};
use warden_pii::stream::Answer;

use std::collections::BTreeMap;
use std::sync::Arc;

use warden_config::ContentRule;
use warden_pii::mask::Action;
use warden_policy::Obligations;

use crate::Gateway;
use crate::error::GatewayError;
use crate::exchange::RecordGuard;

/// Where the text lives in an endpoint's JSON body; `None`: it carries none.
pub(crate) fn shape(kind: EndpointKind) -> Option<Shape> {
    match kind {
        EndpointKind::ChatCompletions => Some(Shape::Chat),
        EndpointKind::Responses => Some(Shape::Responses),
        EndpointKind::Completions | EndpointKind::Images => Some(Shape::Field("prompt")),
        EndpointKind::Embeddings | EndpointKind::Moderations | EndpointKind::Audio => {
            Some(Shape::Field("input"))
        }
        EndpointKind::VectorStores => Some(Shape::Field("query")),
        EndpointKind::Traces => Some(Shape::Everything),
        EndpointKind::Models
        | EndpointKind::Files
        | EndpointKind::Uploads
        | EndpointKind::Batches => None,
    }
}

fn rules_for<'g>(
    gw: &'g Gateway,
    principal: &Principal,
    obligations: &Obligations,
) -> Vec<&'g ContentRule> {
    rules_of(&gw.config, principal, obligations)
}

fn request_profile(
    gw: &Gateway,
    principal: &Principal,
    obligations: &Obligations,
) -> Option<Arc<Profile>> {
    request_profile_of(&gw.config, principal, obligations)
}

fn output_profile(
    gw: &Gateway,
    principal: &Principal,
    obligations: &Obligations,
) -> Option<Arc<Profile>> {
    output_profile_of(&gw.config, principal, obligations)
}

// The choices below depend on the config alone, so `warden policy test`
// makes them with these same functions and says what the gateway would do.

/// The content rules for this caller: those of their groups, and those the
/// deciding policies attach (`@content_rules`), each once.
pub fn rules_of<'c>(
    config: &'c warden_config::Config,
    principal: &Principal,
    obligations: &Obligations,
) -> Vec<&'c ContentRule> {
    let mut rules = config.content.rules_for(&principal.groups);
    for id in &obligations.content_rules {
        // Every name was checked against the config at start-up.
        if let Some(rule) = config.content.rules.iter().find(|r| &r.id == id)
            && !rules.iter().any(|r| r.id == rule.id)
        {
            rules.push(rule);
        }
    }
    rules
}

/// The masking profile for this request: the one the deciding policies
/// attach (`@mask`; several are merged, the stronger action winning per
/// entity type), else the first `[[pii.apply]]` entry for the caller's groups.
pub fn request_profile_of(
    config: &warden_config::Config,
    principal: &Principal,
    obligations: &Obligations,
) -> Option<Arc<Profile>> {
    let pii = &config.pii;
    chosen(&pii.profiles, &obligations.mask).or_else(|| pii.profile_for(&principal.groups).cloned())
}

/// The profile masking the model's answer, chosen the same way from
/// `@mask_output` and `output_profile`.
pub fn output_profile_of(
    config: &warden_config::Config,
    principal: &Principal,
    obligations: &Obligations,
) -> Option<Arc<Profile>> {
    let pii = &config.pii;
    chosen(&pii.profiles, &obligations.mask_output)
        .or_else(|| pii.output_profile_for(&principal.groups).cloned())
}

/// The named profiles, shared; merged into a new one only when a request's
/// policies name several.
fn chosen(profiles: &BTreeMap<String, Arc<Profile>>, names: &[String]) -> Option<Arc<Profile>> {
    let mut named = names.iter().filter_map(|n| profiles.get(n));
    let first = named.next()?;
    let mut merged: Option<Profile> = None;
    for other in named {
        let m = merged.get_or_insert_with(|| (**first).clone());
        m.name = format!("{}+{}", m.name, other.name);
        for (kind, action) in &other.actions {
            let entry = m.actions.entry(kind).or_insert(*action);
            if strength(*action) > strength(*entry) {
                *entry = *action;
            }
        }
    }
    Some(merged.map_or_else(|| Arc::clone(first), Arc::new))
}

/// How much of a value each action lets through, least first: a redacted
/// value is gone, a keyed hash still links calls, a pseudonym comes back in
/// the answer, a partial mask shows its last characters.
fn strength(action: Action) -> u8 {
    match action {
        Action::Redact => 3,
        Action::Hash => 2,
        Action::Pseudonymize => 1,
        Action::Partial => 0,
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

pub async fn apply(
    gw: &Gateway,
    principal: &Principal,
    obligations: &Obligations,
    kind: EndpointKind,
    asked: Asked<'_>,
    body: Body<'_>,
    guard: &mut RecordGuard,
) -> Result<Option<Answer>, GatewayError> {
    let session = check_and_mask(gw, principal, obligations, kind, asked, body, guard).await?;
    let output = output_profile(gw, principal, obligations);
    let pseudonyms = session.as_ref().map(Session::pseudonyms);
    let answer = Answer::new(pseudonyms.into_iter().flatten(), output);
    Ok((!answer.is_noop()).then_some(answer))
}

/// Content rules, then masking; the masking session (with its pseudonyms)
/// when anything was masked.
async fn check_and_mask(
    gw: &Gateway,
    principal: &Principal,
    obligations: &Obligations,
    kind: EndpointKind,
    asked: Asked<'_>,
    body: Body<'_>,
    guard: &mut RecordGuard,
) -> Result<Option<Session>, GatewayError> {
    let rules = rules_for(gw, principal, obligations);
    let profile = request_profile(gw, principal, obligations);
    let profile = profile.as_deref();
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
    if !mask_recorded(gw, shape, &mut value, profile, &mut session, guard).await? {
        return Ok(None);
    }
    *bytes = Bytes::from(serde_json::to_vec(&value).map_err(|_| GatewayError::MaskingUnsupported)?);
    // Pseudonyms handed out are put back in the answer the caller reads.
    Ok(Some(session))
}

/// Masks a JSON body Warden keeps rather than forwards (agent trace
/// spans) with the caller's request profile, as a forwarded body would be,
/// the findings going into the call's record. Nothing to do without a
/// profile.
pub async fn mask_kept(
    gw: &Gateway,
    principal: &Principal,
    obligations: &Obligations,
    shape: Shape,
    value: &mut Value,
    guard: &mut RecordGuard,
) -> Result<(), GatewayError> {
    let Some(profile) = request_profile(gw, principal, obligations) else {
        return Ok(());
    };
    let mut session = Session::default();
    mask_recorded(gw, shape, value, &profile, &mut session, guard)
        .await
        .map(drop)
}

/// Masks `value` and puts what was found in the record; whether anything
/// was masked.
async fn mask_recorded(
    gw: &Gateway,
    shape: Shape,
    value: &mut Value,
    profile: &Profile,
    session: &mut Session,
    guard: &mut RecordGuard,
) -> Result<bool, GatewayError> {
    let (found, skipped) = mask(gw, shape, value, profile, session).await?;
    let mut findings: Vec<FindingSummary> = found
        .iter()
        .map(|f| FindingSummary {
            kind: f.kind.to_owned(),
            action: f.action.as_str().to_owned(),
            path: f.path.clone(),
            count: f.count as u64,
        })
        .collect();
    if skipped {
        findings.push(FindingSummary {
            kind: "ANALYZER_UNAVAILABLE".into(),
            action: "skipped".into(),
            path: String::new(),
            count: 0,
        });
    }
    if !findings.is_empty() {
        guard.set_findings(findings);
    }
    Ok(!found.is_empty())
}

/// Masks the body's texts: with the built-in detectors, and with the
/// analyzer's findings when the profile names any of its types. The flag is
/// set when the analyzer failed and `on_error = "open"` let the request go
/// on without it.
async fn mask(
    gw: &Gateway,
    shape: Shape,
    value: &mut Value,
    profile: &Profile,
    session: &mut Session,
) -> Result<(Vec<FieldFinding>, bool), GatewayError> {
    let asked = gw
        .analyzer
        .as_ref()
        .map(|a| (a, a.config().entities_for(profile)))
        .filter(|(_, entities)| !entities.is_empty());
    let Some((analyzer, entities)) = asked else {
        return Ok((mask_request(shape, value, profile, session), false));
    };
    // Every text, in the order masking visits them again below.
    let mut texts = Vec::new();
    visit_texts(shape, value, &mut |v, _| {
        if let Some(text) = v.as_str() {
            texts.push(text.to_owned());
        }
    });
    match analyzer.analyze(&texts, &entities).await {
        Ok(spans) => {
            let found = mask_request_with(shape, value, profile, session, &mut |i, text| {
                let spans = spans.get(i).map_or(&[][..], Vec::as_slice);
                External::from_code_points(text, spans.iter().map(|s| (s.start, s.end, s.entity)))
            });
            Ok((found, false))
        }
        Err(error) if analyzer.config().fail_open => {
            tracing::warn!(
                %error,
                "PII analyzer unavailable; masking with the built-in detectors only (pii.analyzer.on_error = \"open\")"
            );
            Ok((mask_request(shape, value, profile, session), true))
        }
        Err(error) => {
            tracing::warn!(
                %error,
                "PII analyzer unavailable; request refused (pii.analyzer.on_error = \"closed\")"
            );
            Err(GatewayError::AnalyzerUnavailable)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(name: &str, actions: &[(&'static str, Action)]) -> Arc<Profile> {
        Arc::new(Profile {
            name: name.into(),
            actions: actions.iter().copied().collect(),
            ..Profile::default()
        })
    }

    #[test]
    fn several_attached_profiles_merge_with_the_stronger_action_winning() {
        let profiles: BTreeMap<String, Arc<Profile>> = [
            profile("a", &[("EMAIL", Action::Partial), ("IBAN", Action::Hash)]),
            profile(
                "b",
                &[("EMAIL", Action::Redact), ("IBAN", Action::Pseudonymize)],
            ),
            profile("c", &[("PHONE_NUMBER", Action::Pseudonymize)]),
        ]
        .into_iter()
        .map(|p| (p.name.clone(), p))
        .collect();
        let names = |n: &[&str]| n.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();

        let one = chosen(&profiles, &names(&["a"])).expect("one");
        assert!(
            Arc::ptr_eq(&one, &profiles["a"]),
            "a single profile is shared, not copied"
        );

        let merged = chosen(&profiles, &names(&["a", "b", "c"])).expect("merged");
        assert_eq!(merged.name, "a+b+c");
        assert_eq!(merged.actions["EMAIL"], Action::Redact);
        assert_eq!(merged.actions["IBAN"], Action::Hash);
        assert_eq!(merged.actions["PHONE_NUMBER"], Action::Pseudonymize);
        assert!(chosen(&profiles, &names(&["unknown"])).is_none());
    }
}
