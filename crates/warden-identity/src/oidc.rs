//! OIDC access-token verification for one or more trusted issuers.
//!
//! Each issuer has a JWKS cache. Keys are fetched lazily on first use, on a
//! periodic timer, and when a token names a `kid` we do not know (the IdP
//! rotated). That last refresh is rate-limited per issuer
//! (`jwks_min_refresh`) and single-flight, so a flood of tokens with made-up
//! `kid`s costs the IdP at most one fetch per interval.
//!
//! Only asymmetric algorithms from the issuer's allow-list are accepted, and
//! the JWK's own family (and `alg`, when it states one) must match the
//! token's: `none`, HMAC, and "HS256 keyed with the public key" never verify.
//!
//! A verified token is remembered (by its SHA-256, never the token itself)
//! until its own `exp` plus leeway, so an agent reusing its token costs one
//! hash instead of an RSA verification per call. A remembered token is
//! dropped as soon as its signing key leaves the issuer's JWKS, so rotation
//! and key revocation apply to it exactly as to a fresh token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use warden_config::{IssuerConfig, SigningAlgorithm};
use warden_core::Principal;

use crate::IdentityError;

/// Verifies tokens against every configured issuer.
#[derive(Debug)]
pub struct OidcVerifier {
    issuers: Vec<Arc<IssuerState>>,
    verified: Mutex<HashMap<[u8; 32], Verified>>,
}

/// Bound on remembered tokens; past it, expired ones are dropped, then all.
const MAX_VERIFIED: usize = 16_384;

#[derive(Debug, Clone)]
struct Verified {
    principal: Principal,
    issuer: usize,
    kid: String,
    /// Unix seconds after which the token is expired (exp + leeway).
    valid_until: i64,
}

fn now_secs() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

#[derive(Debug)]
struct IssuerState {
    config: IssuerConfig,
    algorithms: Vec<Algorithm>,
    http: reqwest::Client,
    keys: RwLock<Arc<KeySet>>,
    /// Held while fetching, so concurrent misses share one fetch.
    refreshing: tokio::sync::Mutex<Option<Instant>>,
}

#[derive(Debug, Default)]
struct KeySet {
    by_kid: HashMap<String, CachedKey>,
    /// Keys without a `kid`, usable only when a token names none.
    unnamed: Vec<CachedKey>,
    jwks_uri: Option<String>,
}

#[derive(Clone)]
struct CachedKey {
    key: DecodingKey,
    /// The JWK's declared `alg`, if any.
    alg: Option<Algorithm>,
}

impl std::fmt::Debug for CachedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedKey")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// The only claims Warden reads before choosing an issuer.
#[derive(Deserialize)]
struct IssuerPeek {
    iss: Option<String>,
}

impl OidcVerifier {
    pub fn new(issuers: Vec<IssuerConfig>) -> OidcVerifier {
        let http = crate::http::client_builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        OidcVerifier {
            issuers: issuers
                .into_iter()
                .map(|config| {
                    Arc::new(IssuerState {
                        algorithms: config.algorithms.iter().map(|a| to_jwt_alg(*a)).collect(),
                        config,
                        http: http.clone(),
                        keys: RwLock::new(Arc::new(KeySet::default())),
                        refreshing: tokio::sync::Mutex::new(None),
                    })
                })
                .collect(),
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// A token verified before, still unexpired, whose key is still published.
    fn remembered(&self, digest: &[u8; 32]) -> Option<Principal> {
        let hit = self.verified.lock().ok()?.get(digest).cloned()?;
        let issuer = self.issuers.get(hit.issuer)?;
        let key_still_published = issuer
            .keys
            .read()
            .is_ok_and(|k| k.by_kid.contains_key(&hit.kid));
        (now_secs() <= hit.valid_until && key_still_published).then_some(hit.principal)
    }

    fn remember(&self, digest: [u8; 32], entry: Verified) {
        let Ok(mut map) = self.verified.lock() else {
            return;
        };
        if map.len() >= MAX_VERIFIED {
            let now = now_secs();
            map.retain(|_, v| v.valid_until >= now);
            if map.len() >= MAX_VERIFIED {
                map.clear();
            }
        }
        map.insert(digest, entry);
    }

    /// Periodic JWKS refresh for every issuer, for the life of the runtime.
    pub fn spawn_refresh(&self) {
        for issuer in &self.issuers {
            let issuer = Arc::clone(issuer);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(issuer.config.jwks_refresh);
                loop {
                    tick.tick().await;
                    if let Err(e) = issuer.refresh(true).await {
                        tracing::warn!(issuer = %issuer.config.name, error = %e, "JWKS refresh failed");
                    }
                }
            });
        }
    }

