//! Who is calling. Turns the caller's `Authorization: Bearer ...` into a
//! [`Principal`], or refuses with an [`IdentityError`] whose `code()` the
//! caller can act on. Two kinds of credential:
//!
//! - OIDC access tokens (JWT) from configured issuers ([`oidc`]): discovery,
//!   a JWKS cache per issuer, an asymmetric-only algorithm allow-list.
//! - Warden-issued keys ([`keys`]): random, stored only as a hash, checked
//!   against the store on every request so revocation is immediate.
//!
//! Tokens never appear in errors or logs: errors carry only what kind of
//! problem it was.

pub mod http;
pub mod keys;
pub mod oidc;

use std::sync::Arc;

use ::http::HeaderMap;
use warden_config::Config;
use warden_core::Principal;
use warden_store::KeyStore;

pub use keys::{KeyManager, KeySpec, NewKey};
pub use oidc::OidcVerifier;

/// Why a caller was not authenticated. Messages are safe to show the caller.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum IdentityError {
    #[error(
        "no credential: send `Authorization: Bearer <token>` with an OIDC access token or a Warden key"
    )]
    MissingToken,
    #[error("the credential is not a JWT or a Warden key")]
    Malformed,
    #[error("token is not valid: {0}")]
    Invalid(&'static str),
    #[error("token issuer is not trusted by this gateway")]
    UntrustedIssuer,
    #[error("token signing algorithm `{0}` is not allowed")]
    DisallowedAlgorithm(String),
    #[error("token has expired")]
    Expired,
    #[error("Warden key has been revoked")]
    KeyRevoked,
    #[error("Warden key has expired")]
    KeyExpired,
    #[error("Warden keys are disabled on this gateway")]
    KeysDisabled,
    /// The issuer's keys could not be fetched: we cannot decide, so refuse.
    #[error("identity provider `{0}` is unreachable; try again shortly")]
    ProviderUnavailable(String),
    #[error("key store is unavailable; try again shortly")]
    StoreUnavailable,
}

impl IdentityError {
    /// The stable OpenAI-style error code.
    pub fn code(&self) -> &'static str {
        match self {
            IdentityError::MissingToken => "missing_token",
            IdentityError::Expired => "token_expired",
            IdentityError::KeyRevoked => "key_revoked",
            IdentityError::KeyExpired => "key_expired",
            IdentityError::ProviderUnavailable(_) | IdentityError::StoreUnavailable => {
                "identity_unavailable"
            }
            IdentityError::Malformed
            | IdentityError::Invalid(_)
            | IdentityError::UntrustedIssuer
            | IdentityError::DisallowedAlgorithm(_)
            | IdentityError::KeysDisabled => "invalid_token",
        }
    }

    /// Whether the caller could succeed by retrying the same credential.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            IdentityError::ProviderUnavailable(_) | IdentityError::StoreUnavailable
        )
    }
}

/// The identity stage: every configured way to authenticate.
#[derive(Debug, Clone)]
pub struct Identity {
    oidc: Option<Arc<OidcVerifier>>,
    keys: Option<KeyManager>,
}

impl Identity {
    pub fn new(config: &Config, key_store: Arc<dyn KeyStore>) -> Identity {
        let oidc = (!config.issuers.is_empty())
            .then(|| Arc::new(OidcVerifier::new(config.issuers.clone())));
        let keys = config.keys.enabled.then(|| KeyManager::new(key_store));
        Identity { oidc, keys }
    }

    /// Starts background JWKS refresh; returns immediately.
    pub fn spawn_refresh(&self) {
        if let Some(oidc) = &self.oidc {
            oidc.spawn_refresh();
        }
    }

    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, IdentityError> {
        let token = bearer(headers)?;
        if token.starts_with(keys::PREFIX) {
            return match &self.keys {
                Some(keys) => keys.authenticate(token).await,
                None => Err(IdentityError::KeysDisabled),
            };
        }
        match &self.oidc {
            Some(oidc) if token.bytes().filter(|b| *b == b'.').count() == 2 => {
                oidc.verify(token).await
            }
            Some(_) => Err(IdentityError::Malformed),
            None => Err(IdentityError::Malformed),
        }
    }
}

/// The bearer credential, without the scheme.
fn bearer(headers: &HeaderMap) -> Result<&str, IdentityError> {
    let value = headers
        .get(::http::header::AUTHORIZATION)
        .ok_or(IdentityError::MissingToken)?;
    let value = value.to_str().map_err(|_| IdentityError::Malformed)?;
    let (scheme, token) = value.split_once(' ').ok_or(IdentityError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(IdentityError::Malformed);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(IdentityError::MissingToken);
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use ::http::{HeaderMap, HeaderValue, header::AUTHORIZATION};

    use super::*;

    fn with(v: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_static(v));
        h
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer(&HeaderMap::new()), Err(IdentityError::MissingToken));
        assert_eq!(bearer(&with("Bearer ")), Err(IdentityError::MissingToken));
        assert_eq!(bearer(&with("Basic abc")), Err(IdentityError::Malformed));
        assert_eq!(bearer(&with("bearer a.b.c")), Ok("a.b.c"));
    }

    #[test]
    fn messages_never_carry_the_token() {
        // Every variant's message is static text plus, at most, a provider
        // name or algorithm: nothing derived from the credential's secret part.
        let e = IdentityError::DisallowedAlgorithm("HS256".into());
        assert_eq!(e.code(), "invalid_token");
        assert!(e.to_string().contains("HS256"));
    }
}
