//! The validated configuration. Values here have been checked: addresses
//! parse, globs compile, timeouts are in range, secrets are resolved.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use globset::GlobSet;
use secrecy::SecretString;
use warden_core::EndpointKind;

use crate::{ContentConfig, Source};

#[derive(Debug)]
pub struct Config {
    pub source: Source,
    /// Secrets a lenient load went without (always empty in a strict one):
    /// such a config is for reading, never for serving.
    pub missing_secrets: Vec<crate::MissingSecret>,
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub log: LogConfig,
    pub issuers: Vec<IssuerConfig>,
    pub keys: KeysConfig,
    pub connections: Vec<ConnectionConfig>,
    pub policy: PolicyConfig,
    pub limits: LimitsConfig,
    pub prices: PriceTable,
    pub pii: PiiConfig,
    pub content: ContentConfig,
    pub audit: AuditConfig,
    /// `None` without an `[admin]` section: no admin API at all.
    pub admin: Option<AdminConfig>,
    pub traces: TracesConfig,
    pub objects: ObjectsConfig,
    /// `None` without `[approvals]`.
    pub approvals: Option<ApprovalsConfig>,
}

/// Just-in-time approval (`[approvals]`).
#[derive(Debug, Clone)]
pub struct ApprovalsConfig {
    pub approver_groups: Vec<String>,
    pub hold: Duration,
    pub expiry: Duration,
    pub keepalive: Duration,
    pub max_grant: Duration,
    pub rules: Vec<ApprovalRule>,
    pub webhooks: Vec<ApprovalWebhook>,
}

impl ApprovalsConfig {
    pub fn rule(&self, id: &str) -> Option<&ApprovalRule> {
        self.rules.iter().find(|r| r.id == id)
    }
}

#[derive(Debug, Clone)]
pub struct ApprovalRule {
    pub id: String,
    pub groups: Option<Vec<String>>,
    pub models: Option<Vec<String>>,
    pub endpoints: Option<Vec<warden_core::EndpointKind>>,
    pub tools: Option<Vec<String>>,
    pub min_cost_usd_micros: Option<u64>,
    /// UTC minutes of the day, `[from, to)`, Monday to Friday.
    pub outside_hours: Option<(u16, u16)>,
    pub quorum: u32,
    pub approver_groups: Vec<String>,
    pub mode: warden_core::approval::ApprovalMode,
    /// Only where a Cedar permit's `@approval` names it.
    pub policy_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    Generic,
    Slack,
}

#[derive(Debug, Clone)]
pub struct ApprovalWebhook {
    /// May carry a token (Slack's URLs do): never shown.
    pub url: SecretString,
    pub format: WebhookFormat,
    pub secret: Option<SecretString>,
}

/// Stored objects (`[objects]`): each is its creator's.
#[derive(Debug, Clone, Default)]
pub struct ObjectsConfig {
    /// Members of these groups may use every caller's stored objects.
    pub admin_groups: Vec<String>,
}

/// Agent traces sent to Warden (`POST /v1/traces/ingest`).
#[derive(Debug, Clone, Default)]
pub struct TracesConfig {
    /// A connection each masked batch is also sent on to, with that
    /// connection's credential; `None`: traces stay in Warden.
    pub forward: Option<String>,
}

/// Who may use the admin API, and where it is served.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// A principal in any of these groups is an admin. Never empty.
    pub groups: Vec<String>,
    /// A separate listener; `None`: the main listener, under `/admin/v1/`.
    pub listen: Option<SocketAddr>,
}

/// The audit trail: how durable a record is before the caller's response
/// completes, and the signed checkpoints the server makes.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    pub durability: Durability,
    pub commit_timeout: Duration,
    /// Checkpoints are signed only when a key is configured.
    pub signing_key_file: Option<PathBuf>,
    pub checkpoint_interval: Duration,
    pub checkpoint_every: Option<u64>,
    pub checkpoint_file: Option<PathBuf>,
    pub checkpoint_webhook: Option<String>,
    /// Entries older than this are pruned hourly, up to the newest signed
    /// checkpoint that covers only older entries.
    pub retention: Option<Duration>,
    /// `None` without `[audit.export]`: the trail is not streamed anywhere.
    pub export: Option<ExportConfig>,
    /// Session recording: what is kept of each call beyond its record.
    pub record_bodies: RecordBodies,
    /// With `full`, each body is cut at this many bytes.
    pub body_max_bytes: usize,
    /// Recorded bodies older than this are deleted hourly.
    pub body_retention: Option<Duration>,
}

