//! Warden's configuration: TOML parsed into raw serde types that refuse unknown
//! keys ([`raw`]), then validated into the typed [`Config`] the rest of Warden
//! uses ([`validate`]). Every problem names the file, the key and what was
//! expected, and stops start-up; `warden config check` runs the same path.
//!
//! Why TOML: it is the Rust ecosystem's config format, it has no implicit typing
//! (YAML turns `no` into `false` and `1.10` into `1.1`, which bites model names
//! and versions), and the `toml` crate reports the line and key of each error.

mod content;
mod defaults;
pub mod raw;
mod secrets;
mod types;
mod validate;

use std::path::{Path, PathBuf};

pub use content::{ContentConfig, ContentRule, McpAllow, RuleText};
pub use defaults::DEFAULT_KEY_GROUP;
pub use secrets::{MissingSecret, SecretMode};
pub use types::*;

/// A configuration problem that stops start-up.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Parse { file: PathBuf, message: String },
    #[error("{file}: `{key}`: {reason}")]
    Invalid {
        file: PathBuf,
        key: String,
        reason: String,
    },
}

/// Where a configuration came from, for error messages and the start-up banner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    EmbeddedDefault,
}

impl Source {
    fn path(&self) -> PathBuf {
        match self {
            Source::File(p) => p.clone(),
            Source::EmbeddedDefault => PathBuf::from("<embedded default>"),
        }
    }
}

/// Reads, parses and validates a config file, resolving secrets from the
/// environment or files it names.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_with_env(path, &process_env)
}

/// Looks up an environment variable; injected so tests need not mutate the
/// process environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The real process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// [`load`] with an explicit environment.
pub fn load_with_env(path: &Path, env: EnvLookup<'_>) -> Result<Config, ConfigError> {
    load_with_mode(path, env, SecretMode::Strict)
}

/// [`load_with_env`], with missing secrets an error or recorded (see
/// [`SecretMode`]).
pub fn load_with_mode(
    path: &Path,
    env: EnvLookup<'_>,
    mode: SecretMode,
) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    from_toml_with_mode(&text, Source::File(path.to_path_buf()), env, mode)
}

/// Parses and validates config text. Relative paths inside resolve against the
/// file's directory.
pub fn from_toml(text: &str, source: Source, env: EnvLookup<'_>) -> Result<Config, ConfigError> {
    from_toml_with_mode(text, source, env, SecretMode::Strict)
}

/// [`from_toml`] in a [`SecretMode`].
pub fn from_toml_with_mode(
    text: &str,
    source: Source,
    env: EnvLookup<'_>,
    mode: SecretMode,
) -> Result<Config, ConfigError> {
    let raw: raw::RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
        file: source.path(),
        message: e.to_string().trim_end().to_owned(),
    })?;
    validate::validate(raw, source, env, mode)
}

/// The configuration `warden serve` runs with when no file is given: SQLite at
/// `./warden.db`, OpenAI upstream with the server's own `OPENAI_API_KEY`,
/// Warden-issued keys as the only identity, group `users` may use every model.
pub fn embedded_default(env: EnvLookup<'_>) -> Result<Config, ConfigError> {
    embedded_default_with_mode(env, SecretMode::Strict)
}

/// [`embedded_default`] in a [`SecretMode`].
pub fn embedded_default_with_mode(
    env: EnvLookup<'_>,
    mode: SecretMode,
) -> Result<Config, ConfigError> {
    validate::validate(defaults::embedded(), Source::EmbeddedDefault, env, mode)
}

#[cfg(test)]
mod tests;
