//! Detectors for personal data and secrets in text. Pure: no I/O.
//!
//! One pass: all patterns are compiled into one multi-pattern automaton
//! (`regex-automata`'s meta engine), which reports the leftmost candidate and
//! which pattern found it, so the text is scanned once, in time linear in its
//! length (no backtracking, hence no catastrophic cases), and no capture
//! groups are resolved on the hot path. Each candidate is then
//! checked by its validator (Luhn for cards, mod-97 and country lengths for
//! IBANs, the SSA's invalid ranges for SSNs, address parsing for IPs,
//! libphonenumber's metadata (the `phonenumber` crate) for phones, entropy for
//! generic secrets), which keeps ordinary numbers, amounts, versions,
//! UUIDs and timestamps from being reported.
//!
//! Offsets are byte offsets into the text; [`char_offsets`] converts them.
//!

pub mod json;
pub mod mask;
pub mod stream;
mod validate;

use std::sync::OnceLock;

/// What was found. `as_str` is the entity type name used in config and records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Email,
    Phone,
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
            Kind::Phone => "PHONE_NUMBER",
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

/// What each pattern finds. The order is the priority: where two patterns
/// match at the same position, the earlier one wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tag {
    Pem,
    Jwt,
    Aws,
    Github,
    Gitlab,
    Slack,
    Anthropic,
    OpenAi,
    Assign,
    Email,
    Iban,
    Ssn,
    Card,
    Ipv4,
    Ipv6,
    PhoneIntl,
    PhoneNational,
}

impl Tag {
    const fn numeric(self) -> bool {
        matches!(
            self,
            Tag::Ssn | Tag::Card | Tag::Ipv4 | Tag::PhoneIntl | Tag::PhoneNational
        )
    }
}

const PATTERNS: &[(Tag, &str)] = &[
    (
        Tag::Pem,
        r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z]+ )*PRIVATE KEY-----",
    ),
    (
        Tag::Jwt,
        r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}",
    ),
    (Tag::Aws, r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b"),
    (
        Tag::Github,
        r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b",
    ),
    (Tag::Gitlab, r"\bglpat-[A-Za-z0-9_-]{20,}"),
    (Tag::Slack, r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    (Tag::Anthropic, r"\bsk-ant-[A-Za-z0-9_-]{20,}"),
    (
        Tag::OpenAi,
        r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}",
    ),
    (Tag::Assign, ASSIGN),
    (
        Tag::Email,
        r"\b[A-Za-z0-9._%+'-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}\b",
    ),
    (
        Tag::Iban,
        r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b",
    ),
    (Tag::Ssn, r"\b[0-9]{3}[- ][0-9]{2}[- ][0-9]{4}\b"),
    (Tag::Card, r"\b[0-9](?:[ -]?[0-9]){12,18}\b"),
    (
        Tag::Ipv4,
        r"\b(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\b",
    ),
    (
        Tag::Ipv6,
        // Whole tokens only: a word character may neither precede nor follow
        // (`abc::def` is not an address, and `::1bob` not `::1b` + `ob`).
        r"(?:\b[0-9A-Fa-f]{1,4}|(?-u:\B)):[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*[0-9A-Fa-f]\b",
    ),
    // `+<country code>` then groups of digits, some in parentheses.
    (
        Tag::PhoneIntl,
        r"\+[1-9][0-9]{0,3}(?:[ .-]?\(?[0-9]{1,5}\)?){1,6}\b",
    ),
    // National formats need their separators or an area code in parentheses:
    // a bare run of digits is more often an order number than a phone.
    (
        Tag::PhoneNational,
        r"(?:\([0-9]{2,5}\) ?|\b[0-9]{2,5}[ .-])[0-9]{2,5}(?:[ .-][0-9]{2,5}){0,3}\b",
    ),
];

