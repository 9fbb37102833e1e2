//! The streaming export's cursors on PostgreSQL (`export_cursors`): one row
//! per export name, holding the last seq its receiver acknowledged. The
//! upsert keeps the larger seq, so replicas exporting under one name share
//! one cursor and a slower replica's acknowledgement never moves it back.

use super::PostgresStore;
use crate::StoreError;

impl PostgresStore {
    pub(super) async fn export_cursor_impl(&self, name: &str) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT seq FROM export_cursors WHERE name = $1")
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
            "INSERT INTO export_cursors (name, seq, updated_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET seq = GREATEST(export_cursors.seq, excluded.seq), \
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
