//! Detectors for personal data and secrets in text. Pure: no I/O.
//!
//! One pass: all patterns are compiled into one multi-pattern automaton
//! (`regex-automata`'s meta engine), which reports the leftmost candidate and
//! which pattern found it, so the text is scanned once, in time linear in its
//! length (no backtracking, hence no catastrophic cases), and no capture
//! groups are resolved on the hot path. Each candidate is then
//! checked by its validator (Luhn for cards, mod-97 and country lengths for
//! IBANs, the SSA's invalid ranges for SSNs, address parsing for IPs,
//! libphonenumber's metadata for phones (`phone.rs`), entropy for generic
//! secrets), which keeps ordinary numbers, amounts, versions, UUIDs and
//! timestamps from being reported. Runs of digits are read once and
//! decided as an SSN, a card, a phone or nothing in `number.rs`; words
//! before a bare value (`SSN`, `Tel.`, a CSV column) in `context.rs`.
//!
//! Offsets are byte offsets into the text; [`char_offsets`] converts them.
//!

mod context;
pub mod json;
pub mod mask;
mod number;
mod phone;
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
    GoogleApiKey,
    GoogleOauthSecret,
    StripeKey,
    NpmToken,
    PypiToken,
    SendgridKey,
    TwilioKey,
    HuggingfaceToken,
    SlackWebhook,
    DigitaloceanToken,
    ShopifyToken,
    TelegramBotToken,
    /// A 40-character AWS secret access key, named as one.
    AwsSecretKey,
    /// An Azure storage account or Service Bus shared access key.
    AzureKey,
    /// The password in a URL's user info (`postgres://app:PASSWORD@db`).
    UrlPassword,
    /// An `Authorization: Bearer` or `Basic` credential.
    AuthHeader,
    /// A value assigned to a name like `api_key` or `password`, or named
    /// as a secret in prose.
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
            SecretKind::GoogleApiKey => "google_api_key",
            SecretKind::GoogleOauthSecret => "google_oauth_secret",
            SecretKind::StripeKey => "stripe_key",
            SecretKind::NpmToken => "npm_token",
            SecretKind::PypiToken => "pypi_token",
            SecretKind::SendgridKey => "sendgrid_key",
            SecretKind::TwilioKey => "twilio_key",
            SecretKind::HuggingfaceToken => "huggingface_token",
            SecretKind::SlackWebhook => "slack_webhook",
            SecretKind::DigitaloceanToken => "digitalocean_token",
            SecretKind::ShopifyToken => "shopify_token",
            SecretKind::TelegramBotToken => "telegram_bot_token",
            SecretKind::AwsSecretKey => "aws_secret_key",
            SecretKind::AzureKey => "azure_key",
            SecretKind::UrlPassword => "url_password",
            SecretKind::AuthHeader => "auth_header",
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
    SlackWebhook,
    Anthropic,
    OpenAi,
    GoogleApiKey,
    GoogleOauth,
    Stripe,
    Npm,
    Pypi,
    Sendgrid,
    Twilio,
    Huggingface,
    Digitalocean,
    Shopify,
    Telegram,
    UrlPassword,
    Auth,
    Assign,
    Email,
    Iban,
    Ipv4,
    Ipv6,
    /// Seven or more digits, grouped any way: SSN, card or phone.
    Number,
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
    (
        Tag::SlackWebhook,
        r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_-]{20,}",
    ),
    (Tag::Anthropic, r"\bsk-ant-[A-Za-z0-9_-]{20,}"),
    (
        Tag::OpenAi,
        r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}",
    ),
    (Tag::GoogleApiKey, r"\bAIza[0-9A-Za-z_-]{35}"),
    (Tag::GoogleOauth, r"\bGOCSPX-[A-Za-z0-9_-]{28}"),
    (
        Tag::Stripe,
        r"\b(?:(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{24,247}|whsec_[A-Za-z0-9+/=]{32,})",
    ),
    (Tag::Npm, r"\bnpm_[A-Za-z0-9]{36}\b"),
    (Tag::Pypi, r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}"),
    (Tag::Sendgrid, r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}"),
    (Tag::Twilio, r"\bSK[0-9a-fA-F]{32}\b"),
    (Tag::Huggingface, r"\bhf_[A-Za-z0-9]{34,40}\b"),
    (Tag::Digitalocean, r"\bdo[opr]_v1_[a-f0-9]{64}\b"),
    (Tag::Shopify, r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b"),
    (Tag::Telegram, r"\b[0-9]{8,10}:AA[A-Za-z0-9_-]{33}"),
    (Tag::UrlPassword, URL_PASSWORD),
    (Tag::Auth, AUTH_HEADER),
    (Tag::Assign, ASSIGN),
    (
        Tag::Email,
        r"\b[A-Za-z0-9._%+'-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}\b",
    ),
    (
        Tag::Iban,
        r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b",
    ),
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
    // A marker (`tel:`, `+`, an opening parenthesis) or a word boundary,
    // then seven or more digits, each pair at most one separator apart
    // (space, no-break space, `.`, `-`, `/`, or parentheses around a group).
    (
        Tag::Number,
        "(?:tel:\\+?|\\+|\\(\\+?|\\b)[0-9](?:(?:[ .\\-/\u{a0}]|[ .\\-\u{a0}]?\\(|\\)[ .\\-\u{a0}]?)?[0-9]){6,}\\b\\)?",
    ),
];