/// `[audit.export]`: the trail streamed to a SIEM webhook, at least once,
/// from a cursor kept in the store.
#[derive(Debug, Clone)]
pub struct ExportConfig {
    /// An http(s) URL. It may carry credentials (userinfo, a token in the
    /// query), so it is never shown whole: use [`ExportConfig::webhook_shown`].
    pub webhook: SecretString,
    /// The HMAC-SHA256 key each batch is signed with.
    pub secret: Option<SecretString>,
    /// Entries per POST, 1 to [`MAX_EXPORT_BATCH`].
    pub batch: u32,
    /// How often to look for new entries when no commit woke the exporter.
    pub interval: Duration,
    /// The cursor's name in the store.
    pub name: String,
}

/// The most entries one export POST carries.
pub const MAX_EXPORT_BATCH: u32 = 10_000;

impl ExportConfig {
    /// The webhook as logs may show it: scheme, host, port and path, without
    /// userinfo or query.
    pub fn webhook_shown(&self) -> String {
        use secrecy::ExposeSecret as _;
        shown_url(self.webhook.expose_secret())
    }
}

/// `scheme://host[:port]/path` of a URL: never its userinfo, query or
/// fragment.
pub(crate) fn shown_url(url: &str) -> String {
    let Ok(uri) = url.parse::<http::Uri>() else {
        return "(an unparsable URL)".into();
    };
    let scheme = uri.scheme_str().unwrap_or("?");
    let host = uri.host().unwrap_or("?");
    match uri.port_u16() {
        Some(port) => format!("{scheme}://{host}:{port}{}", uri.path()),
        None => format!("{scheme}://{host}{}", uri.path()),
    }
}

impl Default for AuditConfig {
    fn default() -> AuditConfig {
        AuditConfig {
            durability: Durability::Fsync,
            commit_timeout: Duration::from_secs(5),
            signing_key_file: None,
            checkpoint_interval: Duration::from_secs(60),
            checkpoint_every: None,
            checkpoint_file: None,
            checkpoint_webhook: None,
            retention: None,
            export: None,
            record_bodies: RecordBodies::Metadata,
            body_max_bytes: 256 * 1024,
            body_retention: None,
        }
    }
}

/// What session recording keeps of each call beyond its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordBodies {
    /// Nothing.
    Off,
    /// The answer's chunk times.
    Metadata,
    /// Chunk times, and the masked request and answer bodies (each up to
    /// `body_max_bytes`).
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Every group commit is fsync'd; a response completes only after its
    /// record's commit.
    Fsync,
    /// Records are written in the background (a crash may lose the last
    /// few); responses never wait for them.
    Async,
}

fn first_for<'a>(
    table: &'a [(String, Arc<warden_pii::mask::Profile>)],
    groups: &[String],
) -> Option<&'a Arc<warden_pii::mask::Profile>> {
    table
        .iter()
        .find(|(g, _)| g == "*" || groups.iter().any(|pg| pg == g))
        .map(|(_, p)| p)
}

/// Masking profiles and who they apply to.
#[derive(Debug, Clone, Default)]
pub struct PiiConfig {
    /// (group or `*`, profile), first match wins. Profiles are shared
    /// (`Arc`): a request's answer keeps its output profile for as long as
    /// the response streams, without copying it.
    pub apply: Vec<(String, Arc<warden_pii::mask::Profile>)>,
    /// (group or `*`, profile for the model's answers), first match wins.
    pub apply_output: Vec<(String, Arc<warden_pii::mask::Profile>)>,
    /// Every profile by name, for policies that attach one (`@mask`).
    pub profiles: std::collections::BTreeMap<String, Arc<warden_pii::mask::Profile>>,
    /// The external analyzer, when one is configured.
    pub analyzer: Option<AnalyzerConfig>,
}

