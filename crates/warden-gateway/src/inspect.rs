//! Inspection, after policy and before limits (so the token estimate sees
//! the masked body):
//!
//! 1. content rules that apply to the caller's groups: refused tools and
//!    tool types, hosted MCP servers no rule names (403
//!    `mcp_server_not_allowed`), an output-token cap (times `n`; set in the
//!    body when the request states none), denied terms and patterns in every
//!    text the upstream reads, folded so spelling cannot dodge them (403
//!    `content_blocked`, naming the rule, never the matched text);
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

use warden_config::{ContentRule, RuleText};
use warden_core::text::{Fold, Folder};
use warden_core::tools::Tools;
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

pub(crate) fn rules_for<'g>(
    gw: &'g Gateway,
    principal: &Principal,
    obligations: &Obligations,
) -> Vec<&'g ContentRule> {
    rules_of(&gw.config, principal, obligations)
}

pub(crate) fn request_profile(
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
        // Opaque uploads pass only if every profile lets them.
        m.opaque_uploads &= other.opaque_uploads;
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
    pub tools: &'a Tools,
    /// The per-choice output cap the request states.
    pub max_tokens: Option<u64>,
    /// One of the cap's keys is present, even as `null`.
    pub states_max_tokens: bool,
    /// How many outputs the call generates (`n`, `best_of`).
    pub choices: u64,
}

impl Asked<'_> {
    pub const NOTHING: Asked<'static> = Asked {
        tools: &NO_TOOLS,
        max_tokens: None,
        states_max_tokens: false,
        choices: 1,
    };
}

static NO_TOOLS: Tools = Tools {
    names: Vec::new(),
    mcp: Vec::new(),
};

/// What inspection leaves for the later stages.
#[derive(Debug, Default)]
pub struct Inspected {
    /// Restores pseudonyms and masks the model's output, when needed.
    pub answer: Option<Answer>,
    /// The per-choice output cap now in the body: the request's own, or the
    /// one a rule's `max_output_tokens` set because it stated none.
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
) -> Result<Inspected, GatewayError> {
    let mut max_tokens = asked.max_tokens;
    let session = check_and_mask(
        gw,
        principal,
        obligations,
        kind,
        asked,
        &mut max_tokens,
        body,
        guard,
    )
    .await?;
    let output = output_profile(gw, principal, obligations);
    let pseudonyms = session.as_ref().map(Session::pseudonyms);
    let answer = Answer::new(pseudonyms.into_iter().flatten(), output);
    Ok(Inspected {
        answer: (!answer.is_noop()).then_some(answer),
        max_tokens,
    })
}

/// Tool rules: each rule's tool lists, then hosted MCP servers, which need
/// a rule that names them.
pub fn check_tools(rules: &[&ContentRule], tools: &Tools) -> Result<(), GatewayError> {
    for rule in rules {
        if let Some(tool) = rule.refused_tool(tools) {
            return Err(GatewayError::ContentBlocked {
                rule: rule.id.clone(),
                what: format!("the tool `{tool}` is not allowed"),
            });
        }
    }
    for server in &tools.mcp {
        if !rules.iter().any(|r| r.allows_mcp(server)) {
            let name = match (&server.label, &server.url, &server.connector) {
                (Some(l), Some(u), _) => format!("`{l}` ({u})"),
                (_, Some(u), _) => format!("at {u}"),
                (_, None, Some(c)) => format!("`{c}`"),
                (Some(l), None, None) => format!("`{l}`"),
                (None, None, None) => "with no label or URL".to_owned(),
            };
            return Err(GatewayError::McpServerNotAllowed(
                name.chars().take(300).collect(),
            ));
        }
    }
    Ok(())
}

/// The output cap: the request's cap times its choices must fit the
/// smallest cap of the rules; a request that states none gets the rule's
/// What the content rules' output cap says of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap<'r> {
    /// No rule caps output.
    None,
    /// The call states a cap within the rules'.
    Within { cap: u64, rule: &'r str },
    /// The call states none: the rule's cap, divided among its choices,
    /// is what it may ask for each (at least 1).
    Unstated {
        cap: u64,
        per_choice: u64,
        rule: &'r str,
    },
}

/// A call asks for more output than a rule's cap allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapExceeded<'r> {
    pub cap: u64,
    pub rule: &'r str,
    /// The call generates several outputs (`n`, `best_of`).
    pub several: bool,
}