/// A name like `api_key`, `AWS_SECRET_ACCESS_KEY`, `awsSecretAccessKey` or
/// `password` (any prefix or suffix, any case), then `:`, `=`, `:=`, `=>`
/// or, in prose, `is`; then the value. JSON, YAML, `.env`, `export` and
/// connection strings (`Password=...;`) all have this shape.
const ASSIGN: &str = r#"(?i:(?P<key>api[_.-]?key|apikey|secret|token|passw(?:or)?d|passphrase|pwd|access[_.-]?key|private[_.-]?key|auth|credential|accountkey|sharedaccesskey|signature|conn(?:ection)?[_.-]?str(?:ing)?)[A-Za-z0-9_.-]*)(?:(?i:[ \t]+(?:key|token))?["']?(?:[ \t]*(?::=|=>|[:=])[ \t]*|[ \t]+(?i:is|was)[ \t]*:?[ \t]+)|(?i:[ \t]+(?:key|token))(?P<bare>[ \t]+))["'`]?(?P<value>[^\s"'`,;<>(){}\[\]]{6,})"#;

/// A URL with a password in its user info.
const URL_PASSWORD: &str = r#"\b[A-Za-z][A-Za-z0-9+.-]{1,20}://[^\s:/@"'<>]{1,64}:(?P<value>[^\s@/"'<>]{1,128})@[A-Za-z0-9\[]"#;

/// An HTTP `Bearer` or `Basic` credential.
const AUTH_HEADER: &str =
    r"(?i:\b(?P<scheme>bearer|basic))[ \t]+(?P<value>[A-Za-z0-9\-._~+/]{8,}=*)";

struct Engine {
    /// All patterns at once: the leftmost match, and which pattern made it.
    /// A multi-pattern DFA search, with no capture groups to resolve.
    all: regex_automata::meta::Regex,
    /// The patterns whose value is a part of their match.
    assign: regex::Regex,
    url_password: regex::Regex,
    auth: regex::Regex,
}

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    // The patterns are constants; a failure here is a bug caught by every test.
    let compile = |p: &str| regex::Regex::new(p).unwrap_or_else(|e| unreachable!("{p}: {e}"));
    ENGINE.get_or_init(|| Engine {
        // ASCII word boundaries: every pattern is ASCII, and a Unicode `\b`
        // makes the DFA give up on any non-ASCII text.
        all: regex_automata::meta::Builder::new()
            .configure(regex_automata::meta::Config::new().hybrid_cache_capacity(8 << 20))
            .build_many(
                &PATTERNS
                    .iter()
                    .map(|(_, p)| p.replace(r"\b", r"(?-u:\b)"))
                    .collect::<Vec<_>>(),
            )
            .unwrap_or_else(|e| unreachable!("PATTERNS: {e}")),
        assign: compile(ASSIGN),
        url_password: compile(URL_PASSWORD),
        auth: compile(AUTH_HEADER),
    })
}

/// Detector settings that are not per entity type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detect {
    /// Regions preferred when a national number is valid for several.
    /// Numbers of every region are recognised whatever this says.
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

