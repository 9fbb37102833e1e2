//! Session recording on PostgreSQL: the `request_bodies` table (see
//! [`crate::bodies`]).

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row};

use super::PostgresStore;
use crate::StoreError;
use crate::bodies::{BodyRow, BodyStore, CallBody};
use crate::chain::Entry;

/// 7 binds per row.
const ROWS_PER_STATEMENT: usize = 1000;

fn from_row(row: &PgRow) -> Result<CallBody, StoreError> {
    let chunks: Vec<i64> = row.try_get("chunk_us")?;
    Ok(CallBody {
        request_id: row.try_get("request_id")?,
        time_ms: row.try_get("time_ms")?,
        request: row.try_get("request")?,
        request_truncated: row.try_get("request_truncated")?,
        response: row.try_get("response")?,
        response_truncated: row.try_get("response_truncated")?,
        chunk_us: chunks
            .into_iter()
            .map(|t| u64::try_from(t).map_err(|_| StoreError::Corrupt("chunk_us".into())))
            .collect::<Result<_, _>>()?,
    })
}

const BODY_COLUMNS: &str = "b.request_id, b.time_ms, b.request, b.request_truncated, b.response, \
    b.response_truncated, b.chunk_us";

/// Inserts bodies inside the caller's transaction.
async fn insert_on(conn: &mut sqlx::PgConnection, bodies: &[CallBody]) -> Result<(), StoreError> {
    for chunk in bodies.chunks(ROWS_PER_STATEMENT) {
        let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
            "INSERT INTO request_bodies (request_id, time_ms, request, request_truncated, \
                 response, response_truncated, chunk_us) ",
        );
        q.push_values(chunk, |mut b, body| {
            let chunks: Vec<i64> = body
                .chunk_us
                .iter()
                .map(|t| i64::try_from(*t).unwrap_or(i64::MAX))
                .collect();
            b.push_bind(&body.request_id)
                .push_bind(body.time_ms)
                .push_bind(&body.request)
                .push_bind(body.request_truncated)
                .push_bind(&body.response)
                .push_bind(body.response_truncated)
                .push_bind(chunks);
        });
        q.push(" ON CONFLICT (request_id) DO NOTHING");
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

#[async_trait]
impl BodyStore for PostgresStore {
    async fn put_bodies(&self, bodies: &[CallBody]) -> Result<(), StoreError> {
        if bodies.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        insert_on(&mut tx, bodies).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn append_with_bodies(
        &self,
        entries: &[Entry],
        bodies: &[CallBody],
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        PostgresStore::append_on(&mut tx, entries).await?;
        insert_on(&mut tx, bodies).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn body(&self, request_id: &str) -> Result<Option<CallBody>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {BODY_COLUMNS} FROM request_bodies b WHERE b.request_id = $1"
        )))
        .bind(request_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    async fn prune_bodies(&self, before_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM request_bodies WHERE time_ms < $1")
            .bind(before_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn body_page(&self, after_id: &str, limit: i64) -> Result<Vec<BodyRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {BODY_COLUMNS}, r.seq, r.body_sha256 FROM request_bodies b \
             LEFT JOIN request_records r ON r.request_id = b.request_id \
             WHERE b.request_id > $1 ORDER BY b.request_id LIMIT $2"
        )))
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(BodyRow {
                    seq: row.try_get("seq")?,
                    recorded_digest: row.try_get("body_sha256")?,
                    body: from_row(row)?,
                })
            })
            .collect()
    }
}
