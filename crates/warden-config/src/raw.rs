//! The file's shape, as serde reads it. Every struct refuses unknown keys so a
//! typo (`audiance`) stops start-up instead of silently disabling a check.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub store: RawStore,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default, rename = "issuer")]
    pub issuers: Vec<RawIssuer>,
    #[serde(default)]
    pub keys: RawKeys,
    #[serde(default, rename = "connection")]
    pub connections: Vec<RawConnection>,
    #[serde(default)]
    pub policy: RawPolicy,
    #[serde(default)]
    pub limits: RawLimits,
    /// Model glob -> USD per million tokens.
    #[serde(default)]
    pub prices: BTreeMap<String, RawPrice>,
    #[serde(default)]
    pub pii: RawPii,
    #[serde(default)]
    pub content: RawContent,
    #[serde(default)]
    pub audit: RawAudit,
    /// Absent: no admin API (it answers 404).
    #[serde(default)]
    pub admin: Option<RawAdmin>,
    #[serde(default)]
    pub traces: RawTraces,
    #[serde(default)]
    pub objects: RawObjects,
    /// Absent: no call needs approval, and an `@approval` annotation is an
    /// error.
    pub approvals: Option<RawApprovals>,
}

/// Just-in-time approval.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApprovals {
    /// Members of these groups may decide (required; rules may narrow).
    pub approver_groups: Option<Vec<String>>,
    /// How long a held call waits for a decision (default 9m30s).
    #[serde(default, with = "humantime_serde")]
    pub hold: Option<Duration>,
    /// How long an approval asked for in async mode stays pending, and an
    /// approved one stays usable (default 1h).
    #[serde(default, with = "humantime_serde")]
    pub expiry: Option<Duration>,
    /// Streaming callers held this long get SSE comment keep-alives from
    /// then on, at this interval (default 15s).
    #[serde(default, with = "humantime_serde")]
    pub keepalive: Option<Duration>,
    /// The longest grant an approver may give (default 24h).
    #[serde(default, with = "humantime_serde")]
    pub max_grant: Option<Duration>,
    #[serde(default, rename = "rule")]
    pub rules: Vec<RawApprovalRule>,
    #[serde(default, rename = "webhook")]
    pub webhooks: Vec<RawApprovalWebhook>,
}

/// When calls need approval. Every condition given must hold; a rule with
/// none covers every call of its groups.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApprovalRule {
    pub id: String,
    /// Callers in any of these groups (default: everyone).
    pub groups: Option<Vec<String>>,
    /// Model globs.
    pub models: Option<Vec<String>>,
    /// Endpoint kinds.
    pub endpoints: Option<Vec<String>>,
    /// The request offers a tool matching one of these globs.
    pub tools: Option<Vec<String>>,
    /// The estimated cost is at least this many USD.
    pub min_cost_usd: Option<f64>,
    /// Only outside these UTC hours, `"HH:MM-HH:MM"` (weekends are outside).
    pub outside_hours: Option<String>,
    /// Distinct approvals needed (default 1).
    pub quorum: Option<u32>,
    /// Who decides for this rule (default: `approvals.approver_groups`).
    pub approver_groups: Option<Vec<String>>,
    /// `hold` (default) or `async`.
    pub mode: Option<String>,
    /// Applies only where a Cedar permit's `@approval` names it (no
    /// conditions of its own).
    #[serde(default)]
    pub policy_only: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApprovalWebhook {
    pub url: String,
    /// `generic` (default: JSON, HMAC-signed) or `slack`.
    pub format: Option<String>,
    /// Environment variable holding the HMAC key (generic; optional).
    pub secret_env: Option<String>,
}

/// Objects the upstream stores (files, vector stores, batches, ...): each is
/// its creator's.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawObjects {
    /// Members of these groups may use every caller's objects (marked in
    /// the record). Empty: nobody.
    #[serde(default)]
    pub admin_groups: Vec<String>,
}

