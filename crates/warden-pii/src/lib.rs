//! Detectors for personal data and secrets in text. Pure: no I/O.
//!
//! One pass: every pattern is an alternative of a single `regex::Regex`, so
//! the text is scanned once, in time linear in its length (the `regex` crate
//! has no backtracking, hence no catastrophic cases). Each candidate is then
//! checked by its validator (Luhn for cards, mod-97 and country lengths for
//! IBANs, the SSA's invalid ranges for SSNs, address parsing for IPs, entropy
//! for generic secrets), which keeps ordinary numbers, amounts, versions,
//! UUIDs and timestamps from being reported.
//!
//! Offsets are byte offsets into the text; [`char_offsets`] converts them.
//!
//! Not here yet: phone numbers (to use a libphonenumber port), the external
//! (Presidio) analyzer, masking actions, and the JSON walker. See the issue
//! note.

pub mod json;
pub mod mask;
pub mod restore;
mod validate;

use std::sync::OnceLock;

use regex::Regex;

/// What was found. `as_str` is the entity type name used in config and records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Email,
    PaymentCard,
    UsSsn,
    Iban,
    IpAddress,
    Secret(SecretKind),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SecretKind {
    AwsAccessKey,
    GithubToken,
    GitlabToken,
    SlackToken,
    OpenAiKey,
    AnthropicKey,
    PrivateKey,
    Jwt,
    /// A high-entropy value assigned to a name like `api_key` or `password`.
    Assignment,
}

impl Kind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Email => "EMAIL",
            Kind::PaymentCard => "PAYMENT_CARD",
            Kind::UsSsn => "US_SSN",
            Kind::Iban => "IBAN",
            Kind::IpAddress => "IP_ADDRESS",
            Kind::Secret(_) => "SECRET",
        }
    }
}

impl SecretKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            SecretKind::AwsAccessKey => "aws_access_key",
            SecretKind::GithubToken => "github_token",
            SecretKind::GitlabToken => "gitlab_token",
            SecretKind::SlackToken => "slack_token",
            SecretKind::OpenAiKey => "openai_key",
            SecretKind::AnthropicKey => "anthropic_key",
            SecretKind::PrivateKey => "private_key",
            SecretKind::Jwt => "jwt",
            SecretKind::Assignment => "assigned_secret",
        }
    }
}

/// One finding: `text[start..end]` is the sensitive value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finding {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

/// The alternatives, most specific first: at one position the regex takes the
/// first alternative that matches.
const PATTERN: &str = r"(?x)
  (?P<pem>-----BEGIN\ (?:[A-Z]+\ )*PRIVATE\ KEY-----[\s\S]*?-----END\ (?:[A-Z]+\ )*PRIVATE\ KEY-----)
| (?P<jwt>\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,})
| (?P<aws>\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b)
| (?P<github>\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b)
| (?P<gitlab>\bglpat-[A-Za-z0-9_-]{20,})
| (?P<slack>\bxox[abposr]-[A-Za-z0-9-]{10,})
| (?P<anthropic>\bsk-ant-[A-Za-z0-9_-]{20,})
| (?P<openai>\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,})
| (?P<assign>(?i:\b(?:api[_-]?key|secret(?:[_-]?key)?|token|password|passwd|pwd|access[_-]?key|client[_-]?secret|auth)\b)
     [\ \t]*[:=][\ \t]*[\x22']?(?P<assignval>[A-Za-z0-9/+_=.\-]{16,}))
| (?P<email>\b[A-Za-z0-9._%+'-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}\b)
| (?P<iban>\b[A-Z]{2}[0-9]{2}(?:\ ?[A-Z0-9]{4}){2,7}(?:\ ?[A-Z0-9]{1,3})?\b)
| (?P<ssn>\b[0-9]{3}[-\ ][0-9]{2}[-\ ][0-9]{4}\b)
| (?P<card>\b[0-9](?:[\ -]?[0-9]){12,18}\b)
| (?P<ipv4>\b(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\b)
| (?P<ipv6>[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*[0-9A-Fa-f])
";

fn regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // The pattern is a constant; a failure here is a bug caught by every test.
    RE.get_or_init(|| Regex::new(PATTERN).unwrap_or_else(|e| unreachable!("PATTERN: {e}")))
}

/// Every finding in `text`, in order, non-overlapping.
pub fn scan(text: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    for caps in regex().captures_iter(text) {
        let Some(whole) = caps.get(0) else { continue };
        let (start, end) = (whole.start(), whole.end());
        let s = whole.as_str();
        let found = |kind| Some(Finding { kind, start, end });
        let finding = if caps.name("pem").is_some() {
            found(Kind::Secret(SecretKind::PrivateKey))
        } else if caps.name("jwt").is_some() {
            validate::jwt(s)
                .then_some(())
                .and_then(|()| found(Kind::Secret(SecretKind::Jwt)))
        } else if caps.name("aws").is_some() {
            found(Kind::Secret(SecretKind::AwsAccessKey))
        } else if caps.name("github").is_some() {
            found(Kind::Secret(SecretKind::GithubToken))
        } else if caps.name("gitlab").is_some() {
            found(Kind::Secret(SecretKind::GitlabToken))
        } else if caps.name("slack").is_some() {
            found(Kind::Secret(SecretKind::SlackToken))
        } else if caps.name("anthropic").is_some() {
            found(Kind::Secret(SecretKind::AnthropicKey))
        } else if caps.name("openai").is_some() {
            found(Kind::Secret(SecretKind::OpenAiKey))
        } else if let Some(value) = caps.name("assignval") {
            validate::high_entropy(value.as_str()).then_some(Finding {
                kind: Kind::Secret(SecretKind::Assignment),
                start: value.start(),
                end: value.end(),
            })
        } else if caps.name("email").is_some() {
            found(Kind::Email)
        } else if caps.name("iban").is_some() {
            validate::iban(s)
                .then_some(())
                .and_then(|()| found(Kind::Iban))
        } else if caps.name("ssn").is_some() {
            validate::ssn(s)
                .then_some(())
                .and_then(|()| found(Kind::UsSsn))
        } else if caps.name("card").is_some() {
            validate::card(s)
                .then_some(())
                .and_then(|()| found(Kind::PaymentCard))
        } else if caps.name("ipv4").is_some() {
            validate::ipv4_in_context(text, start, end)
                .then_some(())
                .and_then(|()| found(Kind::IpAddress))
        } else if caps.name("ipv6").is_some() {
            validate::ipv6(s)
                .then_some(())
                .and_then(|()| found(Kind::IpAddress))
        } else {
            None
        };
        out.extend(finding);
    }
    out
}

/// Converts a finding's byte offsets to character offsets (what `warden pii
/// scan` prints, so other tools can use them on decoded text).
pub fn char_offsets(text: &str, f: &Finding) -> (usize, usize) {
    let start = text[..f.start].chars().count();
    (start, start + text[f.start..f.end].chars().count())
}

#[cfg(test)]
mod tests;
