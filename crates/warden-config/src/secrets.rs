//! The secrets a config names (environment variables, key files), and what
//! a secret that is not there does.
//!
//! `warden serve` needs every one: a missing secret stops start-up, naming
//! the key and the variable ([`SecretMode::Strict`]). The commands that only
//! read the configuration (`warden config check`, `warden policy test`,
//! `warden keys`, ...) are run where the production secrets are not, on an
//! operator's laptop or in CI. There a missing secret is recorded in
//! [`Config::missing_secrets`](crate::Config::missing_secrets) and left out
//! ([`SecretMode::Lenient`]): the value in its place is `None` (an empty
//! hash key), never a made-up credential, and `warden_gateway::Gateway`
//! refuses a config that has missing secrets, so a leniently loaded config
//! can neither reach an upstream nor serve.
//!
//! A secret that is there but unfit (too short, not a `postgres://` URL) is
//! an error in both modes: that is a mistake, not a machine without the
//! production environment.

use std::fmt;
use std::path::PathBuf;

use crate::ConfigError;
use crate::validate::Ctx;

/// How validation treats a secret it cannot find.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SecretMode {
    /// A missing secret is an error (`warden serve`, and `--strict`).
    #[default]
    Strict,
    /// A missing secret is recorded in `Config::missing_secrets` and left
    /// out (the commands that do not serve).
    Lenient,
}

/// A secret a leniently loaded config does not have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingSecret {
    pub file: PathBuf,
    /// The config key that names it (`connection[0].api_key_env`).
    pub key: String,
    /// What is missing (`environment variable `OPENAI_API_KEY` is not set`).
    pub reason: String,
}

impl fmt::Display for MissingSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: `{}`: {}",
            self.file.display(),
            self.key,
            self.reason
        )
    }
}

impl Ctx<'_> {
    /// A secret that is not there: an error when secrets are required,
    /// else recorded (the caller leaves the value out).
    pub(crate) fn missing(
        &self,
        key: impl Into<String>,
        reason: impl Into<String>,
    ) -> Result<(), ConfigError> {
        let (key, reason) = (key.into(), reason.into());
        match self.mode {
            SecretMode::Strict => Err(self.invalid(key, reason)),
            SecretMode::Lenient => {
                self.missing.borrow_mut().push(MissingSecret {
                    file: self.file.clone(),
                    key,
                    reason,
                });
                Ok(())
            }
        }
    }

    /// The value of the environment variable `var`, which `key` names, as
    /// set (not trimmed: a hash key is used byte for byte); `None`, recorded
    /// as missing, when it is unset or blank.
    pub(crate) fn env_secret(&self, key: &str, var: &str) -> Result<Option<String>, ConfigError> {
        match (self.env)(var) {
            Some(v) if !v.trim().is_empty() => Ok(Some(v)),
            _ => self
                .missing(
                    key,
                    format!("environment variable `{var}` is not set or empty"),
                )
                .map(|()| None),
        }
    }
}