impl From<CapExceeded<'_>> for GatewayError {
    fn from(e: CapExceeded<'_>) -> GatewayError {
        let cap = e.cap;
        GatewayError::ContentBlocked {
            rule: e.rule.to_owned(),
            what: if e.several {
                format!("at most {cap} output tokens may be requested (max tokens times n)")
            } else {
                format!("at most {cap} output tokens may be requested")
            },
        }
    }
}

/// The one check of a call's output against the smallest cap of `rules`
/// (the gateway, batch lines and `warden policy test` ask it): the asked
/// cap per choice times the choices must fit; a call asking for more, or
/// with more choices than the cap has tokens, is refused.
pub fn check_cap<'r>(
    rules: &[&'r ContentRule],
    max_tokens: Option<u64>,
    choices: u64,
) -> Result<Cap<'r>, CapExceeded<'r>> {
    let Some((cap, rule)) = rules
        .iter()
        .filter_map(|r| r.max_output_tokens.map(|c| (c, r.id.as_str())))
        .min()
    else {
        return Ok(Cap::None);
    };
    let choices = choices.max(1);
    let exceeded = CapExceeded {
        cap,
        rule,
        several: choices > 1,
    };
    match max_tokens {
        Some(asked) if asked.saturating_mul(choices) > cap => Err(exceeded),
        Some(_) => Ok(Cap::Within { cap, rule }),
        None if cap / choices == 0 => Err(exceeded),
        None => Ok(Cap::Unstated {
            cap,
            per_choice: cap / choices,
            rule,
        }),
    }
}

/// The output cap: checked, and written into a request that states none
/// (in the field its endpoint reads).
fn cap_output(
    rules: &[&ContentRule],
    kind: EndpointKind,
    asked: Asked<'_>,
    max_tokens: &mut Option<u64>,
    body: &mut Body<'_>,
) -> Result<(), GatewayError> {
    let Cap::Unstated { per_choice, .. } = check_cap(rules, *max_tokens, asked.choices)? else {
        return Ok(());
    };
    let (Some(field), Body::Json(bytes)) = (cap_field(kind), body) else {
        return Ok(());
    };
    **bytes = set_field(bytes, field, per_choice, asked.states_max_tokens)?;
    *max_tokens = Some(per_choice);
    Ok(())
}

/// The field an endpoint reads its output cap from.
fn cap_field(kind: EndpointKind) -> Option<&'static str> {
    match kind {
        EndpointKind::ChatCompletions => Some("max_completion_tokens"),
        EndpointKind::Responses => Some("max_output_tokens"),
        EndpointKind::Completions => Some("max_tokens"),
        _ => None,
    }
}

/// `body` with `field` set to `value`. When no cap key is present, the
/// field is written after the opening brace without parsing the body;
/// otherwise (a key present as `null`) the body is rewritten.
fn set_field(body: &Bytes, field: &str, value: u64, present: bool) -> Result<Bytes, GatewayError> {
    if !present {
        return splice_first(body, &format!("\"{field}\":{value}"));
    }
    let mut v: Value =
        serde_json::from_slice(body).map_err(|_| GatewayError::MaskingUnsupported)?;
    let Some(obj) = v.as_object_mut() else {
        return Err(GatewayError::MaskingUnsupported);
    };
    obj.insert(field.to_owned(), Value::from(value));
    Ok(Bytes::from(
        serde_json::to_vec(&v).map_err(|_| GatewayError::MaskingUnsupported)?,
    ))
}

/// `body` with `stream_options.include_usage` set to `true`: written after
/// the opening brace when the body has no `stream_options`, else merged
/// into it.
pub fn ask_for_usage(body: &Bytes, has_stream_options: bool) -> Result<Bytes, GatewayError> {
    if !has_stream_options {
        return splice_first(body, r#""stream_options":{"include_usage":true}"#);
    }
    let mut v: Value =
        serde_json::from_slice(body).map_err(|_| GatewayError::MaskingUnsupported)?;
    let Some(obj) = v.as_object_mut() else {
        return Err(GatewayError::MaskingUnsupported);
    };
    let options = obj
        .entry("stream_options")
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    if !options.is_object() {
        *options = Value::Object(serde_json::Map::new());
    }
    if let Some(o) = options.as_object_mut() {
        o.insert("include_usage".into(), Value::Bool(true));
    }
    Ok(Bytes::from(
        serde_json::to_vec(&v).map_err(|_| GatewayError::MaskingUnsupported)?,
    ))
}

/// `body` (a JSON object) with `member` (`"key":value`) written first,
/// without parsing the rest.
fn splice_first(body: &Bytes, member: &str) -> Result<Bytes, GatewayError> {
    let at = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .filter(|&i| body[i] == b'{')
        .ok_or(GatewayError::MaskingUnsupported)?;
    let rest = &body[at + 1..];
    let empty = rest
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'}');
    let mut out = Vec::with_capacity(body.len() + member.len() + 1);
    out.extend_from_slice(&body[..=at]);
    out.extend_from_slice(member.as_bytes());
    if !empty {
        out.push(b',');
    }
    out.extend_from_slice(rest);
    Ok(Bytes::from(out))
}