    pub async fn verify(&self, token: &str) -> Result<Principal, IdentityError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(principal) = self.remembered(&digest) {
            return Ok(principal);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|e| match e.kind() {
            ErrorKind::InvalidAlgorithmName => IdentityError::DisallowedAlgorithm(
                alg_name_of(token).unwrap_or_else(|| "unknown".into()),
            ),
            _ => IdentityError::Invalid("malformed header"),
        })?;
        let peek: IssuerPeek = jsonwebtoken::dangerous::insecure_decode_claims(token)
            .map_err(|_| IdentityError::Invalid("malformed claims"))?;
        let iss = peek.iss.ok_or(IdentityError::Invalid("no `iss` claim"))?;
        let issuer = self
            .issuers
            .iter()
            .find(|i| i.config.issuer == iss.trim_end_matches('/'))
            .ok_or(IdentityError::UntrustedIssuer)?;
        if !issuer.algorithms.contains(&header.alg) {
            return Err(IdentityError::DisallowedAlgorithm(format!(
                "{:?}",
                header.alg
            )));
        }
        let key = issuer.key_for(header.kid.as_deref(), header.alg).await?;
        let claims = issuer.decode(token, header.alg, &key)?;
        let exp = claims.get("exp").and_then(Value::as_i64);
        let principal = issuer.principal(&iss, claims)?;
        if let (Some(kid), Some(exp)) = (header.kid, exp) {
            let index = self
                .issuers
                .iter()
                .position(|i| Arc::ptr_eq(i, issuer))
                .unwrap_or(usize::MAX);
            let leeway = i64::try_from(issuer.config.leeway.as_secs()).unwrap_or(0);
            self.remember(
                digest,
                Verified {
                    principal: principal.clone(),
                    issuer: index,
                    kid,
                    valid_until: exp.saturating_add(leeway),
                },
            );
        }
        Ok(principal)
    }
}

/// The raw `alg` text of a token whose algorithm the JWT library rejects
/// (`none`, typos), so the refusal can name it.
fn alg_name_of(token: &str) -> Option<String> {
    use base64::Engine as _;
    let head = token.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head)
        .ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    let alg = v.get("alg")?.as_str()?;
    Some(alg.chars().take(16).collect())
}

impl IssuerState {
    async fn key_for(&self, kid: Option<&str>, alg: Algorithm) -> Result<CachedKey, IdentityError> {
        if let Some(k) = self.lookup(kid, alg)? {
            return Ok(k);
        }
        // Unknown kid (or empty cache): refresh, rate-limited, then retry once.
        // Boxed: the fetch's state is large and rarely needed, and every
        // request's future would otherwise carry room for it.
        Box::pin(self.refresh(false)).await?;
        self.lookup(kid, alg)?.ok_or(IdentityError::Invalid(
            "signing key is not in the issuer's JWKS",
        ))
    }

