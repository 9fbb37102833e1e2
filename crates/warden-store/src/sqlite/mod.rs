//! The embedded SQLite store. WAL mode; `synchronous = FULL` when durable
//! (the default: every commit is fsync'd before it returns, so a group
//! commit acknowledged is on disk) or `NORMAL` (a crash may lose the last
//! commits but never corrupts the file). One pool shared by the writer and
//! readers.

mod approvals;
mod bodies;
mod export;
mod keys;
mod records;
mod trail;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::{Store, StoreError};

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Appends in this process take turns here rather than in SQLite's
    /// busy handler (which sleeps); other processes are kept out by
    /// `BEGIN IMMEDIATE`.
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file, durable, and applies
    /// migrations.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, true).await
    }

    /// `durable`: fsync every commit (`synchronous = FULL`), or leave it to
    /// the OS (`NORMAL`).
    pub async fn open_with(path: &Path, durable: bool) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if durable {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            })
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true)
            // 1 MiB of page cache per connection (SQLite's default is 2 MiB):
            // the data path only appends, so a large cache buys nothing.
            .pragma("cache_size", "-1024")
            // WAL checkpoints (which fsync the database file) run from a
            // background task on the other connection, not inside whichever
            // commit crosses the threshold: that commit is a caller waiting.
            .pragma("wal_autocheckpoint", "0");
        // Two connections: the record writer and occasional readers (CLI,
        // key lookups). Each is a thread with its own cache.
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        let store = SqliteStore {
            pool,
            writer: std::sync::Arc::default(),
        };
        store.ensure_frontier().await?;
        store.start_wal_checkpoints();
        Ok(store)
    }

    /// Copies the WAL into the database file every half second, without
    /// blocking the writer (`PASSIVE`). SQLite also checkpoints when the
    /// last connection closes, so a short CLI run leaves no WAL behind.
    fn start_wal_checkpoints(&self) {
        let pool = self.pool.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if pool.is_closed() {
                    return;
                }
                if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&pool)
                    .await
                {
                    tracing::warn!(%error, "SQLite WAL checkpoint failed; retrying");
                }
            }
        });
    }

    /// A write transaction that holds SQLite's write lock from its start,
    /// so the head it reads cannot move under it.
    async fn write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
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