/// Loads the detectors' tables, so no request pays for them: the one-pass
/// automaton and every region's phone patterns, the configured regions
/// first (tens of milliseconds in all). Blocking: call it at start-up, off
/// the async runtime. Without it, each compiles on first use.
pub fn warm_up(detect: &Detect) {
    let _ = engine();
    let _ = context::before("tel", 3, &mut context::Tables::default());
    let phones = phone::Phones::get();
    for region in &detect.phone_regions {
        phones.warm(*region);
    }
    phones.warm_all();
}

/// Every finding in `text`, in order, non-overlapping, with the default
/// settings.
pub fn scan(text: &str) -> Vec<Finding> {
    scan_with(text, Detect::default_ref())
}

/// Every finding in `text`, in order, non-overlapping.
pub fn scan_with(text: &str, detect: &Detect) -> Vec<Finding> {
    scan_after("", text, detect)
}

/// [`scan_with`], for a text that follows `prior` in the same request or
/// answer (the previous field, message or streamed piece): words at the
/// end of `prior` mark bare values at the start of `text`, so a context
/// word and its value cannot be split across two fields to pass unmasked.
/// Findings are in `text` only.
pub fn scan_after(prior: &str, text: &str, detect: &Detect) -> Vec<Finding> {
    let engine = engine();
    let mut tables = context::Tables::after(prior);
    let mut out = Vec::new();
    let mut at = 0;
    while at < text.len() {
        let input = regex_automata::Input::new(text).range(at..);
        let Some(m) = engine.all.search(&input) else {
            break;
        };
        let (start, end) = (m.start(), m.end());
        let tag = PATTERNS[m.pattern().as_usize()].0;
        if tag == Tag::Number {
            match number::classify(text, start, end, &detect.phone_regions, &mut tables) {
                number::Verdict::Found(kind, s, e) => {
                    out.push(Finding {
                        kind,
                        start: s,
                        end: e,
                    });
                    at = e.max(start + 1);
                }
                number::Verdict::Resume(next) => at = next.max(start + 1),
            }
            continue;
        }
        match classify(tag, text, start, end, engine) {
            Some(f) => {
                out.push(f);
                at = f.end.max(start + 1);
            }
            // A name whose value is no secret may be followed by one
            // (`Authorization: Bearer ...`): search again from the value.
            None => {
                let re = match tag {
                    Tag::Assign => Some(&engine.assign),
                    Tag::Auth => Some(&engine.auth),
                    Tag::UrlPassword => Some(&engine.url_password),
                    _ => None,
                };
                at = re
                    .and_then(|re| re.captures(&text[start..end]))
                    .and_then(|c| c.name("value"))
                    .map_or(end, |v| start + v.start().max(1));
            }
        }
    }
    out
}

