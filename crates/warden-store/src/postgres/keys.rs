//! Warden-issued keys on PostgreSQL. A key change and its audit event are
//! one transaction, so a key never exists without its `key.create` event.
//! Lock order is always `api_keys` then the chain head (appends alone take
//! only the head), so key changes and appends never deadlock.

use async_trait::async_trait;
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgRow;
use warden_core::{Actor, AuditEvent};

use super::{PostgresStore, get, text_list};
use crate::chain::Entry;
use crate::{KeyStore, StoreError, StoredKey};

const COLUMNS: &str = "id, key_hash, owner, groups, models, description, \
                       created_at_ms, expires_at_ms, revoked_at_ms";

fn from_row(row: &PgRow) -> Result<StoredKey, StoreError> {
    let models: Option<Vec<Option<String>>> = get(row, "models")?;
    let models = models
        .map(|m| {
            m.into_iter()
                .map(|item| item.ok_or_else(|| StoreError::Corrupt("models: NULL element".into())))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    Ok(StoredKey {
        id: get(row, "id")?,
        key_hash: get(row, "key_hash")?,
        owner: get(row, "owner")?,
        groups: text_list(row, "groups")?,
        models,
        description: get(row, "description")?,
        created_at_ms: get(row, "created_at_ms")?,
        expires_at_ms: get(row, "expires_at_ms")?,
        revoked_at_ms: get(row, "revoked_at_ms")?,
    })
}

#[async_trait]
impl KeyStore for PostgresStore {
    async fn insert_key(&self, key: &StoredKey, by: &Actor) -> Result<(), StoreError> {
        let event = key.created_event(by);
        let mut tx = self.write().await?;
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO api_keys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        )))
        .bind(&key.id)
        .bind(&key.key_hash)
        .bind(&key.owner)
        .bind(&key.groups)
        .bind(key.models.as_deref())
        .bind(&key.description)
        .bind(key.created_at_ms)
        .bind(key.expires_at_ms)
        .bind(key.revoked_at_ms)
        .execute(&mut *tx)
        .await?;
        PostgresStore::append_on(&mut tx, &[Entry::Event(event)]).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn find_key(&self, id: &str) -> Result<Option<StoredKey>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM api_keys WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    async fn list_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM api_keys ORDER BY created_at_ms, id"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    async fn revoke_key(&self, id: &str, at_ms: i64, by: &Actor) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at_ms = $1 WHERE id = $2 AND revoked_at_ms IS NULL",
        )
        .bind(at_ms)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        let event = AuditEvent::new("key.revoke", by.clone(), Some(id.to_owned()));
        PostgresStore::append_on(&mut tx, &[Entry::Event(event)]).await?;
        tx.commit().await?;
        Ok(true)
    }
}