    fn lookup(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Option<CachedKey>, IdentityError> {
        let keys = self
            .keys
            .read()
            .map_err(|_| IdentityError::Invalid("key cache poisoned"))?;
        let usable =
            |k: &&CachedKey| k.key.family() == alg.family() && k.alg.is_none_or(|a| a == alg);
        let found = match kid {
            Some(kid) => keys.by_kid.get(kid).filter(usable).cloned(),
            None => {
                let mut matching = keys
                    .unnamed
                    .iter()
                    .chain(keys.by_kid.values())
                    .filter(usable);
                match (matching.next(), matching.next()) {
                    (Some(one), None) => Some(one.clone()),
                    _ => None,
                }
            }
        };
        if let (None, Some(kid)) = (&found, kid)
            && keys.by_kid.contains_key(kid)
        {
            return Err(IdentityError::Invalid(
                "token algorithm does not match its key",
            ));
        }
        Ok(found)
    }

    /// Fetches the JWKS. `periodic` refreshes always run; miss-triggered ones
    /// are skipped if the last fetch was less than `jwks_min_refresh` ago.
    async fn refresh(&self, periodic: bool) -> Result<(), IdentityError> {
        let started = Instant::now();
        let mut last = self.refreshing.lock().await;
        if let Some(at) = *last {
            // Someone refreshed while we waited for the lock, or recently.
            if at >= started || (!periodic && at.elapsed() < self.config.jwks_min_refresh) {
                return if self.has_keys() {
                    Ok(())
                } else {
                    Err(self.unavailable())
                };
            }
        }
        *last = Some(Instant::now());
        let set = self.fetch().await.inspect_err(|e| {
            tracing::warn!(issuer = %self.config.name, error = %e, "cannot fetch JWKS");
        });
        let set = match set {
            Ok(set) => set,
            Err(_) if self.has_keys() => return Ok(()),
            Err(_) => return Err(self.unavailable()),
        };
        tracing::debug!(issuer = %self.config.name, keys = set.by_kid.len() + set.unnamed.len(), "JWKS loaded");
        if let Ok(mut keys) = self.keys.write() {
            *keys = Arc::new(set);
        }
        Ok(())
    }

    fn has_keys(&self) -> bool {
        self.keys
            .read()
            .is_ok_and(|k| !k.by_kid.is_empty() || !k.unnamed.is_empty())
    }

    fn unavailable(&self) -> IdentityError {
        IdentityError::ProviderUnavailable(self.config.name.clone())
    }

    async fn fetch(&self) -> Result<KeySet, String> {
        let known = self.keys.read().ok().and_then(|k| k.jwks_uri.clone());
        let jwks_uri = match self.config.jwks_uri.clone().or(known) {
            Some(uri) => uri,
            None => self.discover().await?,
        };
        let jwks: JwkSet = self
            .http
            .get(&jwks_uri)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("GET {jwks_uri}: {e}"))?
            .json()
            .await
            .map_err(|e| format!("GET {jwks_uri}: bad JWKS: {e}"))?;
        let mut set = KeySet {
            jwks_uri: Some(jwks_uri),
            ..KeySet::default()
        };
        for jwk in &jwks.keys {
            let Some(key) = usable_key(jwk) else { continue };
            match &jwk.common.key_id {
                Some(kid) => {
                    set.by_kid.insert(kid.clone(), key);
                }
                None => set.unnamed.push(key),
            }
        }
        Ok(set)
    }

    async fn discover(&self) -> Result<String, String> {
        #[derive(Deserialize)]
        struct Discovery {
            issuer: String,
            jwks_uri: String,
        }
        let url = format!("{}/.well-known/openid-configuration", self.config.issuer);
        let doc: Discovery = self
            .http
            .get(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("GET {url}: {e}"))?
            .json()
            .await
            .map_err(|e| format!("GET {url}: bad discovery document: {e}"))?;
        // OIDC Discovery 4.3: the document must be for the issuer we asked.
        if doc.issuer.trim_end_matches('/') != self.config.issuer {
            return Err(format!("discovery at {url} names issuer {}", doc.issuer));
        }
        Ok(doc.jwks_uri)
    }