/// Agent traces sent to `POST /v1/traces/ingest`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTraces {
    /// A connection to send each masked batch on to (with its credential).
    pub forward: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// Members of these groups may use the admin API (required).
    pub groups: Option<Vec<String>>,
    /// A separate address:port for the admin API; absent: the main
    /// listener serves it under `/admin/v1/`.
    pub listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAudit {
    /// Ed25519 private key (PKCS#8 PEM) the server signs checkpoints with.
    pub signing_key_file: Option<PathBuf>,
    /// How often a checkpoint is signed, when the trail grew (default 60s).
    #[serde(default, with = "humantime_serde")]
    pub checkpoint_interval: Option<Duration>,
    /// Where the latest checkpoint is published (written atomically).
    pub checkpoint_file: Option<PathBuf>,
    /// Also sign once the trail grew by this many entries.
    pub checkpoint_every: Option<u64>,
    /// Where each new checkpoint is POSTed (JSON), besides the file.
    pub checkpoint_webhook: Option<String>,
    /// `fsync` (default): a call's record is on disk before its response
    /// completes. `async`: written in the background.
    pub durability: Option<String>,
    /// How long a response waits for its record to be committed before it
    /// is failed (default 5s).
    #[serde(default, with = "humantime_serde")]
    pub commit_timeout: Option<Duration>,
    /// Entries older than this are pruned, up to a signed checkpoint.
    #[serde(default, with = "humantime_serde")]
    pub retention: Option<Duration>,
    /// `[audit.export]`: stream the trail to a SIEM webhook.
    pub export: Option<RawAuditExport>,
    /// Session recording: `off`, `metadata` (default: chunk times) or
    /// `full` (also the masked request and answer bodies).
    pub record_bodies: Option<String>,
    /// With `full`: each body is kept up to this many bytes (default 256 KiB).
    pub body_max_bytes: Option<u64>,
    /// Recorded bodies older than this are deleted (hourly); absent: they
    /// go with their records.
    #[serde(default, with = "humantime_serde")]
    pub body_retention: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuditExport {
    /// Where batches of entries are POSTed as JSON lines (required).
    pub webhook: Option<String>,
    /// The environment variable holding the HMAC key batches are signed
    /// with; unset: unsigned.
    pub secret_env: Option<String>,
    /// At most this many entries per POST (default 500).
    pub batch: Option<u64>,
    /// How often to look for new entries when nothing wakes the exporter
    /// (default 1s).
    #[serde(default, with = "humantime_serde")]
    pub interval: Option<Duration>,
    /// The cursor's name in the store (default `default`).
    pub name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawContent {
    #[serde(default, rename = "rule")]
    pub rules: Vec<RawContentRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawContentRule {
    pub id: String,
    /// Applies to members of these groups; everyone when absent.
    pub groups: Option<Vec<String>>,
    /// Case-insensitive terms refused anywhere in the request's text.
    #[serde(default)]
    pub deny_terms: Vec<String>,
    /// Regular expressions refused anywhere in the request's text.
    #[serde(default)]
    pub deny_patterns: Vec<String>,
    /// Tool types or `function:<name>` patterns (`*` wildcard) refused.
    #[serde(default)]
    pub deny_tools: Vec<String>,
    /// When set, only these tools are allowed.
    pub allow_tools: Option<Vec<String>>,
    /// When set, only tools of these types (`function`, `web_search`, ...;
    /// `*` wildcard) are allowed; every other type, known or not, is refused.
    pub allow_tool_types: Option<Vec<String>>,
    /// Hosted MCP servers (Responses `{"type":"mcp"}` tools) this rule
    /// allows: URL prefixes (`https://mcp.example.com/github`) or labels
    /// (connectors). A hosted MCP server no applicable rule names is refused.
    #[serde(default)]
    pub allow_mcp_servers: Vec<String>,
    /// Cap on the output tokens of a call: max_tokens /
    /// max_completion_tokens / max_output_tokens times `n`; set in the
    /// request when it states none.
    pub max_output_tokens: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPii {
    /// Environment variable holding the key of the `hash` action.
    pub hash_key_env: Option<String>,
    /// Regions whose national phone formats are recognised (default `["US"]`).
    pub phone_regions: Option<Vec<String>>,
    /// Profile name -> entity type -> action.
    #[serde(default)]
    pub profiles: BTreeMap<String, BTreeMap<String, String>>,
    /// Which profile applies to whom, first match wins.
    #[serde(default)]
    pub apply: Vec<RawPiiApply>,
    /// An external analyzer (Presidio) for entity types found by NER.
    pub analyzer: Option<RawAnalyzer>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAnalyzer {
    /// Base URL of a Presidio analyzer; Warden POSTs `{url}/analyze`.
    pub url: String,
    /// Entity types asked of it (`PERSON`, `LOCATION`); profiles may name them.
    pub entities: Vec<String>,
    /// The whole analyzer step of one request (default 1000).
    pub timeout_ms: Option<u64>,
    /// `closed` (default): refuse when it cannot answer; `open`: mask with
    /// the built-in detectors only.
    pub on_error: Option<String>,
    /// Findings scored below this are ignored (default 0.5).
    pub score_threshold: Option<f64>,
    /// Language of the texts (default `en`).
    pub language: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPiiApply {
    /// A group name, or `*` for every caller.
    pub group: String,
    /// Masks their requests.
    pub profile: Option<String>,
    /// Masks the model's answers to them.
    pub output_profile: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    /// `memory` (default) or `redis`.
    pub backend: Option<String>,
    pub redis_url: Option<String>,
    /// Key prefix in Redis, so several deployments can share one server.
    pub redis_prefix: Option<String>,
    /// `deny` (default) or `allow` when the backend cannot answer.
    pub on_backend_error: Option<String>,
    /// Output tokens reserved when a request sets no max.
    pub default_max_output_tokens: Option<u64>,
    #[serde(default, rename = "rule")]
    pub rules: Vec<RawLimitRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimitRule {
    pub name: String,
    /// `principal`, `key`, `group`, `model` or `global`: whose counter.
    pub scope: String,
    /// Only requests by members of this group (required for scope `group`).
    pub group: Option<String>,
    /// Only requests for models matching this pattern (`*` wildcard).
    pub model: Option<String>,
    pub requests_per_minute: Option<u64>,
    pub tokens_per_minute: Option<u64>,
    pub concurrent_requests: Option<u64>,
    pub usd_per_day: Option<f64>,
    pub usd_per_month: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrice {
    /// USD per million input tokens.
    pub input: f64,
    /// USD per million cached input tokens (default: `input`).
    pub cached_input: Option<f64>,
    /// USD per million output tokens.
    pub output: f64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<String>,
    pub max_body_bytes: Option<u64>,
    pub max_upload_bytes: Option<u64>,
    pub max_json_depth: Option<usize>,
    #[serde(default, with = "humantime_serde")]
    pub shutdown_grace: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub header_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub body_timeout: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    /// SQLite database file.
    pub sqlite: Option<PathBuf>,
    /// The environment variable holding a PostgreSQL URL (it may carry a
    /// password, so it is never written in the file).
    pub postgres_url_env: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub format: Option<String>,
    pub level: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIssuer {
    pub name: String,
    pub issuer: String,
    pub audiences: Vec<String>,
    /// Defaults to the discovery document's `jwks_uri`.
    pub jwks_uri: Option<String>,
    pub groups_claim: Option<String>,
    /// `user` (default) or `workload`.
    pub kind: Option<String>,
    pub algorithms: Option<Vec<String>>,
    #[serde(default, with = "humantime_serde")]
    pub leeway: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub jwks_refresh: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub jwks_min_refresh: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKeys {
    #[serde(default = "yes")]
    pub enabled: bool,
}

impl Default for RawKeys {
    fn default() -> Self {
        RawKeys { enabled: true }
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConnection {
    pub name: String,
    pub base_url: String,
    pub api_key_env: Option<String>,
    pub api_key_file: Option<PathBuf>,
    /// Only the embedded default sets this: start without a key, refuse calls.
    #[serde(skip)]
    pub api_key_optional: bool,
    /// `bearer` (default, OpenAI and compatibles) or `api-key` (Azure OpenAI).
    pub auth: Option<String>,
    #[serde(default)]
    pub models: Vec<String>,
    #[serde(default)]
    pub default: bool,
    #[serde(default, with = "humantime_serde")]
    pub connect_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub first_byte_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub idle_timeout: Option<Duration>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    /// Group name -> what its members may use; compiled to Cedar.
    #[serde(default)]
    pub groups: BTreeMap<String, RawGroupRule>,
    /// Raw Cedar policy text.
    pub cedar: Option<String>,
    /// Files of Cedar policies.
    #[serde(default)]
    pub cedar_files: Vec<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGroupRule {
    /// Model name globs (`gpt-4o*`). Granted on every model-bearing endpoint.
    #[serde(default)]
    pub models: Vec<String>,
    /// Endpoint kinds granted (`files`, `batches`, `*`). For model-bearing
    /// kinds this narrows `models` to those kinds; model-less kinds (files,
    /// batches, uploads, vector_stores) are granted on every connection.
    #[serde(default)]
    pub endpoints: Vec<String>,
}
