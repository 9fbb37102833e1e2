use async_trait::async_trait;
// Column lists are constants; values are always bound.
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, Row};

use super::{SqliteStore, json_list, parse_list};
use warden_core::{Actor, AuditEvent};

use crate::chain::Entry;
use crate::{KeyStore, StoreError, StoredKey};

const COLUMNS: &str = "id, key_hash, owner, groups_json, models_json, description, \
                       created_at_ms, expires_at_ms, revoked_at_ms";

fn from_row(row: &SqliteRow) -> Result<StoredKey, StoreError> {
    let models: Option<String> = row.try_get("models_json")?;
    Ok(StoredKey {
        id: row.try_get("id")?,
        key_hash: row.try_get("key_hash")?,
        owner: row.try_get("owner")?,
        groups: parse_list("groups_json", row.try_get("groups_json")?)?,
        models: models.map(|m| parse_list("models_json", &m)).transpose()?,
        description: row.try_get("description")?,
        created_at_ms: row.try_get("created_at_ms")?,
        expires_at_ms: row.try_get("expires_at_ms")?,
        revoked_at_ms: row.try_get("revoked_at_ms")?,
    })
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn insert_key(&self, key: &StoredKey, by: &Actor) -> Result<(), StoreError> {
        let event = key.created_event(by);
        let _one_writer = self.writer.lock().await;
        let mut tx = self.write().await?;
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO api_keys ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )))
        .bind(&key.id)
        .bind(&key.key_hash)
        .bind(&key.owner)
        .bind(json_list(&key.groups))
        .bind(key.models.as_deref().map(json_list))
        .bind(&key.description)
        .bind(key.created_at_ms)
        .bind(key.expires_at_ms)
        .bind(key.revoked_at_ms)
        .execute(&mut *tx)
        .await?;
        SqliteStore::append_on(&mut tx, &[Entry::Event(event)]).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn find_key(&self, id: &str) -> Result<Option<StoredKey>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM api_keys WHERE id = ?"
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
        let _one_writer = self.writer.lock().await;
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at_ms = ? WHERE id = ? AND revoked_at_ms IS NULL",
        )
        .bind(at_ms)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        let event = AuditEvent::new("key.revoke", by.clone(), Some(id.to_owned()));
        SqliteStore::append_on(&mut tx, &[Entry::Event(event)]).await?;
        tx.commit().await?;
        Ok(true)
    }
}
