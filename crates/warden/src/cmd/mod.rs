//! One module per verb. Commands return `anyhow::Result`; `main` prints the
//! error chain and exits non-zero.

mod approvals;
mod audit;
mod config;
mod keys;
mod pii;
mod plan;
mod policy;
mod serve;
mod sessions;
mod usage;

use std::path::Path;

use anyhow::Context as _;
use warden_config::{Config, SecretMode};

use crate::cli::{Cli, Command};

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { config, listen } => serve::run(config.config.as_deref(), listen).await,
        Command::Config { command } => config::run(command),
        Command::Keys { config, command } => keys::run(config.config.as_deref(), command).await,
        Command::Policy { config, command } => policy::run(config.config.as_deref(), command),
        Command::Pii { command } => pii::run(command),
        Command::Audit { command } => audit::run(command).await,
        Command::Approvals { server, command } => approvals::run(&server, command).await,
        Command::Sessions { config, command } => {
            sessions::run(config.config.as_deref(), command).await
        }
        Command::Usage {
            config,
            by,
            since,
            json,
        } => usage::run(config.config.as_deref(), &by, *since, json).await,
    }
}

/// The file's config, or the embedded default, with every secret it names
/// (`serve`, and commands that use them: `pii scan` hashes with the key).
pub fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    load_config_with(path, SecretMode::Strict)
}

/// [`load_config`] for commands that only read the configuration or the
/// store: a secret missing from this environment is a warning on stderr,
/// and the config holds nothing in its place (the store's own URL is
/// required where the store is opened, see [`open_store`]).
pub fn load_config_lenient(path: Option<&Path>) -> anyhow::Result<Config> {
    let config = load_config_with(path, SecretMode::Lenient)?;
    for missing in &config.missing_secrets {
        warn(&format!(
            "{missing} (`warden serve` refuses to start without it)"
        ));
    }
    Ok(config)
}

fn load_config_with(path: Option<&Path>, mode: SecretMode) -> anyhow::Result<Config> {
    let env = &warden_config::process_env;
    let config = match path {
        Some(p) => warden_config::load_with_mode(p, env, mode)?,
        None => warden_config::embedded_default_with_mode(env, mode)?,
    };
    Ok(config)
}

/// The configured store: PostgreSQL when `[store] postgres_url_env` is
/// set, else the SQLite file.
pub async fn open_store(
    config: &Config,
) -> anyhow::Result<std::sync::Arc<dyn warden_store::Store>> {
    use secrecy::ExposeSecret as _;
    // A lenient load may lack the one secret every store command needs:
    // with PostgreSQL named, going on without its URL could only mean
    // falling back to a local SQLite file, writing keys nobody serves.
    if let (None, Some(var)) = (&config.store.postgres_url, &config.store.postgres_url_env) {
        anyhow::bail!(
            "`store.postgres_url_env`: environment variable `{var}` is not set or empty; the store is PostgreSQL and this command reads or writes it"
        );
    }
    if let Some(url) = &config.store.postgres_url {
        // The URL may hold a password: it is never part of an error.
        let store = warden_store::PostgresStore::connect(url.expose_secret())
            .await
            .context("connecting to the PostgreSQL store (store.postgres_url_env)")?;
        return Ok(std::sync::Arc::new(store));
    }
    let path = &config.store.sqlite_path;
    let durable = config.audit.durability == warden_config::Durability::Fsync;
    let store = warden_store::SqliteStore::open_with(path, durable)
        .await
        .with_context(|| format!("opening the SQLite store at {}", path.display()))?;
    Ok(std::sync::Arc::new(store))
}

/// The operator running a CLI command on this host, as the audit trail
/// names them.
pub fn operator() -> warden_core::Actor {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    warden_core::Actor {
        subject: Some(format!("os:{user}")),
        ..warden_core::Actor::default()
    }
}

/// The one place the CLI writes errors to the terminal.
#[expect(clippy::print_stderr, reason = "the CLI reports its own failure")]
pub fn fail(message: &str) {
    eprintln!("warden: error: {message}");
}

/// The one place the CLI writes warnings: something to fix, not a failure.
#[expect(clippy::print_stderr, reason = "the CLI reports what it worked around")]
pub fn warn(message: &str) {
    eprintln!("warden: warning: {message}");
}
