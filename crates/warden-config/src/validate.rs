//! Raw -> validated. Each check names the key it is about; the first problem
//! stops start-up.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use globset::{Glob, GlobSetBuilder};
use secrecy::SecretString;
use warden_core::{EndpointKind, PrincipalKind};

use crate::defaults as d;
use crate::raw::*;
use crate::types::*;
use crate::{ConfigError, MissingSecret, SecretMode, Source};

pub(crate) struct Ctx<'e> {
    pub(crate) env: crate::EnvLookup<'e>,
    pub(crate) file: PathBuf,
    /// Directory relative paths in the file resolve against.
    base: PathBuf,
    pub(crate) mode: SecretMode,
    /// The secrets a lenient load went without (see `secrets.rs`).
    pub(crate) missing: RefCell<Vec<MissingSecret>>,
}

impl Ctx<'_> {
    pub(crate) fn invalid(&self, key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.clone(),
            key: key.into(),
            reason: reason.into(),
        }
    }

    fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }
}

pub fn validate(
    raw: RawConfig,
    source: Source,
    env: crate::EnvLookup<'_>,
    mode: SecretMode,
) -> Result<Config, ConfigError> {
    let (file, base) = match &source {
        Source::File(p) => (
            p.clone(),
            p.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
        ),
        Source::EmbeddedDefault => (PathBuf::from("<embedded default>"), PathBuf::from(".")),
    };
    let cx = Ctx {
        env,
        file,
        base,
        mode,
        missing: RefCell::default(),
    };
    let server = server(&cx, raw.server)?;
    let postgres_url = match &raw.store.postgres_url_env {
        None => None,
        Some(var) => match cx.env_secret("store.postgres_url_env", var)? {
            None => None,
            Some(v) if v.starts_with("postgres://") || v.starts_with("postgresql://") => {
                Some(SecretString::from(v.trim().to_owned()))
            }
            Some(_) => {
                return Err(cx.invalid(
                    "store.postgres_url_env",
                    format!("environment variable `{var}` is not set to a postgres:// URL"),
                ));
            }
        },
    };
    let store = StoreConfig {
        sqlite_path: raw
            .store
            .sqlite
            .map_or_else(|| PathBuf::from(d::SQLITE_PATH), |p| cx.resolve(&p)),
        postgres_url,
        postgres_url_env: raw.store.postgres_url_env,
    };
    let log = log(&cx, raw.log)?;
    let issuers = raw
        .issuers
        .into_iter()
        .enumerate()
        .map(|(i, r)| issuer(&cx, i, r))
        .collect::<Result<Vec<_>, _>>()?;
    unique(&cx, "issuer", issuers.iter().map(|i| i.name.as_str()))?;
    let connections = raw
        .connections
        .into_iter()
        .enumerate()
        .map(|(i, r)| connection(&cx, i, r))
        .collect::<Result<Vec<_>, _>>()?;
    if connections.is_empty() {
        return Err(cx.invalid(
            "connection",
            "at least one [[connection]] is required (where should calls go?)",
        ));
    }
    unique(
        &cx,
        "connection",
        connections.iter().map(|c| c.name.as_str()),
    )?;
    if connections.iter().filter(|c| c.default).count() > 1 {
        return Err(cx.invalid(
            "connection.default",
            "only one connection may be the default",
        ));
    }
    let policy = policy(&cx, raw.policy)?;
    let limits = limits(&cx, raw.limits)?;
    let prices = prices(&cx, raw.prices)?;
    let pii = pii(&cx, raw.pii)?;
    let content = content(&cx, raw.content)?;
    let audit = audit(&cx, raw.audit)?;
    let admin = raw.admin.map(|a| admin(&cx, a, &server)).transpose()?;
    if let Some(name) = &raw.traces.forward
        && !connections.iter().any(|c| &c.name == name)
    {
        return Err(cx.invalid(
            "traces.forward",
            format!("`{name}` is not a [[connection]] name"),
        ));
    }
    let traces = TracesConfig {
        forward: raw.traces.forward,
    };
    let approvals = raw.approvals.map(|a| approvals(&cx, a)).transpose()?;
    if issuers.is_empty() && !raw.keys.enabled {
        return Err(cx.invalid(
            "keys.enabled",
            "no [[issuer]] and Warden keys disabled: nobody could authenticate",
        ));
    }
    Ok(Config {
        missing_secrets: cx.missing.into_inner(),
        source,
        server,
        store,
        log,
        issuers,
        keys: KeysConfig {
            enabled: raw.keys.enabled,
        },
        connections,
        policy,
        limits,
        prices,
        pii,
        content,
        audit,
        admin,
        traces,
        objects: ObjectsConfig {
            admin_groups: raw.objects.admin_groups,
        },
        approvals,
    })
}

/// Group names as given: literal, not empty, no wildcards.
fn group_names(cx: &Ctx, key: &str, groups: Vec<String>) -> Result<Vec<String>, ConfigError> {
    if groups.is_empty() {
        return Err(cx.invalid(key, "must name at least one group"));
    }
    if let Some(g) = groups
        .iter()
        .find(|g| g.trim().is_empty() || g.contains('*'))
    {
        return Err(cx.invalid(
            key,
            format!("`{g}`: a group name, not empty and without wildcards"),
        ));
    }
    Ok(groups)
}

/// `"HH:MM-HH:MM"` as minutes of the day.
fn hours(text: &str) -> Option<(u16, u16)> {
    let minute = |t: &str| -> Option<u16> {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some(h * 60 + m)
    };
    let (from, to) = text.split_once('-')?;
    let (from, to) = (minute(from)?, minute(to)?);
    (from < to).then_some((from, to))
}