/// A name like `api_key` or `password`, then `:` or `=`, then the value.
const ASSIGN: &str = r#"(?i:\b(?:api[_-]?key|secret(?:[_-]?key)?|token|password|passwd|pwd|access[_-]?key|client[_-]?secret|auth)\b)[ \t]*[:=][ \t]*["']?(?P<value>[A-Za-z0-9/+_=.\-]{16,})"#;

/// A numeric candidate (digit groups) that fails its validator and is at
/// most this long is searched again from its next character, so it cannot
/// hide a real value that starts inside it (an order number running into a
/// phone or card number). Other candidates (a malformed IBAN, say) are
/// skipped whole: their digits are not worth a second look for a Luhn-valid
/// run that one time in ten appears by chance. Longer ones are
/// skipped whole, which keeps the scan linear: each byte is looked at again at
/// most this many times.
const RESCAN_SPAN: usize = 64;

struct Engine {
    /// All patterns at once: the leftmost match, and which pattern made it.
    /// A multi-pattern DFA search, with no capture groups to resolve.
    all: regex_automata::meta::Regex,
    /// The one pattern whose value is a part of its match.
    assign: regex::Regex,
}

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    // The patterns are constants; a failure here is a bug caught by every test.
    ENGINE.get_or_init(|| Engine {
        // ASCII word boundaries: every pattern is ASCII, and a Unicode `\b`
        // makes the DFA give up on any non-ASCII text.
        all: regex_automata::meta::Regex::new_many(
            &PATTERNS
                .iter()
                .map(|(_, p)| p.replace(r"\b", r"(?-u:\b)"))
                .collect::<Vec<_>>(),
        )
        .unwrap_or_else(|e| unreachable!("PATTERNS: {e}")),
        assign: regex::Regex::new(ASSIGN).unwrap_or_else(|e| unreachable!("ASSIGN: {e}")),
    })
}

/// Detector settings that are not per entity type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detect {
    /// Regions whose national phone formats are recognised (numbers written
    /// with `+<country code>` are recognised for every region).
    pub phone_regions: Vec<phonenumber::country::Id>,
}

impl Default for Detect {
    fn default() -> Self {
        Detect {
            phone_regions: vec![phonenumber::country::Id::US],
        }
    }
}

