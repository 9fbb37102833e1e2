//! Warden-issued keys, for agents that cannot get OIDC tokens.
//!
//! A key reads `wdn_<id>_<secret>`: `id` (12 hex chars) is public and names
//! the key in records and the CLI; `secret` is 32 random bytes. The store keeps
//! only SHA-256 of the whole key: with 256 bits of entropy a fast hash is as
//! strong as a slow one, and keeps the per-request check cheap. Every request
//! reads the key's row, so `warden keys revoke` (even from another process)
//! takes effect on the next request.

use std::sync::Arc;

use base64::Engine as _;
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use warden_core::{Actor, Principal, PrincipalKind, now_ms};
use warden_store::{KeyStore, StoreError, StoredKey};

use crate::IdentityError;

pub const PREFIX: &str = "wdn_";
const ID_LEN: usize = 12;

/// Issues, checks and revokes Warden keys.
#[derive(Debug, Clone)]
pub struct KeyManager {
    store: Arc<dyn KeyStore>,
}

/// A freshly created key: the only time its secret exists outside the caller.
#[derive(Debug)]
pub struct NewKey {
    pub id: String,
    pub key: SecretString,
}

/// What to bind a new key to.
#[derive(Debug, Clone, Default)]
pub struct KeySpec {
    pub owner: String,
    pub groups: Vec<String>,
    pub models: Option<Vec<String>>,
    pub description: Option<String>,
    pub expires_at_ms: Option<i64>,
}

fn hash(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

/// Splits `wdn_<id>_<secret>`; `None` if it is not shaped like a key.
fn key_id(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_at_checked(ID_LEN)?;
    let ok =
        id.bytes().all(|b| b.is_ascii_hexdigit()) && secret.starts_with('_') && secret.len() > 32;
    ok.then_some(id)
}

impl KeyManager {
    pub fn new(store: Arc<dyn KeyStore>) -> KeyManager {
        KeyManager { store }
    }

    /// Issues a key; `by` is recorded in the audit trail with it.
    pub async fn create(&self, spec: KeySpec, by: &Actor) -> Result<NewKey, StoreError> {
        let mut rng = rand::rng();
        let mut id = [0u8; ID_LEN / 2];
        rng.fill_bytes(&mut id);
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let key = format!(
            "{PREFIX}{id}_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
        );
        self.store
            .insert_key(
                &StoredKey {
                    id: id.clone(),
                    key_hash: hash(&key),
                    owner: spec.owner,
                    groups: spec.groups,
                    models: spec.models,
                    description: spec.description,
                    created_at_ms: now_ms(),
                    expires_at_ms: spec.expires_at_ms,
                    revoked_at_ms: None,
                },
                by,
            )
            .await?;
        Ok(NewKey {
            id,
            key: SecretString::from(key),
        })
    }

    pub async fn list(&self) -> Result<Vec<StoredKey>, StoreError> {
        self.store.list_keys().await
    }

    pub async fn revoke(&self, id: &str, by: &Actor) -> Result<bool, StoreError> {
        self.store.revoke_key(id, now_ms(), by).await
    }

    pub async fn authenticate(&self, key: &str) -> Result<Principal, IdentityError> {
        let id = key_id(key).ok_or(IdentityError::Malformed)?;
        let stored = self
            .store
            .find_key(id)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "key store lookup failed");
                IdentityError::StoreUnavailable
            })?
            .ok_or(IdentityError::Invalid("unknown Warden key"))?;
        // Constant time, so response timing says nothing about the hash.
        if !bool::from(stored.key_hash.as_slice().ct_eq(&hash(key))) {
            return Err(IdentityError::Invalid("unknown Warden key"));
        }
        if stored.revoked_at_ms.is_some() {
            return Err(IdentityError::KeyRevoked);
        }
        if stored.expires_at_ms.is_some_and(|at| at <= now_ms()) {
            return Err(IdentityError::KeyExpired);
        }
        Ok(Principal {
            kind: PrincipalKind::Key,
            subject: stored.owner,
            issuer: None,
            groups: stored.groups,
            key_id: Some(stored.id),
            model_scope: stored.models,
        })
    }
}

impl NewKey {
    /// The key text, for showing once to whoever created it.
    pub fn reveal(&self) -> &str {
        self.key.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use warden_store::SqliteStore;

    use super::*;

    async fn manager() -> (tempfile::TempDir, KeyManager) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("k.db"))
            .await
            .expect("open");
        (dir, KeyManager::new(Arc::new(store)))
    }

    #[tokio::test]
    async fn create_authenticate_revoke() {
        let (_dir, keys) = manager().await;
        let new = keys
            .create(
                KeySpec {
                    owner: "ci".into(),
                    groups: vec!["ci".into()],
                    models: Some(vec!["gpt-4o-mini".into()]),
                    ..KeySpec::default()
                },
                &warden_core::Actor::default(),
            )
            .await
            .expect("create");
        let p = keys.authenticate(new.reveal()).await.expect("valid");
        assert_eq!(p.kind, PrincipalKind::Key);
        assert_eq!(p.key_id.as_deref(), Some(new.id.as_str()));
        assert_eq!(p.groups, ["ci"]);
        let stored = keys.list().await.expect("list");
        assert_ne!(
            stored[0].key_hash,
            new.reveal().as_bytes(),
            "only a hash is kept"
        );

        let mut tampered = new.reveal().to_owned();
        tampered.pop();
        tampered.push('x');
        assert!(keys.authenticate(&tampered).await.is_err());

        assert!(
            keys.revoke(&new.id, &warden_core::Actor::default())
                .await
                .expect("revoke")
        );
        assert_eq!(
            keys.authenticate(new.reveal()).await,
            Err(IdentityError::KeyRevoked)
        );
    }

    #[tokio::test]
    async fn expired_and_malformed_keys_refused() {
        let (_dir, keys) = manager().await;
        let new = keys
            .create(
                KeySpec {
                    owner: "x".into(),
                    expires_at_ms: Some(1),
                    ..KeySpec::default()
                },
                &warden_core::Actor::default(),
            )
            .await
            .expect("create");
        assert_eq!(
            keys.authenticate(new.reveal()).await,
            Err(IdentityError::KeyExpired)
        );
        assert_eq!(
            keys.authenticate("wdn_short").await,
            Err(IdentityError::Malformed)
        );
        assert_eq!(
            keys.authenticate("wdn_zzzzzzzzzzzz_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
                .await,
            Err(IdentityError::Malformed)
        );
    }
}