    fn decode(
        &self,
        token: &str,
        alg: Algorithm,
        key: &CachedKey,
    ) -> Result<serde_json::Map<String, Value>, IdentityError> {
        let mut v = Validation::new(alg);
        v.set_issuer(&[&self.config.issuer, &format!("{}/", self.config.issuer)]);
        v.set_audience(&self.config.audiences);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.validate_nbf = true;
        v.leeway = self.config.leeway.as_secs();
        jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, &key.key, &v)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => IdentityError::Expired,
                ErrorKind::ImmatureSignature => {
                    IdentityError::Invalid("token is not valid yet (nbf)")
                }
                ErrorKind::InvalidAudience => {
                    IdentityError::Invalid("token audience is not this gateway")
                }
                ErrorKind::InvalidIssuer => IdentityError::UntrustedIssuer,
                ErrorKind::InvalidSignature => IdentityError::Invalid("bad signature"),
                ErrorKind::MissingRequiredClaim(_) => {
                    IdentityError::Invalid("a required claim (exp, iss, aud, sub) is missing")
                }
                ErrorKind::InvalidAlgorithm => {
                    IdentityError::Invalid("token algorithm does not match its key")
                }
                _ => IdentityError::Invalid("token could not be verified"),
            })
    }

    fn principal(
        &self,
        iss: &str,
        claims: serde_json::Map<String, Value>,
    ) -> Result<Principal, IdentityError> {
        let subject = match claims.get("sub") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err(IdentityError::Invalid("`sub` must be a non-empty string")),
        };
        Ok(Principal {
            kind: self.config.principal_kind,
            subject,
            issuer: Some(iss.trim_end_matches('/').to_owned()),
            groups: groups_at(&claims, &self.config.groups_claim),
            key_id: None,
            model_scope: None,
        })
    }
}

/// Groups at a dotted claim path: an array of strings, or one string of
/// space-separated names (as some IdPs send `scope`-like claims).
fn groups_at(claims: &serde_json::Map<String, Value>, path: &[String]) -> Vec<String> {
    let mut value = None;
    let mut map = Some(claims);
    for segment in path {
        value = map.and_then(|m| m.get(segment));
        map = value.and_then(Value::as_object);
    }
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// A JWK Warden may verify with: signing keys of an asymmetric type only.
fn usable_key(jwk: &Jwk) -> Option<CachedKey> {
    if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
        return None; // symmetric: never trusted from a JWKS
    }
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != jsonwebtoken::jwk::PublicKeyUse::Signature)
    {
        return None;
    }
    // A stated `alg` must be a signing algorithm (not RSA-OAEP and the like).
    let alg = match jwk.common.key_algorithm {
        Some(a) => Some(a.to_string().parse::<Algorithm>().ok()?),
        None => None,
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(CachedKey { key, alg })
}

fn to_jwt_alg(a: SigningAlgorithm) -> Algorithm {
    match a {
        SigningAlgorithm::Rs256 => Algorithm::RS256,
        SigningAlgorithm::Rs384 => Algorithm::RS384,
        SigningAlgorithm::Rs512 => Algorithm::RS512,
        SigningAlgorithm::Ps256 => Algorithm::PS256,
        SigningAlgorithm::Ps384 => Algorithm::PS384,
        SigningAlgorithm::Ps512 => Algorithm::PS512,
        SigningAlgorithm::Es256 => Algorithm::ES256,
        SigningAlgorithm::Es384 => Algorithm::ES384,
        SigningAlgorithm::EdDsa => Algorithm::EdDSA,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn groups_from_claim_paths() {
        let claims = json!({
            "groups": ["eng", "ops"],
            "realm_access": {"roles": ["admin"]},
            "cognito:groups": "a b",
        });
        let claims = claims.as_object().cloned().unwrap_or_default();
        let path = |p: &str| p.split('.').map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(groups_at(&claims, &path("groups")), ["eng", "ops"]);
        assert_eq!(groups_at(&claims, &path("realm_access.roles")), ["admin"]);
        assert_eq!(groups_at(&claims, &path("cognito:groups")), ["a", "b"]);
        assert!(groups_at(&claims, &path("missing.path")).is_empty());
    }
}