fn approvals(cx: &Ctx, raw: RawApprovals) -> Result<ApprovalsConfig, ConfigError> {
    let Some(groups) = raw.approver_groups else {
        return Err(cx.invalid(
            "approvals.approver_groups",
            "required: the groups whose members may approve calls",
        ));
    };
    let approver_groups = group_names(cx, "approvals.approver_groups", groups)?;
    let hold = raw.hold.unwrap_or(Duration::from_secs(570));
    if hold < Duration::from_millis(100) || hold > Duration::from_secs(3600) {
        return Err(cx.invalid("approvals.hold", "must be 100ms to 1h"));
    }
    let expiry = raw.expiry.unwrap_or(Duration::from_secs(3600));
    if expiry < hold {
        return Err(cx.invalid("approvals.expiry", "must be at least approvals.hold"));
    }
    let keepalive = raw.keepalive.unwrap_or(Duration::from_secs(15));
    if keepalive < Duration::from_millis(50) {
        return Err(cx.invalid("approvals.keepalive", "must be at least 50ms"));
    }
    let max_grant = raw.max_grant.unwrap_or(Duration::from_secs(24 * 3600));
    let mut rules = Vec::new();
    let mut ids = BTreeSet::new();
    for (i, r) in raw.rules.into_iter().enumerate() {
        let key = |k: &str| format!("approvals.rule[{i}].{k}");
        if r.id.is_empty() || !ids.insert(r.id.clone()) {
            return Err(cx.invalid(key("id"), "must be unique and non-empty"));
        }
        let endpoints = r
            .endpoints
            .map(|list| {
                list.iter()
                    .map(|e| {
                        EndpointKind::parse(e).ok_or_else(|| {
                            cx.invalid(key("endpoints"), format!("`{e}` is not an endpoint kind"))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let min_cost_usd_micros = match r.min_cost_usd {
            None => None,
            Some(usd) if (0.0..1e9).contains(&usd) =>
            {
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "checked finite, non-negative and below 1e9 USD"
                )]
                Some((usd * 1e6).round() as u64)
            }
            Some(_) => {
                return Err(cx.invalid(key("min_cost_usd"), "must be a non-negative number of USD"));
            }
        };
        let outside_hours = r
            .outside_hours
            .map(|h| {
                hours(&h).ok_or_else(|| {
                    cx.invalid(
                        key("outside_hours"),
                        format!("`{h}`: use \"HH:MM-HH:MM\" (UTC), from before to"),
                    )
                })
            })
            .transpose()?;
        let quorum = r.quorum.unwrap_or(1);
        if !(1..=10).contains(&quorum) {
            return Err(cx.invalid(key("quorum"), "must be 1 to 10"));
        }
        let groups = r
            .groups
            .map(|g| group_names(cx, &key("groups"), g))
            .transpose()?;
        let rule_approvers = match r.approver_groups {
            None => approver_groups.clone(),
            Some(g) => group_names(cx, &key("approver_groups"), g)?,
        };
        let mode = match r.mode.as_deref() {
            None | Some("hold") => warden_core::approval::ApprovalMode::Hold,
            Some("async") => warden_core::approval::ApprovalMode::Async,
            Some(other) => {
                return Err(
                    cx.invalid(key("mode"), format!("`{other}`: use \"hold\" or \"async\""))
                );
            }
        };
        let conditioned = groups.is_some()
            || r.models.is_some()
            || endpoints.is_some()
            || r.tools.is_some()
            || min_cost_usd_micros.is_some()
            || outside_hours.is_some();
        if r.policy_only && conditioned {
            return Err(cx.invalid(
                key("policy_only"),
                "a rule only policy applies has no conditions of its own",
            ));
        }
        rules.push(ApprovalRule {
            policy_only: r.policy_only,
            id: r.id,
            groups,
            models: r.models,
            endpoints,
            // Folded as the request's tool names are (lower case, NFKC).
            tools: r.tools.map(|ts| {
                ts.iter()
                    .map(|t| warden_core::text::fold(t, warden_core::text::Fold::Names))
                    .collect()
            }),
            min_cost_usd_micros,
            outside_hours,
            quorum,
            approver_groups: rule_approvers,
            mode,
        });
    }
    let mut webhooks = Vec::new();
    for (i, w) in raw.webhooks.into_iter().enumerate() {
        let key = |k: &str| format!("approvals.webhook[{i}].{k}");
        let parsed = w.url.parse::<http::Uri>().ok();
        let usable = parsed.as_ref().is_some_and(|u| {
            matches!(u.scheme_str(), Some("http" | "https"))
                && u.host().is_some_and(|h| !h.is_empty())
        });
        if !usable || w.url.contains(char::is_whitespace) {
            return Err(cx.invalid(key("url"), "is not an http(s) URL with a host"));
        }
        let format = match w.format.as_deref() {
            None | Some("generic") => WebhookFormat::Generic,
            Some("slack") => WebhookFormat::Slack,
            Some(other) => {
                return Err(cx.invalid(
                    key("format"),
                    format!("`{other}`: use \"generic\" or \"slack\""),
                ));
            }
        };
        let secret = match w.secret_env {
            None => None,
            Some(var) => match cx.env_secret(&key("secret_env"), &var)? {
                None => None,
                Some(v) if v.trim().len() >= 16 => Some(SecretString::from(v.trim().to_owned())),
                Some(_) => {
                    return Err(cx.invalid(
                        key("secret_env"),
                        format!("environment variable `{var}` must hold at least 16 characters"),
                    ));
                }
            },
        };
        webhooks.push(ApprovalWebhook {
            url: SecretString::from(w.url),
            format,
            secret,
        });
    }
    Ok(ApprovalsConfig {
        approver_groups,
        hold,
        expiry,
        keepalive,
        max_grant,
        rules,
        webhooks,
    })
}

/// No default admin group: an `[admin]` section must name who is an admin.
fn admin(cx: &Ctx, raw: RawAdmin, server: &ServerConfig) -> Result<AdminConfig, ConfigError> {
    let Some(groups) = raw.groups else {
        return Err(cx.invalid(
            "admin.groups",
            "required: the groups whose members may use the admin API",
        ));
    };
    if groups.is_empty() {
        return Err(cx.invalid("admin.groups", "must name at least one group"));
    }
    if let Some(g) = groups
        .iter()
        .find(|g| g.trim().is_empty() || g.contains('*'))
    {
        return Err(cx.invalid(
            "admin.groups",
            format!("`{g}`: a group name, not empty and without wildcards"),
        ));
    }
    let listen = raw
        .listen
        .map(|l| {
            l.parse::<std::net::SocketAddr>().map_err(|_| {
                cx.invalid(
                    "admin.listen",
                    format!("`{l}` is not an address:port like 127.0.0.1:9091"),
                )
            })
        })
        .transpose()?;
    if listen.is_some_and(|l| l == server.listen && l.port() != 0) {
        return Err(cx.invalid(
            "admin.listen",
            "is server.listen; leave it out to serve the admin API there under /admin/v1/",
        ));
    }
    Ok(AdminConfig { groups, listen })
}

fn audit(cx: &Ctx, raw: RawAudit) -> Result<AuditConfig, ConfigError> {
    let interval = raw
        .checkpoint_interval
        .unwrap_or(std::time::Duration::from_secs(60));
    if interval < std::time::Duration::from_millis(100) {
        return Err(cx.invalid("audit.checkpoint_interval", "must be at least 100ms"));
    }
    if raw.checkpoint_file.is_some() && raw.signing_key_file.is_none() {
        return Err(cx.invalid(
            "audit.checkpoint_file",
            "checkpoints are signed: set audit.signing_key_file too",
        ));
    }
    let durability = match raw.durability.as_deref() {
        None | Some("fsync") => Durability::Fsync,
        Some("async") => Durability::Async,
        Some(other) => {
            return Err(cx.invalid(
                "audit.durability",
                format!("`{other}`: use \"fsync\" or \"async\""),
            ));
        }
    };
    let commit_timeout = raw
        .commit_timeout
        .unwrap_or(std::time::Duration::from_secs(5));
    if commit_timeout.is_zero() {
        return Err(cx.invalid("audit.commit_timeout", "must be more than 0"));
    }
    if raw.checkpoint_every == Some(0) {
        return Err(cx.invalid("audit.checkpoint_every", "must be at least 1"));
    }
    if (raw.checkpoint_every.is_some()
        || raw.checkpoint_webhook.is_some()
        || raw.retention.is_some())
        && raw.signing_key_file.is_none()
    {
        return Err(cx.invalid(
            "audit",
            "checkpoint_every, checkpoint_webhook and retention need audit.signing_key_file \
             (pruning keeps the trail verifiable from a signed checkpoint)",
        ));
    }
    if raw
        .retention
        .is_some_and(|r| r < std::time::Duration::from_secs(3600))
    {
        return Err(cx.invalid("audit.retention", "must be at least 1h"));
    }
    let checkpoint_webhook = raw
        .checkpoint_webhook
        .map(|u| http_url(cx, "audit.checkpoint_webhook", &u))
        .transpose()?;
    let export = raw.export.map(|e| audit_export(cx, e)).transpose()?;
    let record_bodies = match raw.record_bodies.as_deref() {
        Some("off") => RecordBodies::Off,
        None | Some("metadata") => RecordBodies::Metadata,
        Some("full") => RecordBodies::Full,
        Some(other) => {
            return Err(cx.invalid(
                "audit.record_bodies",
                format!("`{other}`: use \"off\", \"metadata\" or \"full\""),
            ));
        }
    };
    let body_max_bytes = raw.body_max_bytes.unwrap_or(256 * 1024);
    let body_max_bytes = usize::try_from(body_max_bytes)
        .ok()
        .filter(|n| (1024..=16 * 1024 * 1024).contains(n))
        .ok_or_else(|| {
            cx.invalid(
                "audit.body_max_bytes",
                format!("{body_max_bytes}: must be 1024 to 16777216"),
            )
        })?;
    if raw
        .body_retention
        .is_some_and(|r| r < std::time::Duration::from_secs(3600))
    {
        return Err(cx.invalid("audit.body_retention", "must be at least 1h"));
    }
    Ok(AuditConfig {
        durability,
        commit_timeout,
        signing_key_file: raw.signing_key_file.map(|p| cx.resolve(&p)),
        checkpoint_interval: interval,
        checkpoint_every: raw.checkpoint_every,
        checkpoint_file: raw.checkpoint_file.map(|p| cx.resolve(&p)),
        checkpoint_webhook,
        retention: raw.retention,
        export,
        record_bodies,
        body_max_bytes,
        body_retention: raw.body_retention,
    })
}

/// `[audit.export]`. The webhook URL may carry credentials, so no message
/// repeats it.
fn audit_export(cx: &Ctx, raw: RawAuditExport) -> Result<ExportConfig, ConfigError> {
    let Some(webhook) = raw.webhook else {
        return Err(cx.invalid(
            "audit.export.webhook",
            "required: the http(s) URL batches of entries are POSTed to",
        ));
    };
    let parsed = webhook.parse::<http::Uri>().ok();
    let usable = parsed.as_ref().is_some_and(|u| {
        matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some_and(|h| !h.is_empty())
    });
    if !usable || webhook.contains(char::is_whitespace) {
        return Err(cx.invalid(
            "audit.export.webhook",
            "is not an http(s) URL with a host (like https://siem.example.com/warden)",
        ));
    }
    let secret = match raw.secret_env {
        None => None,
        Some(var) => match cx.env_secret("audit.export.secret_env", &var)? {
            None => None,
            Some(v) if v.trim().len() >= 16 => Some(SecretString::from(v.trim().to_owned())),
            Some(_) => {
                return Err(cx.invalid(
                    "audit.export.secret_env",
                    format!("environment variable `{var}` must hold at least 16 characters"),
                ));
            }
        },
    };
    let batch = raw.batch.unwrap_or(u64::from(d::EXPORT_BATCH));
    let batch = u32::try_from(batch)
        .ok()
        .filter(|b| (1..=MAX_EXPORT_BATCH).contains(b))
        .ok_or_else(|| {
            cx.invalid(
                "audit.export.batch",
                format!("{batch}: must be 1 to {MAX_EXPORT_BATCH}"),
            )
        })?;
    let interval = raw.interval.unwrap_or(d::EXPORT_INTERVAL);
    if interval < Duration::from_millis(10) {
        return Err(cx.invalid("audit.export.interval", "must be at least 10ms"));
    }
    let name = raw.name.unwrap_or_else(|| d::EXPORT_NAME.to_owned());
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !name_ok {
        return Err(cx.invalid(
            "audit.export.name",
            format!("`{name}`: 1 to 64 of A-Z a-z 0-9 - _ ."),
        ));
    }
    Ok(ExportConfig {
        webhook: SecretString::from(webhook),
        secret,
        batch,
        interval,
        name,
    })
}

fn content(cx: &Ctx, raw: RawContent) -> Result<crate::ContentConfig, ConfigError> {
    let mut rules = Vec::new();
    let mut ids = BTreeSet::new();
    for (i, r) in raw.rules.into_iter().enumerate() {
        let key = |k: &str| format!("content.rule[{i}].{k}");
        if r.id.is_empty() || !ids.insert(r.id.clone()) {
            return Err(cx.invalid(key("id"), "must be unique and non-empty"));
        }
        if r.deny_terms.iter().any(|t| t.trim().is_empty()) {
            return Err(cx.invalid(key("deny_terms"), "terms must not be empty"));
        }
        let deny_patterns = if r.deny_patterns.is_empty() {
            None
        } else {
            Some(
                regex::RegexSetBuilder::new(&r.deny_patterns)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| cx.invalid(key("deny_patterns"), e.to_string()))?,
            )
        };
        for t in r
            .deny_tools
            .iter()
            .chain(r.allow_tools.iter().flatten())
            .chain(r.allow_tool_types.iter().flatten())
        {
            if !pattern_ok(t) {
                return Err(cx.invalid(
                    key("deny_tools"),
                    format!("`{t}`: patterns may use `*` only"),
                ));
            }
        }
        let lower = |v: Vec<String>| -> Vec<String> {
            v.iter()
                .map(|t| warden_core::text::fold(t, warden_core::text::Fold::Names))
                .collect()
        };
        let allow_mcp_servers = r
            .allow_mcp_servers
            .iter()
            .map(|e| crate::McpAllow::parse(e))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| cx.invalid(key("allow_mcp_servers"), e))?;
        if r.max_output_tokens == Some(0) {
            return Err(cx.invalid(key("max_output_tokens"), "must be at least 1"));
        }
        let deny_terms: Vec<String> = r
            .deny_terms
            .iter()
            .map(|t| warden_core::text::fold(t, warden_core::text::Fold::Terms))
            .collect();
        if deny_terms.iter().any(String::is_empty) {
            return Err(cx.invalid(key("deny_terms"), "every term needs a visible character"));
        }
        let terms = crate::content::terms_automaton(&deny_terms)
            .map_err(|e| cx.invalid(key("deny_terms"), e))?;
        let rule = crate::ContentRule {
            id: r.id,
            groups: r.groups,
            deny_terms,
            terms,
            deny_patterns,
            deny_tools: lower(r.deny_tools),
            allow_tools: r.allow_tools.map(lower),
            allow_tool_types: r.allow_tool_types.map(lower),
            allow_mcp_servers,
            max_output_tokens: r.max_output_tokens,
        };
        if !rule.reads_text()
            && rule.deny_tools.is_empty()
            && rule.allow_tools.is_none()
            && rule.allow_tool_types.is_none()
            && rule.allow_mcp_servers.is_empty()
            && rule.max_output_tokens.is_none()
        {
            return Err(cx.invalid(key("id"), "the rule refuses nothing"));
        }
        rules.push(rule);
    }
    Ok(crate::ContentConfig { rules })
}

fn pii(cx: &Ctx, raw: RawPii) -> Result<PiiConfig, ConfigError> {
    use warden_pii::mask::{Action, KINDS, Profile};
    let detect = match &raw.phone_regions {
        None => warden_pii::Detect::default(),
        Some(codes) => warden_pii::Detect::with_regions(codes.iter().map(String::as_str))
            .map_err(|e| cx.invalid("pii.phone_regions", e))?,
    };
    let analyzer = raw.analyzer.map(|a| analyzer(cx, a)).transpose()?;
    let external: &[&'static str] = analyzer.as_ref().map_or(&[], |a| &a.entities);
    let mut profiles = std::collections::BTreeMap::new();
    let mut needs_key = false;
    for (name, actions) in raw.profiles {
        let mut profile = Profile {
            name: name.clone(),
            detect: detect.clone(),
            ..Profile::default()
        };
        for (kind, action) in actions {
            let key = format!("pii.profiles.{name}.{kind}");
            // Not an entity type: what to do with uploads masking cannot
            // read (PDF, images).
            if kind == "opaque_uploads" {
                profile.opaque_uploads = match action.as_str() {
                    "allow" => true,
                    "refuse" => false,
                    other => {
                        return Err(cx.invalid(key, format!("`{other}`: expected allow or refuse")));
                    }
                };
                continue;
            }
            let Some(kind) = KINDS.iter().chain(external).find(|k| **k == kind) else {
                let others = if external.is_empty() {
                    " (other types, such as PERSON, need a [pii.analyzer] that lists them)".into()
                } else {
                    format!(", or one of pii.analyzer.entities: {}", external.join(", "))
                };
                return Err(cx.invalid(
                    key,
                    format!(
                        "unknown entity type; expected one of {}{others}",
                        KINDS.join(", ")
                    ),
                ));
            };
            let action = match Action::parse(&action) {
                Some(a) => a,
                None => {
                    return Err(cx.invalid(
                        key,
                        format!("`{action}`: expected redact, partial, hash or pseudonymize"),
                    ));
                }
            };
            needs_key |= action == Action::Hash;
            profile.actions.insert(kind, action);
        }
        profiles.insert(name, profile);
    }
    let hash_key = match (&raw.hash_key_env, needs_key) {
        // Missing in a lenient load: empty, and the gateway refuses the config.
        (Some(var), _) => match cx.env_secret("pii.hash_key_env", var)? {
            None => Vec::new(),
            Some(v) if v.len() >= 16 => v.into_bytes(),
            Some(_) => {
                return Err(cx.invalid(
                    "pii.hash_key_env",
                    format!("environment variable `{var}` must hold at least 16 characters"),
                ));
            }
        },
        (None, true) => {
            return Err(cx.invalid(
                "pii.hash_key_env",
                "a profile uses `hash`: name the environment variable that holds its key",
            ));
        }
        (None, false) => Vec::new(),
    };
    let profiles: std::collections::BTreeMap<String, std::sync::Arc<Profile>> = profiles
        .into_iter()
        .map(|(name, mut profile)| {
            profile.hash_key.clone_from(&hash_key);
            (name, std::sync::Arc::new(profile))
        })
        .collect();
    let named = |i: usize, field: &str, name: &str| {
        profiles.get(name).cloned().ok_or_else(|| {
            cx.invalid(
                format!("pii.apply[{i}].{field}"),
                format!("no profile named `{name}`"),
            )
        })
    };
    let mut apply = Vec::new();
    let mut apply_output = Vec::new();
    for (i, a) in raw.apply.into_iter().enumerate() {
        if a.profile.is_none() && a.output_profile.is_none() {
            return Err(cx.invalid(
                format!("pii.apply[{i}]"),
                "name a `profile` (requests), an `output_profile` (answers), or both",
            ));
        }
        if let Some(name) = &a.profile {
            apply.push((a.group.clone(), named(i, "profile", name)?));
        }
        if let Some(name) = &a.output_profile {
            let profile = named(i, "output_profile", name)?;
            if let Some(kind) = profile.analyzer_only_kind() {
                // Configured but not enforced would be a silent hole.
                return Err(cx.invalid(
                    format!("pii.apply[{i}].output_profile"),
                    format!(
                        "profile `{name}` names {kind}, which only the analyzer finds; answers are masked with the built-in detectors only"
                    ),
                ));
            }
            apply_output.push((a.group.clone(), profile));
        }
    }
    Ok(PiiConfig {
        apply,
        apply_output,
        profiles,
        analyzer,
    })
}

fn analyzer(cx: &Ctx, raw: RawAnalyzer) -> Result<AnalyzerConfig, ConfigError> {
    use warden_pii::mask::KINDS;
    use warden_pii::mask::MAX_PLACEHOLDER;
    let url = http_url(cx, "pii.analyzer.url", &raw.url)?;
    if raw.entities.is_empty() {
        return Err(cx.invalid(
            "pii.analyzer.entities",
            "list the entity types to ask the analyzer for, such as [\"PERSON\", \"LOCATION\"]",
        ));
    }
    // `<PERSON_12345>` must fit in what restoring reads as one placeholder.
    let longest = MAX_PLACEHOLDER - "<_99999>".len();
    let mut entities: Vec<&'static str> = Vec::new();
    for e in &raw.entities {
        let reason = if !is_upper_ident(e) {
            Some(format!(
                "`{e}`: entity types are upper-case identifiers such as PERSON"
            ))
        } else if e.len() > longest {
            Some(format!(
                "`{e}`: at most {longest} characters, so its placeholders can be restored"
            ))
        } else if KINDS.contains(&e.as_str()) {
            Some(format!(
                "`{e}` is found by Warden's own detectors; ask the analyzer for other types"
            ))
        } else if entities.contains(&e.as_str()) {
            Some(format!("`{e}` is listed twice"))
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(cx.invalid("pii.analyzer.entities", reason));
        }
        entities.push(intern(e));
    }
    let timeout_ms = raw.timeout_ms.unwrap_or(d::ANALYZER_TIMEOUT_MS);
    if !(1..=60_000).contains(&timeout_ms) {
        return Err(cx.invalid(
            "pii.analyzer.timeout_ms",
            "must be between 1 and 60000 (milliseconds)",
        ));
    }
    let fail_open = match raw.on_error.as_deref() {
        None | Some("closed") => false,
        Some("open") => true,
        Some(other) => {
            return Err(cx.invalid(
                "pii.analyzer.on_error",
                format!("`{other}`: expected `closed` (refuse the request) or `open` (mask with the built-in detectors only)"),
            ));
        }
    };
    let score_threshold = raw.score_threshold.unwrap_or(d::ANALYZER_SCORE_THRESHOLD);
    if !(0.0..=1.0).contains(&score_threshold) {
        return Err(cx.invalid("pii.analyzer.score_threshold", "must be between 0 and 1"));
    }
    let language = raw.language.unwrap_or_else(|| d::ANALYZER_LANGUAGE.into());
    if language.is_empty()
        || language.len() > 16
        || !language
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(cx.invalid(
            "pii.analyzer.language",
            format!("`{language}` is not a language code such as `en`"),
        ));
    }
    Ok(AnalyzerConfig {
        url,
        entities,
        timeout: Duration::from_millis(timeout_ms),
        fail_open,
        score_threshold,
        language,
    })
}

fn is_upper_ident(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Entity names from config as `&'static str`, the key type of a profile's
/// actions (shared with the built-in names). Each distinct name is leaked
/// once for the life of the process, however often configs are loaded, so
/// the leak is bounded by the names ever configured.
fn intern(name: &str) -> &'static str {
    use std::sync::{Mutex, OnceLock, PoisonError};
    static NAMES: OnceLock<Mutex<BTreeSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(known) = names.get(name) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    leaked
}

fn pattern_ok(p: &str) -> bool {
    !p.is_empty() && !p.contains(['"', '\\', '?', '[', '{'])
}

fn limits(cx: &Ctx, raw: RawLimits) -> Result<LimitsConfig, ConfigError> {
    let backend = match raw.backend.as_deref() {
        None | Some("memory") => LimitBackend::Memory,
        Some("redis") => {
            let url = raw.redis_url.ok_or_else(|| {
                cx.invalid(
                    "limits.redis_url",
                    "required when limits.backend = \"redis\"",
                )
            })?;
            if !url.starts_with("redis://") && !url.starts_with("rediss://") {
                return Err(
                    cx.invalid("limits.redis_url", format!("`{url}` is not a redis:// URL"))
                );
            }
            LimitBackend::Redis {
                url,
                prefix: raw.redis_prefix.unwrap_or_else(|| "warden".into()),
            }
        }
        Some(other) => {
            return Err(cx.invalid(
                "limits.backend",
                format!("`{other}`: expected `memory` or `redis`"),
            ));
        }
    };
    let fail_open = match raw.on_backend_error.as_deref() {
        None | Some("deny") => false,
        Some("allow") => true,
        Some(other) => {
            return Err(cx.invalid(
                "limits.on_backend_error",
                format!("`{other}`: expected `deny` or `allow`"),
            ));
        }
    };
    let mut rules = Vec::new();
    let mut names = BTreeSet::new();
    for (i, r) in raw.rules.into_iter().enumerate() {
        let key = |k: &str| format!("limits.rule[{i}].{k}");
        if r.name.is_empty() || r.name.contains([':', '{', '}']) || !names.insert(r.name.clone()) {
            return Err(cx.invalid(
                key("name"),
                "must be unique, non-empty, without `:` `{` `}`",
            ));
        }
        let scope = match r.scope.as_str() {
            "principal" => LimitScope::Principal,
            "key" => LimitScope::Key,
            "group" => LimitScope::Group,
            "model" => LimitScope::Model,
            "global" => LimitScope::Global,
            other => {
                return Err(cx.invalid(
                    key("scope"),
                    format!("`{other}`: expected principal, key, group, model or global"),
                ));
            }
        };
        if scope == LimitScope::Group && r.group.is_none() {
            return Err(cx.invalid(key("group"), "scope `group` needs the group it counts"));
        }
        if let Some(m) = &r.model
            && !pattern_ok(m)
        {
            return Err(cx.invalid(key("model"), format!("`{m}`: patterns may use `*` only")));
        }
        let usd = |field: &str, v: Option<f64>| -> Result<Option<u64>, ConfigError> {
            match v {
                None => Ok(None),
                Some(v) if v.is_finite() && v >= 0.0 => Ok(Some((v * 1e6).round() as u64)),
                Some(_) => Err(cx.invalid(key(field), "must be a non-negative number of USD")),
            }
        };
        let rule = LimitRule {
            name: r.name,
            scope,
            group: r.group,
            model: r.model,
            requests_per_minute: r.requests_per_minute,
            tokens_per_minute: r.tokens_per_minute,
            concurrent_requests: r.concurrent_requests,
            usd_micros_per_day: usd("usd_per_day", r.usd_per_day)?,
            usd_micros_per_month: usd("usd_per_month", r.usd_per_month)?,
        };
        if rule.requests_per_minute.is_none()
            && !rule.needs_tokens()
            && rule.concurrent_requests.is_none()
        {
            return Err(cx.invalid(key("name"), "the rule sets no limit"));
        }
        rules.push(rule);
    }
    Ok(LimitsConfig {
        backend,
        fail_open,
        default_max_output_tokens: raw.default_max_output_tokens.unwrap_or(1024),
        rules,
    })
}

fn prices(
    cx: &Ctx,
    raw: std::collections::BTreeMap<String, RawPrice>,
) -> Result<PriceTable, ConfigError> {
    let mut entries = Vec::new();
    for (pattern, p) in raw {
        let key = format!("prices.\"{pattern}\"");
        if !pattern_ok(&pattern) {
            return Err(cx.invalid(key, "model patterns may use `*` only"));
        }
        let cached = p.cached_input.unwrap_or(p.input);
        if [p.input, cached, p.output]
            .iter()
            .any(|v| !v.is_finite() || *v < 0.0)
        {
            return Err(cx.invalid(key, "prices must be non-negative USD per million tokens"));
        }
        entries.push((
            pattern,
            Price {
                input: p.input,
                cached_input: cached,
                output: p.output,
            },
        ));
    }
    // Exact names first, then patterns, each group longest first: the most
    // specific entry wins.
    entries.sort_by_key(|(p, _)| (p.contains('*'), std::cmp::Reverse(p.len())));
    Ok(PriceTable { entries })
}

fn unique<'a>(
    cx: &Ctx,
    what: &str,
    names: impl Iterator<Item = &'a str>,
) -> Result<(), ConfigError> {
    let mut seen = BTreeSet::new();
    for n in names {
        if !seen.insert(n) {
            return Err(cx.invalid(format!("{what}.name"), format!("`{n}` is used twice")));
        }
    }
    Ok(())
}

fn server(cx: &Ctx, raw: RawServer) -> Result<ServerConfig, ConfigError> {
    let listen = raw.listen.as_deref().unwrap_or(d::LISTEN);
    let listen = listen.parse().map_err(|_| {
        cx.invalid(
            "server.listen",
            format!("`{listen}` is not an address:port like 127.0.0.1:8080"),
        )
    })?;
    let max_body_bytes = raw.max_body_bytes.unwrap_or(d::MAX_BODY_BYTES);
    if max_body_bytes < 1024 {
        return Err(cx.invalid("server.max_body_bytes", "must be at least 1024"));
    }
    let max_json_depth = raw.max_json_depth.unwrap_or(d::MAX_JSON_DEPTH);
    if !(4..=128).contains(&max_json_depth) {
        return Err(cx.invalid("server.max_json_depth", "must be between 4 and 128"));
    }
    let timeout = |key: &str, given: Option<Duration>, default: Duration| {
        let t = given.unwrap_or(default);
        if t < Duration::from_millis(100) || t > Duration::from_secs(3600) {
            return Err(cx.invalid(key, "must be between 100ms and 1h"));
        }
        Ok(t)
    };
    Ok(ServerConfig {
        listen,
        max_body_bytes,
        max_upload_bytes: raw.max_upload_bytes.unwrap_or(d::MAX_UPLOAD_BYTES),
        max_json_depth,
        shutdown_grace: raw.shutdown_grace.unwrap_or(d::SHUTDOWN_GRACE),
        header_timeout: timeout(
            "server.header_timeout",
            raw.header_timeout,
            d::HEADER_TIMEOUT,
        )?,
        body_timeout: timeout("server.body_timeout", raw.body_timeout, d::BODY_TIMEOUT)?,
    })
}

fn log(cx: &Ctx, raw: RawLog) -> Result<LogConfig, ConfigError> {
    let format = match raw.format.as_deref() {
        None | Some("pretty") => LogFormat::Pretty,
        Some("json") => LogFormat::Json,
        Some(other) => {
            return Err(cx.invalid(
                "log.format",
                format!("`{other}`: expected `pretty` or `json`"),
            ));
        }
    };
    Ok(LogConfig {
        format,
        level: raw.level.unwrap_or_else(|| "info".into()),
    })
}

fn http_url(cx: &Ctx, key: &str, url: &str) -> Result<String, ConfigError> {
    let ok = url.starts_with("https://") || url.starts_with("http://");
    if !ok || url.contains(char::is_whitespace) {
        return Err(cx.invalid(key, format!("`{url}` is not an http(s) URL")));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

fn issuer(cx: &Ctx, i: usize, raw: RawIssuer) -> Result<IssuerConfig, ConfigError> {
    let key = |k: &str| format!("issuer[{i}].{k}");
    if raw.name.is_empty() {
        return Err(cx.invalid(key("name"), "must not be empty"));
    }
    let issuer = http_url(cx, &key("issuer"), &raw.issuer)?;
    if raw.audiences.is_empty() || raw.audiences.iter().any(String::is_empty) {
        return Err(cx.invalid(
            key("audiences"),
            "name at least one non-empty audience: tokens minted for other services must not pass",
        ));
    }
    let jwks_uri = raw
        .jwks_uri
        .map(|u| http_url(cx, &key("jwks_uri"), &u))
        .transpose()?;
    let claim = raw.groups_claim.as_deref().unwrap_or(d::GROUPS_CLAIM);
    let groups_claim: Vec<String> = claim.split('.').map(str::to_owned).collect();
    if groups_claim.iter().any(String::is_empty) {
        return Err(cx.invalid(
            key("groups_claim"),
            format!("`{claim}` has an empty segment"),
        ));
    }
    let principal_kind = match raw.kind.as_deref() {
        None | Some("user") => PrincipalKind::User,
        Some("workload") => PrincipalKind::Workload,
        Some(other) => {
            return Err(cx.invalid(
                key("kind"),
                format!("`{other}`: expected `user` or `workload`"),
            ));
        }
    };
    let algorithms = match raw.algorithms {
        None => vec![
            SigningAlgorithm::Rs256,
            SigningAlgorithm::Es256,
            SigningAlgorithm::EdDsa,
        ],
        Some(list) if list.is_empty() => {
            return Err(cx.invalid(key("algorithms"), "must not be empty"));
        }
        Some(list) => list
            .iter()
            .map(|a| {
                SigningAlgorithm::parse(a).ok_or_else(|| {
                    cx.invalid(
                        key("algorithms"),
                        format!(
                            "`{a}` is not allowed: only asymmetric algorithms (RS*, PS*, ES256, ES384, EdDSA); `none` and HMAC are refused"
                        ),
                    )
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let leeway = raw.leeway.unwrap_or(d::LEEWAY);
    if leeway > d::MAX_LEEWAY {
        return Err(cx.invalid(key("leeway"), "must be at most 60s"));
    }
    Ok(IssuerConfig {
        name: raw.name,
        issuer,
        audiences: raw.audiences,
        jwks_uri,
        groups_claim,
        principal_kind,
        algorithms,
        leeway,
        jwks_refresh: at_least(cx, &key("jwks_refresh"), raw.jwks_refresh, d::JWKS_REFRESH)?,
        jwks_min_refresh: raw.jwks_min_refresh.unwrap_or(d::JWKS_MIN_REFRESH),
    })
}

fn at_least(
    cx: &Ctx,
    key: &str,
    value: Option<Duration>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    let v = value.unwrap_or(default);
    if v < Duration::from_secs(1) {
        return Err(cx.invalid(key, "must be at least 1s"));
    }
    Ok(v)
}

fn connection(cx: &Ctx, i: usize, raw: RawConnection) -> Result<ConnectionConfig, ConfigError> {
    let key = |k: &str| format!("connection[{i}].{k}");
    if raw.name.is_empty() || raw.name.contains(['/', '"']) {
        return Err(cx.invalid(key("name"), "must be non-empty, without `/` or `\"`"));
    }
    let base_url = http_url(cx, &key("base_url"), &raw.base_url)?;
    // Warden appends each call's path (`/chat/completions`) to the base URL:
    // after a query or fragment that path would land inside it. The URL is
    // not repeated, as a query may carry a credential.
    if let Some(part) = [('?', "a query string"), ('#', "a fragment")]
        .into_iter()
        .find_map(|(c, what)| base_url.contains(c).then_some(what))
    {
        return Err(cx.invalid(
            key("base_url"),
            format!(
                "has {part}: a call's path (/chat/completions, ...) is appended to base_url, so it must end in the API's path, like https://api.openai.com/v1"
            ),
        ));
    }
    let (credential, credential_source) = match (raw.api_key_env, raw.api_key_file) {
        (Some(_), Some(_)) => {
            return Err(cx.invalid(
                key("api_key_env"),
                "set api_key_env or api_key_file, not both",
            ));
        }
        (Some(var), None) => match (cx.env)(&var) {
            Some(v) if !v.trim().is_empty() => (
                Some(SecretString::from(v.trim().to_owned())),
                format!("env {var}"),
            ),
            _ if raw.api_key_optional => (None, format!("env {var} (not set)")),
            _ => {
                cx.missing(
                    key("api_key_env"),
                    format!("environment variable `{var}` is not set or empty"),
                )?;
                (None, format!("env {var} (missing)"))
            }
        },
        (None, Some(path)) => {
            let path = cx.resolve(&path);
            let source = format!("file {}", path.display());
            match std::fs::read_to_string(&path) {
                Ok(text) if !text.trim().is_empty() => {
                    (Some(SecretString::from(text.trim().to_owned())), source)
                }
                read => {
                    let reason = match read {
                        Err(e) => format!("cannot read {}: {e}", path.display()),
                        Ok(_) => format!("{} is empty", path.display()),
                    };
                    cx.missing(key("api_key_file"), reason)?;
                    (None, format!("{source} (missing)"))
                }
            }
        }
        // A local server (vLLM, Ollama) may need no credential at all.
        (None, None) => (None, "none".to_owned()),
    };
    let auth = match raw.auth.as_deref() {
        None | Some("bearer") => UpstreamAuth::Bearer,
        Some("api-key") => UpstreamAuth::ApiKeyHeader,
        Some(other) => {
            return Err(cx.invalid(
                key("auth"),
                format!("`{other}`: expected `bearer` or `api-key`"),
            ));
        }
    };
    if raw.models.is_empty() && !raw.default {
        return Err(cx.invalid(
            key("models"),
            "list the model globs this connection serves (or make it the default)",
        ));
    }
    let models = patterns(cx, &key("models"), raw.models)?;
    for name in raw.headers.keys() {
        let lower = name.to_ascii_lowercase();
        if http::HeaderName::from_bytes(lower.as_bytes()).is_err() {
            return Err(cx.invalid(key("headers"), format!("`{name}` is not a header name")));
        }
    }
    Ok(ConnectionConfig {
        name: raw.name,
        base_url,
        credential,
        credential_source,
        auth,
        models,
        default: raw.default,
        connect_timeout: at_least(
            cx,
            &key("connect_timeout"),
            raw.connect_timeout,
            d::CONNECT_TIMEOUT,
        )?,
        first_byte_timeout: at_least(
            cx,
            &key("first_byte_timeout"),
            raw.first_byte_timeout,
            d::FIRST_BYTE_TIMEOUT,
        )?,
        idle_timeout: at_least(cx, &key("idle_timeout"), raw.idle_timeout, d::IDLE_TIMEOUT)?,
        headers: raw.headers.into_iter().collect(),
    })
}

fn patterns(cx: &Ctx, key: &str, globs: Vec<String>) -> Result<ModelPatterns, ConfigError> {
    let mut builder = GlobSetBuilder::new();
    for g in &globs {
        let glob = Glob::new(g).map_err(|e| cx.invalid(key, format!("`{g}`: {e}")))?;
        builder.add(glob);
    }
    let set = builder
        .build()
        .map_err(|e| cx.invalid(key, e.to_string()))?;
    Ok(ModelPatterns { globs, set })
}

fn policy(cx: &Ctx, raw: RawPolicy) -> Result<PolicyConfig, ConfigError> {
    let mut groups = Vec::new();
    for (group, rule) in raw.groups {
        let key = |k: &str| format!("policy.groups.{group}.{k}");
        if group.is_empty() || group.contains('"') {
            return Err(cx.invalid(
                "policy.groups",
                "group names must be non-empty, without `\"`",
            ));
        }
        for m in &rule.models {
            // The table compiles to Cedar `like`, where only `*` is special.
            if m.is_empty() || m.contains(['"', '\\', '?', '[', '{']) {
                return Err(cx.invalid(
                    key("models"),
                    format!("`{m}`: model patterns may use `*` only"),
                ));
            }
        }
        let mut endpoints = Vec::new();
        for e in &rule.endpoints {
            if e == "*" {
                endpoints = EndpointKind::ALL.to_vec();
                break;
            }
            let kind = EndpointKind::parse(e).ok_or_else(|| {
                cx.invalid(
                    key("endpoints"),
                    format!(
                        "`{e}` is not an endpoint kind; expected one of: {}",
                        EndpointKind::ALL.map(EndpointKind::as_str).join(", ")
                    ),
                )
            })?;
            endpoints.push(kind);
        }
        if rule.models.is_empty() && endpoints.iter().all(|k| k.carries_model()) {
            return Err(cx.invalid(
                key("models"),
                "grants nothing: list models, or model-less endpoints such as `files`",
            ));
        }
        groups.push(GroupRule {
            group,
            models: rule.models,
            endpoints,
        });
    }
    let mut cedar = Vec::new();
    if let Some(text) = raw.cedar {
        cedar.push(CedarSource {
            origin: format!("{} [policy.cedar]", cx.file.display()),
            text,
        });
    }
    for (i, path) in raw.cedar_files.iter().enumerate() {
        let path = cx.resolve(path);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            cx.invalid(
                format!("policy.cedar_files[{i}]"),
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        cedar.push(CedarSource {
            origin: path.display().to_string(),
            text,
        });
    }
    Ok(PolicyConfig { groups, cedar })
}
