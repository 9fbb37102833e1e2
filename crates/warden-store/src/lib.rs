//! Warden's persistence. One trait per capability ([`RecordStore`] for the
//! audit trail (request records and other audit events, one hash chain),
//! [`KeyStore`] for Warden-issued keys), so a PostgreSQL backend can
//! implement the same traits; [`sqlite::SqliteStore`] is the embedded default.
//! What is the same for every backend (verifying the chain, Merkle leaves,
//! signing checkpoints) lives once, in [`trail`], over the trait.
//!
//! The store is written to from the data path only through a batching writer
//! (see `warden-gateway`'s `records` module), never once per request inline.

pub mod approvals;
pub mod bodies;
pub mod chain;
pub mod checkpoint;
mod decode;
pub mod export;
pub mod merkle;
pub mod postgres;
pub mod sqlite;
pub mod trail;

#[cfg(test)]
mod test_records;

use async_trait::async_trait;
use warden_core::{Actor, AuditEvent, RequestRecord};

pub use chain::{Entry, Hash, StoredRow};

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// The identity that created something: the issuer (`None` for Warden keys)
/// and subject of its creator.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Owner {
    pub issuer: Option<String>,
    pub subject: Option<String>,
}

/// A Warden-issued key as stored: never the key, only its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredKey {
    pub id: String,
    pub key_hash: Vec<u8>,
    pub owner: String,
    pub groups: Vec<String>,
    pub models: Option<Vec<String>>,
    pub description: Option<String>,
    pub created_at_ms: i64,
    pub expires_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
}

impl StoredKey {
    /// The `key.create` audit event both stores append with the key.
    pub fn created_event(&self, by: &Actor) -> AuditEvent {
        let mut event = AuditEvent::new("key.create", by.clone(), Some(self.id.clone()))
            .with("owner", &self.owner)
            .with("groups", json_list(&self.groups));
        if let Some(models) = &self.models {
            event = event.with("models", json_list(models));
        }
        if let Some(at) = self.expires_at_ms {
            event = event.with("expires_at_ms", at.to_string());
        }
        event
    }
}

/// A list in an event's detail: JSON, so `["a,b"]` and `["a", "b"]` stay
/// apart.
fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_default()
}

/// Which records to read back, newest first.
#[derive(Clone, Debug, Default)]
pub struct RecordFilter {
    pub subject: Option<String>,
    /// Calls in this session: those filed under it, and those an agent
    /// trace filed under it joined by their `response` span.
    pub session_id: Option<String>,
    pub since_ms: Option<i64>,
    pub limit: Option<u32>,
}

/// One session's summary (the admin API's JSON too).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SessionRow {
    pub id: String,
    pub calls: u64,
    pub first_ms: i64,
    pub last_ms: i64,
    /// One of its callers (sessions are per caller in practice).
    pub subject: Option<String>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd_micros: u64,
}

/// What usage is summed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsageBy {
    /// The subject (a token's `sub`, a key's owner).
    User,
    /// Each group of the caller (a call counts once for each of its groups).
    Group,
    Model,
    /// The Warden key id (calls made with OIDC tokens are left out).
    Key,
}

/// One line of a usage summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageRow {
    pub key: String,
    pub requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd_micros: u64,
}

/// The chain's head as one consistent snapshot: the last seq, its hash and
/// the Merkle tree's right edge over every entry up to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: Hash,
    pub frontier: merkle::Frontier,
}

/// Which audit events to read back, newest first.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    /// Actions starting with this (`key.` for every key event).
    pub action_prefix: Option<String>,
    pub since_ms: Option<i64>,
    /// Events filed under this session (agent trace spans, approvals).
    pub session_id: Option<String>,
    /// Events about this target (a trace id, a key id, ...).
    pub target: Option<String>,
    pub limit: Option<u32>,
}

