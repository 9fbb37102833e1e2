//! The command line, as clap types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "warden",
    version,
    about = "Identity-aware gateway for AI agents"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Where the configuration comes from; the embedded default when neither is set.
#[derive(Debug, Args, Clone)]
pub struct ConfigArg {
    /// Config file (TOML). Without it, the embedded default is used.
    #[arg(long, short = 'c', env = "WARDEN_CONFIG", global = true)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway.
    Serve {
        #[command(flatten)]
        config: ConfigArg,
        /// Listen address, overriding the config's `server.listen`.
        #[arg(long, env = "WARDEN_LISTEN")]
        listen: Option<std::net::SocketAddr>,
    },
    /// Work with configuration files.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Manage Warden-issued keys.
    Keys {
        #[command(flatten)]
        config: ConfigArg,
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Requests, tokens and spend from the request records.
    Usage {
        #[command(flatten)]
        config: ConfigArg,
        /// Sum by `user`, `group`, `model` or `key`.
        #[arg(long, default_value = "user")]
        by: String,
        /// How far back, e.g. `7d`, `24h`.
        #[arg(long, default_value = "7d")]
        since: humantime::Duration,
        #[arg(long)]
        json: bool,
    },
    /// Sessions: calls grouped by `X-Warden-Session`, Responses chain or
    /// conversation, or agent trace, with the traces' spans.
    Sessions {
        #[command(flatten)]
        config: ConfigArg,
        #[command(subcommand)]
        command: SessionsCommand,
    },
    /// Decide calls held for approval, and the grants approvers gave
    /// (through the running gateway's API, as an approver).
    Approvals {
        #[command(flatten)]
        server: ServerArg,
        #[command(subcommand)]
        command: ApprovalsCommand,
    },
    /// Check the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Try the PII detectors on sample data before turning a profile on.
    Pii {
        #[command(subcommand)]
        command: PiiCommand,
    },
    /// Ask policy questions without sending requests.
    Policy {
        #[command(flatten)]
        config: ConfigArg,
        #[command(subcommand)]
        command: PolicyCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a config file (and its policies) without serving. A secret
    /// missing from this environment is a warning (`serve` refuses to
    /// start without it).
    Check {
        file: PathBuf,
        /// Fail on a missing secret too, as `serve` does.
        #[arg(long)]
        strict: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key. It is printed once and stored only as a hash.
    Create {
        /// Who the key belongs to (recorded as the subject).
        #[arg(long)]
        owner: String,
        /// Groups the key is in (repeatable; default: `users`).
        #[arg(long = "group", short = 'g')]
        groups: Vec<String>,
        /// Model globs the key may use, on top of policy (repeatable).
        #[arg(long = "model", short = 'm')]
        models: Vec<String>,
        /// Lifetime, e.g. `30d`, `12h`. Default: no expiry.
        #[arg(long)]
        expires: Option<humantime::Duration>,
        #[arg(long)]
        description: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List keys (never their secrets).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key; takes effect on its next request.
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// Sessions active in a window, most recent first.
    List {
        #[arg(long, default_value = "7d")]
        since: humantime::Duration,
        #[arg(long)]
        json: bool,
    },
    /// One session's calls and agent trace spans, oldest first.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
        /// Also each call's recorded bodies and chunk times (with
        /// `[audit] record_bodies`).
        #[arg(long)]
        bodies: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain over every request record and name the
    /// first row that was edited, deleted, inserted or moved. Exits non-zero
    /// when the chain is broken.
    Verify {
        #[command(flatten)]
        config: ConfigArg,
        /// A SQLite file to check instead of the config's store (a copy the
        /// auditor holds, say).
        #[arg(long)]
        db: Option<std::path::PathBuf>,
        /// A signed checkpoint (`warden audit checkpoint`): the trail must
        /// reach its seq with its hash, which catches truncation.
        #[arg(long, requires = "public_key")]
        checkpoint: Option<std::path::PathBuf>,
        /// The Ed25519 public key (SPKI PEM) that signed the checkpoint.
        #[arg(long)]
        public_key: Option<std::path::PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Verify the trail, then sign its current head (seq and hash) with an
    /// Ed25519 key and write the checkpoint (JSON) to keep elsewhere.
    Checkpoint {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        db: Option<std::path::PathBuf>,
        /// The signing key, PKCS#8 PEM (`openssl genpkey -algorithm ed25519`).
        #[arg(long)]
        key: std::path::PathBuf,
        /// Where to write the checkpoint; stdout when absent.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Delete entries older than a window, up to the newest stored signed
    /// checkpoint that covers only older entries, after verifying the trail
    /// against it; the checkpoint becomes the anchor the rest is verified
    /// from. (The server does this hourly with `[audit] retention`.)
    Prune {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        db: Option<std::path::PathBuf>,
        /// Keep entries younger than this, e.g. `90d`.
        #[arg(long)]
        older_than: humantime::Duration,
    },
    /// Write the trail as JSON lines (`{"seq","kind","hash","prev_hash",
    /// "record"|"event"}`) for a SIEM; `seq` is the de-duplication key.
    Export {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        db: Option<std::path::PathBuf>,
        /// Only entries from this time on: a window back from now (`24h`,
        /// `7d`) or an RFC 3339 time (`2026-01-01T00:00:00Z`).
        #[arg(long, value_parser = Since::parse)]
        since: Option<Since>,
        /// Only records after this sequence number (resume an export).
        #[arg(long, default_value_t = 0)]
        after_seq: i64,
        /// `jsonl` is the one format.
        #[arg(long, default_value = "jsonl")]
        format: String,
    },
    /// Print an inclusion proof that record SEQ is in the trail a signed
    /// checkpoint covers (RFC 9162 audit path, with the record and the
    /// checkpoint), for `warden audit check-proof`.
    Prove {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        db: Option<std::path::PathBuf>,
        /// The record's sequence number.
        seq: i64,
        /// The signed checkpoint the proof is against.
        #[arg(long)]
        checkpoint: std::path::PathBuf,
    },
    /// Check an inclusion proof offline, with only the public key: the
    /// checkpoint's signature, then the record's path to its Merkle root.
    CheckProof {
        proof: std::path::PathBuf,
        #[arg(long)]
        public_key: std::path::PathBuf,
    },
    /// Make an Ed25519 key pair for checkpoints (private key written 0600).
    Keygen {
        #[arg(long)]
        private: std::path::PathBuf,
        #[arg(long)]
        public: std::path::PathBuf,
    },
}

/// A `--since` value: how far back from now, or from when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    Ago(std::time::Duration),
    /// Unix milliseconds.
    At(i64),
}

impl Since {
    pub fn parse(text: &str) -> Result<Since, String> {
        if let Ok(d) = humantime::parse_duration(text) {
            return Ok(Since::Ago(d));
        }
        let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map_err(|_| {
                format!(
                    "`{text}` is neither a duration (24h, 7d) nor an RFC 3339 time (2026-01-01T00:00:00Z)"
                )
            })?;
        i64::try_from(at.unix_timestamp_nanos() / 1_000_000)
            .map(Since::At)
            .map_err(|_| format!("`{text}` is out of range"))
    }

    /// The earliest time in, as Unix milliseconds.
    pub fn cutoff_ms(self, now_ms: i64) -> i64 {
        match self {
            Since::Ago(d) => {
                now_ms.saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            }
            Since::At(ms) => ms,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum PiiCommand {
    /// Reads plain text, or JSON lines `{"id","text"}`, from FILE or stdin and
    /// writes JSON lines `{"id","spans":[{"start","end","type"}]}` with
    /// character offsets.
    Scan {
        /// Input file; stdin when absent or `-`.
        file: Option<std::path::PathBuf>,
        /// Also write the masked text: with `--profile`, as that profile of
        /// `--config` masks it; otherwise every type redacted.
        #[arg(long)]
        mask: bool,
        #[arg(long, requires = "config")]
        profile: Option<String>,
        /// Regions preferred when a national phone number is valid in
        /// several (ISO codes, comma-separated or repeated; numbers of every
        /// region are found); default: the config's `pii.phone_regions`,
        /// else US.
        #[arg(long = "phone-region", value_delimiter = ',')]
        phone_regions: Vec<String>,
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Decide one request and name the policies that decided.
    Test {
        /// Subject (the token's `sub`, or a key's owner).
        #[arg(long)]
        sub: String,
        /// Groups, comma-separated or repeated.
        #[arg(long, value_delimiter = ',')]
        groups: Vec<String>,
        #[arg(long)]
        model: Option<String>,
        /// Endpoint kind (`chat.completions`, `responses`, `files`, ...).
        #[arg(long, default_value = "chat.completions")]
        endpoint: String,
        /// `user`, `workload` or `key`.
        #[arg(long, default_value = "user")]
        kind: String,
        #[arg(long)]
        issuer: Option<String>,
        #[arg(long)]
        stream: bool,
        /// Tools offered (`computer_use_preview`, `function:get_weather`).
        #[arg(long = "tool")]
        tools: Vec<String>,
        #[arg(long)]
        max_tokens: Option<u64>,
        #[arg(long)]
        json: bool,
        /// Fail on a secret missing from this environment, as `serve` does
        /// (otherwise a warning: deciding needs no secret).
        #[arg(long)]
        strict: bool,
    },
}

/// Which gateway to talk to, and as whom.
#[derive(Debug, Args, Clone)]
pub struct ServerArg {
    /// The gateway's base URL (its admin listener when it has one).
    #[arg(
        long,
        env = "WARDEN_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub url: String,
    /// An approver's OIDC access token or Warden key.
    #[arg(long, env = "WARDEN_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ApprovalsCommand {
    /// Approvals, newest first.
    List {
        /// Only `pending`, `approved`, `denied`, `expired` or `cancelled`.
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// One approval, as JSON.
    Show { id: String },
    /// Approve a call (or, with `--grant`, this kind of call for a while).
    Approve {
        id: String,
        #[arg(long)]
        comment: Option<String>,
        /// Also let the caller's next calls to this model and endpoint
        /// through for this long, e.g. `60m`.
        #[arg(long)]
        grant: Option<String>,
    },
    /// Deny a call.
    Deny {
        id: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Grants, newest first.
    Grants {
        #[arg(long)]
        json: bool,
    },
    /// End a grant now.
    RevokeGrant { id: String },
}