/// The first rule that refuses the body's text: the texts the model reads
/// as the conversation, joined (a term split across two messages is
/// found), and every other string and key the upstream reads (tool
/// descriptions, JSON schemas, `response_format`), each on its own. Terms
/// match the folded text; patterns the original texts and the lightly
/// folded ones.
pub(crate) fn text_refusal<'r>(
    rules: &[&'r ContentRule],
    shape: Option<Shape>,
    value: &mut Value,
) -> Option<&'r ContentRule> {
    // Only the foldings some rule reads are built.
    let want_terms = rules.iter().any(|r| !r.deny_terms.is_empty());
    let want_patterns = rules.iter().any(|r| r.deny_patterns.is_some());
    let mut terms = want_terms.then(|| Folder::new(Fold::Terms));
    let mut patterns = want_patterns.then(|| Folder::new(Fold::Patterns));
    let mut hit = None;
    // The conversation's texts are folded once, joined; the walk over every
    // string below knows them by address and does not fold them again.
    let mut joined: Vec<*const u8> = Vec::new();
    if let Some(shape) = shape {
        visit_texts(shape, value, &mut |v, _path| {
            if let Some(text) = v.as_str() {
                terms.iter_mut().for_each(|f| f.push(text));
                patterns.iter_mut().for_each(|f| f.push(text));
                if !text.is_empty() {
                    joined.push(text.as_ptr());
                }
            }
        });
    }
    each_string(value, &mut |text| {
        if want_patterns && hit.is_none() {
            hit = rules.iter().copied().find(|r| r.refuses_original(text));
        }
        if text.is_empty() || joined.contains(&text.as_ptr()) {
            return;
        }
        for f in terms.iter_mut().chain(patterns.iter_mut()) {
            f.separate();
            f.push(text);
        }
    });
    let folded = RuleText {
        terms: terms.map(Folder::into_string).unwrap_or_default(),
        patterns: patterns.map(Folder::into_string).unwrap_or_default(),
    };
    hit.or_else(|| rules.iter().copied().find(|r| r.refuses_folded(&folded)))
}

/// Calls `f` with every key and string value under `v`.
fn each_string(v: &Value, f: &mut dyn FnMut(&str)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter().for_each(|i| each_string(i, f)),
        Value::Object(fields) => {
            for (key, item) in fields {
                f(key);
                each_string(item, f);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Content rules, then masking; the masking session (with its pseudonyms)
/// when anything was masked.
#[expect(
    clippy::too_many_arguments,
    reason = "the stage's inputs, each used once; a struct would only rename them"
)]
async fn check_and_mask(
    gw: &Gateway,
    principal: &Principal,
    obligations: &Obligations,
    kind: EndpointKind,
    asked: Asked<'_>,
    max_tokens: &mut Option<u64>,
    mut body: Body<'_>,
    guard: &mut RecordGuard,
) -> Result<Option<Session>, GatewayError> {
    let rules = rules_for(gw, principal, obligations);
    check_tools(&rules, asked.tools)?;
    cap_output(&rules, kind, asked, max_tokens, &mut body)?;
    let profile = request_profile(gw, principal, obligations);
    let profile = profile.as_deref();
    let text_rules: Vec<_> = rules.into_iter().filter(|r| r.reads_text()).collect();
    if profile.is_none() && text_rules.is_empty() {
        return Ok(None);
    }
    let bytes = match body {
        Body::None => return Ok(None),
        Body::Opaque => return Err(GatewayError::MaskingUnsupported),
        Body::Json(bytes) => bytes,
    };
    let shape = shape(kind);
    if shape.is_none() && text_rules.is_empty() {
        return Ok(None);
    }
    // The probe already proved this parses; a failure here is refused anyway.
    let mut value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|_| GatewayError::MaskingUnsupported)?;
    if !text_rules.is_empty()
        && let Some(rule) = text_refusal(&text_rules, shape, &mut value)
    {
        return Err(GatewayError::ContentBlocked {
            rule: rule.id.clone(),
            what: "the request contains a denied term or pattern".into(),
        });
    }
    let (Some(profile), Some(shape)) = (profile, shape) else {
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
pub(crate) async fn mask(
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