impl Detect {
    fn default_ref() -> &'static Detect {
        static DEFAULT: OnceLock<Detect> = OnceLock::new();
        DEFAULT.get_or_init(Detect::default)
    }

    /// Parses region codes such as `US` or `gb`.
    pub fn with_regions<'a>(codes: impl IntoIterator<Item = &'a str>) -> Result<Detect, String> {
        let phone_regions = codes
            .into_iter()
            .map(|c| {
                c.to_ascii_uppercase()
                    .parse::<phonenumber::country::Id>()
                    .map_err(|_| {
                        format!(
                            "unknown phone region `{c}` (use ISO 3166 codes such as US, GB, DE)"
                        )
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Detect { phone_regions })
    }
}

/// Loads the detectors' tables (the phone metadata takes tens of
/// milliseconds), so the first request does not pay for it. Blocking: call
/// it at start-up, off the async runtime.
pub fn warm_up(detect: &Detect) {
    let _ = engine();
    for region in &detect.phone_regions {
        let _ = phonenumber::parse(Some(*region), "+1 202 555 0143");
    }
}

/// Every finding in `text`, in order, non-overlapping, with the default
/// settings (US national phone formats).
pub fn scan(text: &str) -> Vec<Finding> {
    scan_with(text, Detect::default_ref())
}

/// Every finding in `text`, in order, non-overlapping.
pub fn scan_with(text: &str, detect: &Detect) -> Vec<Finding> {
    let engine = engine();
    let mut out = Vec::new();
    let mut at = 0;
    while at < text.len() {
        let input = regex_automata::Input::new(text).range(at..);
        let Some(m) = engine.all.search(&input) else {
            break;
        };
        let (start, end) = (m.start(), m.end());
        let tag = PATTERNS[m.pattern().as_usize()].0;
        let found = classify(tag, text, start, end, detect, engine).or_else(|| {
            tag.numeric()
                .then(|| shorter(tag, text, start, end, detect, engine))
                .flatten()
        });
        match found {
            Some(f) => {
                out.push(f);
                at = f.end.max(start + 1);
            }
            None if tag.numeric() && end - start <= RESCAN_SPAN => at = next_char(text, start),
            None => at = end,
        }
    }
    out
}

/// A numeric candidate that failed may be a valid value followed by more
/// digits: a card and its CVV (`4111 1111 1111 1111 123`), a phone and a
/// count (`+1 202 555 0143 24/7`). The regex took the longest run, so the
/// prefixes that end at a separator are tried too, longest first.
fn shorter(
    tag: Tag,
    text: &str,
    start: usize,
    end: usize,
    detect: &Detect,
    engine: &Engine,
) -> Option<Finding> {
    let bytes = text.as_bytes();
    (start + 1..end)
        .rev()
        .filter(|&p| matches!(bytes[p], b' ' | b'-' | b'.') && bytes[p - 1].is_ascii_alphanumeric())
        .find_map(|p| classify(tag, text, start, p, detect, engine))
}

fn next_char(text: &str, i: usize) -> usize {
    let mut j = i + 1;
    while !text.is_char_boundary(j) {
        j += 1;
    }
    j
}

/// Runs the validator for the pattern that matched `text[start..end]`.
fn classify(
    tag: Tag,
    text: &str,
    start: usize,
    end: usize,
    detect: &Detect,
    engine: &Engine,
) -> Option<Finding> {
    let s = &text[start..end];
    let found = |kind| Some(Finding { kind, start, end });
    let secret = |k| found(Kind::Secret(k));
    match tag {
        Tag::Pem => secret(SecretKind::PrivateKey),
        Tag::Jwt => validate::jwt(s).then(|| secret(SecretKind::Jwt))?,
        Tag::Aws => secret(SecretKind::AwsAccessKey),
        Tag::Github => secret(SecretKind::GithubToken),
        Tag::Gitlab => secret(SecretKind::GitlabToken),
        Tag::Slack => secret(SecretKind::SlackToken),
        Tag::Anthropic => secret(SecretKind::AnthropicKey),
        Tag::OpenAi => secret(SecretKind::OpenAiKey),
        Tag::Assign => {
            // Only the value is the secret, not the name before it.
            let value = engine.assign.captures(s)?.name("value")?;
            validate::high_entropy(value.as_str()).then_some(Finding {
                kind: Kind::Secret(SecretKind::Assignment),
                start: start + value.start(),
                end: start + value.end(),
            })
        }
        Tag::Email => found(Kind::Email),
        Tag::Iban => validate::iban(s).then(|| found(Kind::Iban))?,
        // A digit group that is not a valid SSN or card may still be a phone
        // number written without `+` (`0044 20 7946 0958`).
        Tag::Ssn if validate::ssn(s) => found(Kind::UsSsn),
        Tag::Card if validate::card(s) => found(Kind::PaymentCard),
        Tag::Ipv4 => validate::ipv4_in_context(text, start, end).then(|| found(Kind::IpAddress))?,
        Tag::Ipv6 => validate::ipv6(s).then(|| found(Kind::IpAddress))?,
        Tag::Ssn | Tag::Card | Tag::PhoneNational | Tag::PhoneIntl => {
            validate::phone(s, &detect.phone_regions).then(|| found(Kind::Phone))?
        }
    }
}

/// Converts a finding's byte offsets to character offsets (what `warden pii
/// scan` prints, so other tools can use them on decoded text).
pub fn char_offsets(text: &str, f: &Finding) -> (usize, usize) {
    let start = text[..f.start].chars().count();
    (start, start + text[f.start..f.end].chars().count())
}

#[cfg(test)]
mod tests;