/// Runs the validator for the pattern that matched `text[start..end]`.
fn classify(tag: Tag, text: &str, start: usize, end: usize, engine: &Engine) -> Option<Finding> {
    let s = &text[start..end];
    let found = |kind| Some(Finding { kind, start, end });
    let secret = |k| found(Kind::Secret(k));
    // The value part of a pattern: only it is the secret, not the name.
    let value = |re: &regex::Regex| {
        let caps = re.captures(s)?;
        let v = caps.name("value")?;
        Some((caps, v.start() + start, v.end() + start))
    };
    let part = |k, (a, b): (usize, usize)| {
        Some(Finding {
            kind: Kind::Secret(k),
            start: a,
            end: b,
        })
    };
    match tag {
        Tag::Pem => secret(SecretKind::PrivateKey),
        Tag::Jwt => validate::jwt(s).then(|| secret(SecretKind::Jwt))?,
        Tag::Aws => secret(SecretKind::AwsAccessKey),
        Tag::Github => secret(SecretKind::GithubToken),
        Tag::Gitlab => secret(SecretKind::GitlabToken),
        Tag::Slack => secret(SecretKind::SlackToken),
        Tag::SlackWebhook => secret(SecretKind::SlackWebhook),
        Tag::Anthropic => secret(SecretKind::AnthropicKey),
        Tag::OpenAi => secret(SecretKind::OpenAiKey),
        Tag::GoogleApiKey => secret(SecretKind::GoogleApiKey),
        Tag::GoogleOauth => secret(SecretKind::GoogleOauthSecret),
        Tag::Stripe => secret(SecretKind::StripeKey),
        Tag::Npm => secret(SecretKind::NpmToken),
        Tag::Pypi => secret(SecretKind::PypiToken),
        Tag::Sendgrid => secret(SecretKind::SendgridKey),
        Tag::Twilio => secret(SecretKind::TwilioKey),
        Tag::Huggingface => secret(SecretKind::HuggingfaceToken),
        Tag::Digitalocean => secret(SecretKind::DigitaloceanToken),
        Tag::Shopify => secret(SecretKind::ShopifyToken),
        Tag::Telegram => secret(SecretKind::TelegramBotToken),
        Tag::UrlPassword => {
            let (_, a, b) = value(&engine.url_password)?;
            let next = text.as_bytes().get(b).copied();
            validate::password_value(&text[a..b], next)
                .then(|| part(SecretKind::UrlPassword, (a, b)))?
        }
        Tag::Auth => {
            let (caps, a, b) = value(&engine.auth)?;
            let v = &text[a..b];
            let basic = caps
                .name("scheme")
                .is_some_and(|m| m.as_str().eq_ignore_ascii_case("basic"));
            let ok = if basic {
                validate::basic_credentials(v)
            } else {
                v.len() >= 16 && validate::high_entropy(v)
            };
            ok.then(|| part(SecretKind::AuthHeader, (a, b)))?
        }
        Tag::Assign => {
            let (caps, a, b) = value(&engine.assign)?;
            let v = &text[a..b];
            let key = caps.name("key").map_or("", |m| m.as_str());
            let whole_key = caps.get(0).map_or("", |m| m.as_str());
            let next = text.as_bytes().get(b).copied();
            // Only a space between name and value (`secret key wJal...`):
            // prose, so the value must look random whatever the name.
            if caps.name("bare").is_some() && !validate::high_entropy(v) {
                return None;
            }
            let kind = assigned(key, whole_key, v, next)?;
            part(kind, (a, b))
        }
        Tag::Email => found(Kind::Email),
        Tag::Iban => validate::iban(s).then(|| found(Kind::Iban))?,
        Tag::Ipv4 => validate::ipv4_in_context(text, start, end).then(|| found(Kind::IpAddress))?,
        Tag::Ipv6 => validate::ipv6(s).then(|| found(Kind::IpAddress))?,
        Tag::Number => None,
    }
}

/// What a value assigned to a secret-like name is, if it is a secret:
/// passwords by their shape (not a placeholder, a word or a reference),
/// keys and tokens by their entropy.
fn assigned(key: &str, name: &str, value: &str, next: Option<u8>) -> Option<SecretKind> {
    let key = key.to_ascii_lowercase();
    if key.starts_with("pass") || key == "pwd" {
        return validate::password_value(value, next).then_some(SecretKind::Assignment);
    }
    if value.contains("://") || matches!(next, Some(b'(' | b'[')) {
        return None;
    }
    // Hex tokens (Twilio auth tokens, many API secrets) have at most four
    // bits a character: their length and mix speak for them instead.
    let hex_token = value.len() >= 32
        && value.bytes().all(|b| b.is_ascii_hexdigit())
        && value.bytes().any(|b| b.is_ascii_alphabetic())
        && value.bytes().any(|b| b.is_ascii_digit());
    if !(hex_token || (value.len() >= 16 && validate::high_entropy(value))) {
        return None;
    }
    let name = name.to_ascii_lowercase();
    if key == "accountkey" || key == "sharedaccesskey" {
        return Some(SecretKind::AzureKey);
    }
    // AWS secret access keys: 40 characters of base64's alphabet, named as
    // AWS's or as a secret.
    let aws = name.contains("aws") || key == "secret";
    let base64ish = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'+');
    if aws && value.len() == 40 && base64ish && !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some(SecretKind::AwsSecretKey);
    }
    Some(SecretKind::Assignment)
}

/// Converts a finding's byte offsets to character offsets (what `warden pii
/// scan` prints, so other tools can use them on decoded text).
pub fn char_offsets(text: &str, f: &Finding) -> (usize, usize) {
    let start = text[..f.start].chars().count();
    (start, start + text[f.start..f.end].chars().count())
}

#[cfg(test)]
mod tests;