#[async_trait]
pub trait RecordStore: Send + Sync + std::fmt::Debug {
    /// Appends entries in one transaction, all or none, linked to the chain
    /// head read inside that transaction (so several writers never fork the
    /// chain). When it returns, the entries are as durable as the store was
    /// opened to make them.
    async fn append(&self, entries: &[Entry]) -> Result<(), StoreError>;
    /// [`append`](Self::append) for request records alone.
    async fn append_records(&self, records: &[RequestRecord]) -> Result<(), StoreError> {
        let entries: Vec<Entry> = records.iter().cloned().map(Entry::Request).collect();
        self.append(&entries).await
    }
    /// Up to `limit` rows of the trail after `after_seq`, in seq order, both
    /// kinds merged.
    async fn chain_page(&self, after_seq: i64, limit: i64) -> Result<Vec<StoredRow>, StoreError>;
    async fn chain_head(&self) -> Result<ChainHead, StoreError>;
    /// Keeps a signed checkpoint (the published copy is the caller's job).
    async fn save_checkpoint(&self, cp: &checkpoint::Checkpoint) -> Result<(), StoreError>;
    /// The newest kept checkpoint signed before `before_ms`.
    async fn checkpoint_before(
        &self,
        before_ms: i64,
    ) -> Result<Option<checkpoint::Checkpoint>, StoreError>;
    /// After pruning: the checkpoint the first kept entry links to.
    async fn anchor(&self) -> Result<Option<checkpoint::Checkpoint>, StoreError>;
    /// Deletes every entry up to `cp.seq` and makes `cp` the anchor, in one
    /// transaction; how many entries went. Use [`trail::prune`], which
    /// verifies the trail against `cp` first.
    async fn prune_to(&self, cp: &checkpoint::Checkpoint) -> Result<u64, StoreError>;
    async fn list_events(&self, filter: &EventFilter)
    -> Result<Vec<(i64, AuditEvent)>, StoreError>;
    async fn list_records(&self, filter: &RecordFilter) -> Result<Vec<RequestRecord>, StoreError>;
    /// Requests, tokens and spend since `since_ms`, most expensive first.
    async fn usage(&self, by: UsageBy, since_ms: i64) -> Result<Vec<UsageRow>, StoreError>;
    /// Who created a Responses API object, and its session, if Warden
    /// recorded it.
    async fn response_owner(
        &self,
        response_id: &str,
    ) -> Result<Option<(Owner, Option<String>)>, StoreError>;
    /// Sessions active since `since_ms`, most recent first.
    async fn sessions(&self, since_ms: i64) -> Result<Vec<SessionRow>, StoreError>;
    /// The last seq the streaming export named `name` delivered (its
    /// receiver acknowledged everything up to it); `None` before its first
    /// delivery.
    async fn export_cursor(&self, name: &str) -> Result<Option<i64>, StoreError>;
    /// Moves the export cursor `name` to `seq`, creating it if needed. It
    /// never moves back: an older acknowledgement (a slower replica's)
    /// leaves it where it is.
    async fn save_export_cursor(&self, name: &str, seq: i64) -> Result<(), StoreError>;
}

/// Key changes are audited in the same transaction as the change: a key
/// never exists without its `key.create` event.
#[async_trait]
pub trait KeyStore: Send + Sync + std::fmt::Debug {
    async fn insert_key(&self, key: &StoredKey, by: &Actor) -> Result<(), StoreError>;
    async fn find_key(&self, id: &str) -> Result<Option<StoredKey>, StoreError>;
    async fn list_keys(&self) -> Result<Vec<StoredKey>, StoreError>;
    /// Marks a key revoked; `false` if there is no such key or it already was
    /// (and then nothing is recorded).
    async fn revoke_key(&self, id: &str, at_ms: i64, by: &Actor) -> Result<bool, StoreError>;
}

/// Everything Warden needs from a store.
pub trait Store: RecordStore + KeyStore + bodies::BodyStore + approvals::ApprovalStore {
    /// Cheap liveness check for `/readyz`.
    fn is_ready(&self) -> bool;
}
