//! The per-request record: one per call that reaches Warden, allowed or not.
//!
//! The data path fills it as the request moves through the stages and hands it
//! to the store when the exchange ends (whatever way it ends). The shape is flat
//! so a store can write it as one row, and stable so a hash chain can be added
//! over it later (see ARCHITECTURE.md, "Records").

use serde::{Deserialize, Serialize};

use crate::PrincipalKind;

/// What Warden decided about the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Forwarded to an upstream.
    Allow,
    /// Refused by Warden (identity, policy, or bad input).
    Deny,
}

impl Decision {
    pub const fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
        }
    }

    /// The stable name back (stored records).
    pub fn parse(s: &str) -> Option<Decision> {
        [Decision::Allow, Decision::Deny]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

/// How the exchange ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Warden answered with an error before forwarding.
    Refused,
    /// The upstream answered and the whole body reached the caller.
    Completed,
    /// Could not reach the upstream, or it timed out before answering.
    UpstreamFailed,
    /// The upstream's body broke or stalled part way.
    UpstreamBroken,
    /// The caller went away before the exchange finished.
    ClientGone,
}

impl Outcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Refused => "refused",
            Outcome::Completed => "completed",
            Outcome::UpstreamFailed => "upstream_failed",
            Outcome::UpstreamBroken => "upstream_broken",
            Outcome::ClientGone => "client_gone",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        [
            Outcome::Refused,
            Outcome::Completed,
            Outcome::UpstreamFailed,
            Outcome::UpstreamBroken,
            Outcome::ClientGone,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

/// Token usage as the upstream reported it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
    pub cached_tokens: u64,
}

/// One request, as recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    pub request_id: String,
    /// Unix time in milliseconds when the request arrived.
    pub started_at_ms: i64,
    pub principal_kind: Option<PrincipalKind>,
    pub subject: Option<String>,
    pub issuer: Option<String>,
    pub groups: Vec<String>,
    pub key_id: Option<String>,
    pub client_addr: Option<String>,
    pub method: String,
    pub path: String,
    /// Endpoint kind name, or `unknown` for paths Warden does not serve.
    pub endpoint: String,
    pub model: Option<String>,
    pub connection: Option<String>,
    pub stream: bool,
    pub decision: Decision,
    /// The error code when refused or failed (`invalid_token`, ...).
    pub reason: Option<String>,
    /// Policies that decided (Cedar policy ids).
    pub policy_ids: Vec<String>,
    /// HTTP status sent to the caller (499 when the caller left first).
    pub status: u16,
    pub outcome: Outcome,
    /// Time from forwarding to the upstream's response headers.
    pub upstream_latency_us: Option<u64>,
    /// Time from arrival to the end of the exchange.
    pub total_latency_us: u64,
    pub usage: Option<Usage>,
    /// Cost in micro-USD (usage at the configured price), when both are known.
    pub cost_usd_micros: Option<u64>,
    /// What masking found and did (types, counts, field paths; never values).
    pub findings: Vec<FindingSummary>,
    /// The Responses API object this call created (`resp_...`): who may read
    /// it later. Left out of the encoding when absent, so records written
    /// before the field existed hash as they did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
    /// The session the call belongs to: the caller's `X-Warden-Session`,
    /// else the Responses chain it continues (the first response's id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Stream timing: microseconds from arrival to the first byte of the
    /// answer relayed to the caller (for a stream, its first event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_us: Option<u64>,
    /// Stream timing: how many body chunks were relayed up to the answer's
    /// end (for SSE, about one per event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunks: Option<u64>,
    /// Session recording: the SHA-256 (hex) of the call's recorded bodies
    /// and chunk times, kept beside the trail (`warden_store::bodies`), so
    /// an edited body is caught. Left out of the encoding when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_sha256: Option<String>,
    /// What Cedar decided, when the call got that far. `decision` is the
    /// call's final verdict: a call Cedar allowed and a later stage
    /// refused (limits, approval, content rule, upstream failure) reads
    /// `decision: deny`, `policy_decision: allow`. Left out when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_decision: Option<Decision>,
    /// The stage that refused or failed the call (`authenticate`,
    /// `authorize`, `inspect`, `approve`, `limits`, `forward`, ...); absent
    /// for a call that was answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// The caller's own `X-Request-Id` (1-128 visible ASCII), so a caller
    /// can find its call. Left out when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_request_id: Option<String>,
}

/// One masked entity type in one field of a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingSummary {
    pub kind: String,
    pub action: String,
    pub path: String,
    pub count: u64,
}

/// Replaces NUL characters with U+FFFD. A caller can put a NUL in a model
/// name or a token's subject; PostgreSQL text cannot hold one, and a record
/// must read back exactly as it was hashed, so it never enters the trail.
pub fn scrub_nul(s: &mut String) {
    if s.contains('\0') {
        *s = s.replace('\0', "\u{FFFD}");
    }
}

fn scrub_opt(s: &mut Option<String>) {
    if let Some(s) = s {
        scrub_nul(s);
    }
}

impl RequestRecord {
    /// See [`scrub_nul`]: applied to every string before the record is
    /// written.
    pub fn scrub_nul(&mut self) {
        for s in [
            &mut self.request_id,
            &mut self.method,
            &mut self.path,
            &mut self.endpoint,
        ] {
            scrub_nul(s);
        }
        for s in [
            &mut self.subject,
            &mut self.issuer,
            &mut self.key_id,
            &mut self.client_addr,
            &mut self.model,
            &mut self.connection,
            &mut self.reason,
            &mut self.response_id,
            &mut self.session_id,
        ] {
            scrub_opt(s);
        }
        self.groups.iter_mut().for_each(scrub_nul);
        self.policy_ids.iter_mut().for_each(scrub_nul);
        for f in &mut self.findings {
            scrub_nul(&mut f.kind);
            scrub_nul(&mut f.action);
            scrub_nul(&mut f.path);
        }
    }
}

#[cfg(test)]
mod scrub_tests {
    #[test]
    fn nul_never_reaches_a_string() {
        let mut s = String::from("gpt\0-4o");
        super::scrub_nul(&mut s);
        assert_eq!(s, "gpt\u{FFFD}-4o");
        let mut clean = String::from("gpt-4o");
        super::scrub_nul(&mut clean);
        assert_eq!(clean, "gpt-4o");
    }
}
