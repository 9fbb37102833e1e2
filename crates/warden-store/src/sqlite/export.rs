//! The streaming export's cursors on SQLite (`export_cursors`): one row per
//! export name, holding the last seq its receiver acknowledged. The upsert
//! keeps the larger seq, so a late or repeated acknowledgement never moves
//! a cursor back (which would only re-deliver, but needlessly).

use super::SqliteStore;
use crate::StoreError;

impl SqliteStore {
    pub(super) async fn export_cursor_impl(&self, name: &str) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT seq FROM export_cursors WHERE name = ?")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub(super) async fn save_export_cursor_impl(
        &self,
        name: &str,
        seq: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO export_cursors (name, seq, updated_at_ms) VALUES (?, ?, ?) \
             ON CONFLICT (name) DO UPDATE SET seq = max(seq, excluded.seq), \
             updated_at_ms = excluded.updated_at_ms",
        )
        .bind(name)
        .bind(seq)
        .bind(warden_core::now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::SqliteStore;

    #[tokio::test]
    async fn cursors_are_named_and_never_move_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("w.db");
        let store = SqliteStore::open(&path).await.expect("open");
        crate::export::cursors_are_named_and_never_move_back(&store).await;
        drop(store);
        let store = SqliteStore::open(&path).await.expect("reopen");
        assert_eq!(
            crate::RecordStore::export_cursor(&store, "siem")
                .await
                .expect("read"),
            Some(9),
            "kept in the file across a restart"
        );
    }
}