/// An external analyzer (Presidio's REST API) for entity types the built-in
/// detectors cannot find (names, places).
#[derive(Debug, Clone)]
pub struct AnalyzerConfig {
    /// Base URL without trailing slash.
    pub url: String,
    /// Upper-case identifiers, none a built-in type; interned (`'static`)
    /// because masking profiles key their actions by `&'static str`.
    pub entities: Vec<&'static str>,
    /// Bound on the whole analyzer step of one request.
    pub timeout: Duration,
    /// Mask with the built-in detectors only when the analyzer cannot
    /// answer (default: refuse the request).
    pub fail_open: bool,
    pub score_threshold: f64,
    pub language: String,
}

impl AnalyzerConfig {
    /// The analyzer's entity types a profile has an action for: what to ask
    /// it for a caller that profile applies to (empty: do not ask).
    pub fn entities_for(&self, profile: &warden_pii::mask::Profile) -> Vec<&'static str> {
        self.entities
            .iter()
            .copied()
            .filter(|e| profile.actions.contains_key(e))
            .collect()
    }
}

impl PiiConfig {
    /// The profile for a caller in `groups`, if any applies.
    pub fn profile_for(&self, groups: &[String]) -> Option<&Arc<warden_pii::mask::Profile>> {
        first_for(&self.apply, groups)
    }

