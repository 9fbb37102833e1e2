//! The embedded SQLite store. WAL mode, `synchronous = NORMAL` (a crash may
//! lose the last group commit but never corrupts the file; the audit issue
//! moves records to `FULL`), one pool shared by the writer and readers.

mod keys;
mod records;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::{Store, StoreError};

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The chain's head (last seq and hash), loaded on the first append and
    /// kept here; the lock also serializes appends, so links never fork.
    head: std::sync::Arc<tokio::sync::Mutex<Option<Head>>>,
}

/// The chain's head, and (once a checkpoint was asked for) the Merkle
/// tree's right edge, kept up to date by every append.
#[derive(Debug, Clone)]
struct Head {
    seq: i64,
    hash: crate::chain::Hash,
    frontier: Option<crate::merkle::Frontier>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file and applies migrations.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true)
            // 1 MiB of page cache per connection (SQLite's default is 2 MiB):
            // the data path only appends, so a large cache buys nothing.
            .pragma("cache_size", "-1024");
        // Two connections: the record writer and occasional readers (CLI,
        // key lookups). Each is a thread with its own cache.
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(SqliteStore {
            pool,
            head: std::sync::Arc::default(),
        })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

impl Store for SqliteStore {
    fn is_ready(&self) -> bool {
        !self.pool.is_closed()
    }
}

fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn parse_list(column: &str, text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

#[cfg(test)]
mod tests;
