//! Signed checkpoints: "the trail reached `seq`, its chain head was `head`,
//! and its Merkle tree of `tree_size` leaves had root `root`, at `time_ms`",
//! signed with Ed25519. Kept somewhere the database's
//! writers cannot reach (a file elsewhere, a ticket, a WORM bucket), a
//! checkpoint turns the chain's one blind spot, truncation of the tail, into
//! a detected break: `warden audit verify --checkpoint` requires the chain to
//! reach `seq` with that very hash.
//!
//! Keys are PKCS#8 / SPKI PEM, as `openssl genpkey -algorithm ed25519`
//! writes them (or `warden audit keygen`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::chain::{Hash, hex};

const VERSION: &str = "warden.checkpoint.v1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub version: String,
    pub seq: i64,
    /// Hex SHA-256 chain hash of the record at `seq`.
    pub head: String,
    /// Leaves in the Merkle tree (the chained records up to `seq`).
    pub tree_size: u64,
    /// Hex RFC 9162 Merkle root over those leaves.
    pub root: String,
    pub time_ms: i64,
    /// Base64 Ed25519 signature over [`Checkpoint::message`].
    pub signature: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("key: {0}")]
    Key(String),
    #[error("checkpoint is not valid JSON of the expected shape: {0}")]
    Format(String),
    #[error("checkpoint signature does not verify with this public key (forged or edited)")]
    Signature,
}

impl Checkpoint {
    /// The exact bytes signed.
    fn message(&self) -> String {
        format!(
            "{VERSION}\n{}\n{}\n{}\n{}\n{}",
            self.seq, self.head, self.tree_size, self.root, self.time_ms
        )
    }

    pub fn sign(
        key: &SigningKey,
        seq: i64,
        head: &Hash,
        tree_size: u64,
        root: &Hash,
        time_ms: i64,
    ) -> Checkpoint {
        let mut cp = Checkpoint {
            version: VERSION.to_owned(),
            seq,
            head: hex(head),
            tree_size,
            root: hex(root),
            time_ms,
            signature: String::new(),
        };
        cp.signature = STANDARD.encode(key.sign(cp.message().as_bytes()).to_bytes());
        cp
    }

    /// Parses and checks the signature; only then is the content trusted.
    pub fn verified(text: &str, key: &VerifyingKey) -> Result<Checkpoint, CheckpointError> {
        let cp: Checkpoint =
            serde_json::from_str(text).map_err(|e| CheckpointError::Format(e.to_string()))?;
        cp.check(key)?;
        Ok(cp)
    }

    /// Checks the version and the signature of a checkpoint already read.
    pub fn check(&self, key: &VerifyingKey) -> Result<(), CheckpointError> {
        if self.version != VERSION {
            return Err(CheckpointError::Format(format!("version {}", self.version)));
        }
        let bytes = STANDARD
            .decode(&self.signature)
            .map_err(|_| CheckpointError::Signature)?;
        let signature = Signature::from_slice(&bytes).map_err(|_| CheckpointError::Signature)?;
        key.verify(self.message().as_bytes(), &signature)
            .map_err(|_| CheckpointError::Signature)
    }

    /// The stored form (the store keeps checkpoints as this JSON).
    pub fn to_json(&self) -> String {
        // Strings and integers only: it always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A checkpoint the store kept, back (`table` names it in the error).
    pub fn from_stored(table: &str, json: &str) -> Result<Checkpoint, crate::StoreError> {
        serde_json::from_str(json).map_err(|e| crate::StoreError::Corrupt(format!("{table}: {e}")))
    }

    /// The head hash as bytes.
    pub fn head_hash(&self) -> Option<Hash> {
        unhex(&self.head)
    }

    /// The Merkle root as bytes.
    pub fn root_hash(&self) -> Option<Hash> {
        unhex(&self.root)
    }
}

/// 64 hex digits to a hash.
pub fn unhex(s: &str) -> Option<Hash> {
    if s.len() != 64 {
        return None;
    }
    let bytes: Vec<u8> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect::<Option<_>>()?;
    Hash::try_from(bytes.as_slice()).ok()
}

pub fn signing_key_from_pem(pem: &str) -> Result<SigningKey, CheckpointError> {
    SigningKey::from_pkcs8_pem(pem).map_err(|e| CheckpointError::Key(e.to_string()))
}

pub fn verifying_key_from_pem(pem: &str) -> Result<VerifyingKey, CheckpointError> {
    VerifyingKey::from_public_key_pem(pem).map_err(|e| CheckpointError::Key(e.to_string()))
}

/// A new key pair as (private PKCS#8 PEM, public SPKI PEM), from 32 bytes
/// of the caller's randomness.
pub fn key_pair_pem(seed: [u8; 32]) -> Result<(String, String), CheckpointError> {
    let key = SigningKey::from_bytes(&seed);
    let private = key
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|e| CheckpointError::Key(e.to_string()))?;
    let public = key
        .verifying_key()
        .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|e| CheckpointError::Key(e.to_string()))?;
    Ok((private.to_string(), public))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_checkpoints_verify_and_edits_do_not() {
        let (private, public) = key_pair_pem([7; 32]).expect("keys");
        let key = signing_key_from_pem(&private).expect("private");
        let public = verifying_key_from_pem(&public).expect("public");
        let cp = Checkpoint::sign(&key, 42, &[9; 32], 42, &[3; 32], 1_700_000_000_000);
        let text = serde_json::to_string(&cp).expect("json");
        let back = Checkpoint::verified(&text, &public).expect("verifies");
        assert_eq!(back, cp);
        assert_eq!(back.head_hash(), Some([9; 32]));
        assert_eq!(back.root_hash(), Some([3; 32]));
        let other_root = text.replace(&back.root, &hex(&[4; 32]));
        assert!(Checkpoint::verified(&other_root, &public).is_err());
        // Claiming a shorter trail (to hide a truncation) breaks the signature.
        let edited = text.replace("\"seq\":42", "\"seq\":41");
        assert!(matches!(
            Checkpoint::verified(&edited, &public),
            Err(CheckpointError::Signature)
        ));
        let (_, other) = key_pair_pem([8; 32]).expect("keys");
        let other = verifying_key_from_pem(&other).expect("public");
        assert!(Checkpoint::verified(&text, &other).is_err());
    }
}
