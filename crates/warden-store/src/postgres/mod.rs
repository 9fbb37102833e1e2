//! The PostgreSQL store: the same traits, encoding and hash chain as the
//! SQLite store, for deployments that run several Warden replicas against
//! one database.
//!
//! **One sequence across replicas.** Every append is one transaction that
//! first locks the single `chain_head` row (`SELECT ... FOR UPDATE`), links
//! the entries to the head it read, inserts them and moves the head before
//! committing. The row lock is PostgreSQL's counterpart of SQLite's
//! `BEGIN IMMEDIATE`: appends from every replica (and every process, such
//! as the CLI adding key events) take turns on it, so the trail stays one
//! unforked chain with consecutive seqs, and a failed append rolls back
//! without leaving a gap. Nothing about the head is cached in a replica.
//! Because the lock is held until commit, commits land in seq order, and any
//! snapshot sees a prefix of the trail; [`RecordStore::chain_page`] reads
//! its two tables in one snapshot so a page is never missing a row.
//!
//! **Durability.** A commit returns once PostgreSQL has flushed its WAL
//! (`synchronous_commit = on`, the server's default), so an acknowledged
//! group commit survives a crash of the database server. The store leaves
//! that setting to the operator: `remote_apply` is stronger, `off` trades
//! the last commits for speed as SQLite's `NORMAL` does.
//!
//! **Types.** Text is `COLLATE "C"` (byte order, as SQLite's `BINARY`), lists
//! are `TEXT[]`, findings and event details `JSONB`. PostgreSQL text cannot
//! hold the NUL character: an entry with one is refused by the database and
//! its whole append rolls back.
//!
//! [`RecordStore::chain_page`]: crate::RecordStore::chain_page

mod approvals;
mod bodies;
mod export;
mod keys;
mod records;
mod trail;

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgPool, Row};

use crate::{Store, StoreError};

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:5432/db`; a schema other
    /// than `public` with `?options[search_path]=warden`) and applies
    /// migrations.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        PostgresStore::connect_with(PgConnectOptions::from_str(url)?).await
    }

    /// [`connect`](Self::connect) with options built in code.
    pub async fn connect_with(options: PgConnectOptions) -> Result<PostgresStore, StoreError> {
        // The trail is durable whatever the server's default: a commit
        // returns once its WAL is flushed (overrides an `off` in the URL or
        // the server's config, for these sessions only).
        let options = options.options([("synchronous_commit", "on")]);
        // The record writer, key lookups and the admin API's reads; appends
        // wait on the head row's lock, not on the pool.
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        // sqlx takes an advisory lock around migrations, so replicas that
        // start together apply them once.
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(PostgresStore { pool })
    }

    /// `host:port/database` of a URL, for messages: never its password.
    pub fn describe(url: &str) -> String {
        PgConnectOptions::from_str(url).map_or_else(
            |_| "(an unparsable URL)".into(),
            |o| {
                format!(
                    "{}:{}/{}",
                    o.get_host(),
                    o.get_port(),
                    o.get_database().unwrap_or("")
                )
            },
        )
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The transaction every write runs in. Read committed whatever the
    /// server's default: `FOR UPDATE` then waits for the head row and reads
    /// its newest version, where a stricter level would fail with a
    /// serialization error instead.
    async fn write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StoreError> {
        Ok(self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL READ COMMITTED, READ WRITE")
            .await?)
    }
}

impl Store for PostgresStore {
    fn is_ready(&self) -> bool {
        !self.pool.is_closed()
    }
}

/// PostgreSQL binds at most 65535 parameters per statement.
const MAX_BINDS: usize = u16::MAX as usize;

/// Reads a column. A value that does not decode (a NULL in a list, a wrong
/// type) is a corrupt row, not a database failure.
fn get<'r, T>(row: &'r PgRow, column: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(column).map_err(|e| match e {
        sqlx::Error::ColumnDecode { source, .. } => {
            StoreError::Corrupt(format!("{column}: {source}"))
        }
        other => StoreError::Database(other),
    })
}

/// A `TEXT[]` column as a list, its order kept; a NULL element is corrupt.
fn text_list(row: &PgRow, column: &str) -> Result<Vec<String>, StoreError> {
    let items: Vec<Option<String>> = get(row, column)?;
    items
        .into_iter()
        .map(|item| item.ok_or_else(|| StoreError::Corrupt(format!("{column}: NULL element"))))
        .collect()
}

/// A JSONB column decoded into `T`.
fn json_of<T: serde::de::DeserializeOwned>(
    column: &str,
    value: serde_json::Value,
) -> Result<T, StoreError> {
    serde_json::from_value(value).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

#[cfg(test)]
mod tests;