    /// The profile masking the model's answers for a caller in `groups`.
    pub fn output_profile_for(&self, groups: &[String]) -> Option<&Arc<warden_pii::mask::Profile>> {
        first_for(&self.apply_output, groups)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitBackend {
    /// Counters in this process.
    Memory,
    /// Counters in Redis, shared by every replica.
    Redis { url: String, prefix: String },
}

#[derive(Debug, Clone)]
pub struct LimitsConfig {
    pub backend: LimitBackend,
    /// Admit requests when the backend cannot answer (default: refuse).
    pub fail_open: bool,
    pub default_max_output_tokens: u64,
    pub rules: Vec<LimitRule>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitScope {
    /// One counter per principal (subject, or key id for Warden keys).
    Principal,
    /// One counter per Warden key; requests not made with a key are exempt.
    Key,
    /// One counter shared by every member of `group`.
    Group,
    /// One counter per model, shared by everyone.
    Model,
    /// One counter for everything the rule matches.
    Global,
}

#[derive(Debug, Clone)]
pub struct LimitRule {
    pub name: String,
    pub scope: LimitScope,
    pub group: Option<String>,
    pub model: Option<String>,
    pub requests_per_minute: Option<u64>,
    pub tokens_per_minute: Option<u64>,
    pub concurrent_requests: Option<u64>,
    /// Spend caps in micro-USD.
    pub usd_micros_per_day: Option<u64>,
    pub usd_micros_per_month: Option<u64>,
}

impl LimitRule {
    pub fn needs_tokens(&self) -> bool {
        self.tokens_per_minute.is_some() || self.needs_spend()
    }

    pub fn needs_spend(&self) -> bool {
        self.usd_micros_per_day.is_some() || self.usd_micros_per_month.is_some()
    }
}

/// Prices in micro-USD per token (= USD per million tokens).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub input: f64,
    pub cached_input: f64,
    pub output: f64,
}

#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    /// Model pattern (`*` wildcard) and its price; the first match wins,
    /// exact names before patterns.
    pub entries: Vec<(String, Price)>,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Largest JSON body Warden reads to inspect (413 beyond).
    pub max_body_bytes: u64,
    /// Largest multipart/binary body streamed through (files, uploads, audio).
    pub max_upload_bytes: u64,
    /// Deepest JSON nesting accepted (400 beyond).
    pub max_json_depth: usize,
    pub shutdown_grace: Duration,
    /// How long a connection may take to send a request's head (its first
    /// bytes included); past it the connection is closed.
    pub header_timeout: Duration,
    /// How long a body Warden reads whole (JSON, multipart) may take to
    /// arrive; past it: 408.
    pub body_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub sqlite_path: PathBuf,
    /// When set, records, keys and the audit trail live in PostgreSQL
    /// (several replicas share one chain) instead of the SQLite file.
    pub postgres_url: Option<SecretString>,
    /// The variable `postgres_url` comes from: set whenever the store is
    /// PostgreSQL, also when a lenient load went without the URL, so such
    /// a config fails to open its store rather than falling back to SQLite.
    pub postgres_url_env: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub format: LogFormat,
    /// An `EnvFilter` directive (`info`, `warden=debug`).
    pub level: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlgorithm {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    EdDsa,
}

impl SigningAlgorithm {
    /// Asymmetric algorithms only: HMAC and `none` are never accepted, since
    /// a verifier holding only public keys cannot use them safely.
    pub const ALL: [SigningAlgorithm; 9] = [
        SigningAlgorithm::Rs256,
        SigningAlgorithm::Rs384,
        SigningAlgorithm::Rs512,
        SigningAlgorithm::Ps256,
        SigningAlgorithm::Ps384,
        SigningAlgorithm::Ps512,
        SigningAlgorithm::Es256,
        SigningAlgorithm::Es384,
        SigningAlgorithm::EdDsa,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            SigningAlgorithm::Rs256 => "RS256",
            SigningAlgorithm::Rs384 => "RS384",
            SigningAlgorithm::Rs512 => "RS512",
            SigningAlgorithm::Ps256 => "PS256",
            SigningAlgorithm::Ps384 => "PS384",
            SigningAlgorithm::Ps512 => "PS512",
            SigningAlgorithm::Es256 => "ES256",
            SigningAlgorithm::Es384 => "ES384",
            SigningAlgorithm::EdDsa => "EdDSA",
        }
    }

    pub fn parse(s: &str) -> Option<SigningAlgorithm> {
        SigningAlgorithm::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

#[derive(Debug, Clone)]
pub struct IssuerConfig {
    pub name: String,
    /// Exact `iss` value; discovery is fetched from `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    pub audiences: Vec<String>,
    pub jwks_uri: Option<String>,
    /// Dotted path to the groups claim (`groups`, `realm_access.roles`).
    pub groups_claim: Vec<String>,
    pub principal_kind: warden_core::PrincipalKind,
    pub algorithms: Vec<SigningAlgorithm>,
    pub leeway: Duration,
    /// Periodic JWKS refresh.
    pub jwks_refresh: Duration,
    /// Least time between two refreshes triggered by an unknown `kid`.
    pub jwks_min_refresh: Duration,
}

#[derive(Debug, Clone)]
pub struct KeysConfig {
    pub enabled: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamAuth {
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// `api-key: <key>` (Azure OpenAI).
    ApiKeyHeader,
}

#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    pub name: String,
    /// Base URL without trailing slash, ending in the API version (`.../v1`).
    pub base_url: String,
    /// `None` only for the embedded default when `OPENAI_API_KEY` is unset:
    /// Warden starts and refuses calls to this connection with a clear error.
    pub credential: Option<SecretString>,
    /// Where the credential comes from, for messages (never the value).
    pub credential_source: String,
    pub auth: UpstreamAuth,
    pub models: ModelPatterns,
    pub default: bool,
    pub connect_timeout: Duration,
    pub first_byte_timeout: Duration,
    pub idle_timeout: Duration,
    pub headers: Vec<(String, String)>,
}

/// Model globs, kept as text (for Cedar and display) and compiled (for routing).
#[derive(Debug, Clone)]
pub struct ModelPatterns {
    pub globs: Vec<String>,
    pub set: GlobSet,
}

impl ModelPatterns {
    pub fn matches(&self, model: &str) -> bool {
        self.set.is_match(model)
    }
}

#[derive(Debug, Clone, Default)]
pub struct PolicyConfig {
    pub groups: Vec<GroupRule>,
    /// Raw Cedar sources, with where each came from.
    pub cedar: Vec<CedarSource>,
}

#[derive(Debug, Clone)]
pub struct GroupRule {
    pub group: String,
    pub models: Vec<String>,
    /// Empty means every model-bearing endpoint.
    pub endpoints: Vec<EndpointKind>,
}

#[derive(Debug, Clone)]
pub struct CedarSource {
    pub origin: String,
    pub text: String,
}

impl Config {
    /// The connection serving a model: the first whose patterns match.
    pub fn connection_for_model(&self, model: &str) -> Option<&ConnectionConfig> {
        self.connections.iter().find(|c| c.models.matches(model))
    }

    /// The connection for model-less endpoints (files, batches, ...).
    pub fn default_connection(&self) -> Option<&ConnectionConfig> {
        self.connections
            .iter()
            .find(|c| c.default)
            .or(self.connections.first())
    }
}
