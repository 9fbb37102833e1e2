//! The audit trail on SQLite: appending entries to the one chain, reading
//! it back in seq order (request records and audit events merged), the head
//! row, checkpoints and audit events.
//!
//! Every append is one `BEGIN IMMEDIATE` transaction that reads the head
//! row, inserts the linked rows and moves the head. SQLite allows one writer
//! at a time across processes, so the server and the CLI (key events) append
//! to one chain without forking it, and nothing about the head is cached.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, QueryBuilder, Row, Sqlite, SqliteConnection};
use warden_core::{Actor, AuditEvent, RequestRecord};

use super::{SqliteStore, json_list, parse_list, records};
use crate::chain::Link;
use crate::chain::{Entry, Hash, StoredRow};
use crate::checkpoint::Checkpoint;
use crate::merkle::{self, Frontier};
use crate::{
    ChainHead, EventFilter, Owner, RecordFilter, RecordStore, SessionRow, StoreError, UsageBy,
    UsageRow,
};

const EVENT_COLUMNS: &str = "event_id, time_ms, action, subject, issuer, groups_json, key_id, \
    client_addr, target, status, detail_json, session_id, response_id";

/// SQLite binds at most 32766 parameters; 16 per event row.
const EVENTS_PER_STATEMENT: usize = 1000;

fn event_from_row(row: &SqliteRow) -> Result<AuditEvent, StoreError> {
    let detail: String = row.try_get("detail_json")?;
    Ok(AuditEvent {
        event_id: row.try_get("event_id")?,
        time_ms: row.try_get("time_ms")?,
        action: row.try_get("action")?,
        actor: Actor {
            subject: row.try_get("subject")?,
            issuer: row.try_get("issuer")?,
            groups: parse_list("groups_json", row.try_get("groups_json")?)?,
            key_id: row.try_get("key_id")?,
            client_addr: row.try_get("client_addr")?,
        },
        target: row.try_get("target")?,
        status: row.try_get("status")?,
        detail: serde_json::from_str(&detail)
            .map_err(|e| StoreError::Corrupt(format!("detail_json: {e}")))?,
        session_id: row.try_get("session_id")?,
        response_id: row.try_get("response_id")?,
    })
}

async fn insert_events(
    conn: &mut SqliteConnection,
    rows: &[Link<'_, AuditEvent>],
) -> Result<(), StoreError> {
    for chunk in rows.chunks(EVENTS_PER_STATEMENT) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "INSERT INTO audit_events (seq, {EVENT_COLUMNS}, prev_hash, hash) "
        ));
        q.push_values(
            chunk,
            |mut b,
             Link {
                 item: e,
                 seq,
                 prev,
                 hash,
             }| {
                b.push_bind(*seq)
                    .push_bind(&e.event_id)
                    .push_bind(e.time_ms)
                    .push_bind(&e.action)
                    .push_bind(&e.actor.subject)
                    .push_bind(&e.actor.issuer)
                    .push_bind(json_list(&e.actor.groups))
                    .push_bind(&e.actor.key_id)
                    .push_bind(&e.actor.client_addr)
                    .push_bind(&e.target)
                    .push_bind(&e.status)
                    .push_bind(serde_json::to_string(&e.detail).unwrap_or_default())
                    .push_bind(&e.session_id)
                    .push_bind(&e.response_id)
                    .push_bind(prev.as_slice())
                    .push_bind(hash.as_slice());
            },
        );
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

fn stored(row: &SqliteRow, entry: Result<Entry, StoreError>) -> Result<StoredRow, StoreError> {
    Ok(StoredRow {
        seq: row.try_get("seq")?,
        entry: entry.map_err(|e| e.to_string()),
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

/// Up to `limit` rows after `after_seq` from both tables, merged in seq
/// order. Each table's page holds every one of its rows up to its last seq,
/// so the merge is complete up to the smaller last seq of a full page.
async fn page_on(
    conn: &mut SqliteConnection,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<StoredRow>, StoreError> {
    let requests = sqlx::query(AssertSqlSafe(format!(
        "SELECT seq, {}, prev_hash, hash FROM request_records \
         WHERE seq > ? ORDER BY seq LIMIT ?",
        records::COLUMNS
    )))
    .bind(after_seq)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let events = sqlx::query(AssertSqlSafe(format!(
        "SELECT seq, {EVENT_COLUMNS}, prev_hash, hash FROM audit_events \
         WHERE seq > ? ORDER BY seq LIMIT ?"
    )))
    .bind(after_seq)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let requests = requests
        .iter()
        .map(|row| stored(row, records::from_row(row).map(Entry::Request)))
        .collect::<Result<Vec<_>, _>>()?;
    let events = events
        .iter()
        .map(|row| stored(row, event_from_row(row).map(Entry::Event)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(crate::trail::merge_page(requests, events, limit))
}

/// The head row as stored; the frontier is `None` until built.
async fn head_on(conn: &mut SqliteConnection) -> Result<(i64, Hash, Option<Frontier>), StoreError> {
    let (seq, hash, frontier): (i64, Vec<u8>, Option<Vec<u8>>) =
        sqlx::query_as("SELECT seq, hash, frontier FROM chain_head WHERE id = 1")
            .fetch_one(&mut *conn)
            .await?;
    let hash = Hash::try_from(hash.as_slice())
        .map_err(|_| StoreError::Corrupt("chain_head.hash".into()))?;
    let frontier = frontier
        .map(|f| {
            Frontier::from_bytes(&f)
                .ok_or_else(|| StoreError::Corrupt("chain_head.frontier".into()))
        })
        .transpose()?;
    Ok((seq, hash, frontier))
}

/// The head row's frontier, which `open` builds for a trail written before
/// the head row kept it.
fn built(frontier: Option<Frontier>) -> Result<Frontier, StoreError> {
    frontier.ok_or_else(|| {
        StoreError::Corrupt(
            "chain_head.frontier is empty (it is built when the store opens)".into(),
        )
    })
}

/// The tree's right edge rebuilt from the chained rows up to `up_to` (once,
/// for a trail written before the head row kept it).
async fn rebuild_frontier(conn: &mut SqliteConnection, up_to: i64) -> Result<Frontier, StoreError> {
    let mut frontier = Frontier::default();
    let mut after = i64::MIN;
    loop {
        let rows = page_on(conn, after, crate::trail::PAGE).await?;
        let Some(last) = rows.last() else { break };
        after = last.seq;
        for row in rows {
            if row.seq > up_to {
                return Ok(frontier);
            }
            let row = row.decoded()?;
            if row.hash.is_some() {
                frontier.push(merkle::leaf_hash(row.seq, &row.entry));
            }
        }
    }
    Ok(frontier)
}

impl SqliteStore {
    /// Links `entries` to the head and inserts them, on a connection inside
    /// a write transaction.
    pub(super) async fn append_on(
        conn: &mut SqliteConnection,
        entries: &[Entry],
    ) -> Result<(), StoreError> {
        let (seq, hash, frontier) = head_on(conn).await?;
        let mut head = ChainHead {
            seq,
            hash,
            frontier: built(frontier)?,
        };
        let linked = head.link(entries);
        records::insert(conn, &linked.requests).await?;
        insert_events(conn, &linked.events).await?;
        sqlx::query("UPDATE chain_head SET seq = ?, hash = ?, frontier = ? WHERE id = 1")
            .bind(head.seq)
            .bind(head.hash.as_slice())
            .bind(head.frontier.to_bytes())
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Builds the head row's frontier if an older trail left it empty.
    pub(super) async fn ensure_frontier(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        if head_on(&mut conn).await?.2.is_some() {
            return Ok(());
        }
        drop(conn);
        let mut tx = self.write().await?;
        let (seq, _, frontier) = head_on(&mut tx).await?;
        if frontier.is_none() {
            let frontier = rebuild_frontier(&mut tx, seq).await?;
            sqlx::query("UPDATE chain_head SET frontier = ? WHERE id = 1")
                .bind(frontier.to_bytes())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl RecordStore for SqliteStore {
    async fn append(&self, entries: &[Entry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let _one_writer = self.writer.lock().await;
        let mut tx = self.write().await?;
        SqliteStore::append_on(&mut tx, entries).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn chain_page(&self, after_seq: i64, limit: i64) -> Result<Vec<StoredRow>, StoreError> {
        // One read transaction: both tables from one WAL snapshot, so an
        // append between the two reads cannot leave a gap in the merge.
        let mut tx = self.pool.begin().await?;
        let rows = page_on(&mut tx, after_seq, limit).await?;
        tx.rollback().await?;
        Ok(rows)
    }

    async fn chain_head(&self) -> Result<ChainHead, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let (seq, hash, frontier) = head_on(&mut conn).await?;
        Ok(ChainHead {
            seq,
            hash,
            frontier: built(frontier)?,
        })
    }

    async fn save_checkpoint(&self, cp: &Checkpoint) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_checkpoints (seq, tree_size, root, time_ms, checkpoint_json) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(cp.seq)
        .bind(i64::try_from(cp.tree_size).unwrap_or(i64::MAX))
        .bind(&cp.root)
        .bind(cp.time_ms)
        .bind(cp.to_json())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn checkpoint_before(&self, before_ms: i64) -> Result<Option<Checkpoint>, StoreError> {
        let json: Option<String> = sqlx::query_scalar(
            "SELECT checkpoint_json FROM audit_checkpoints WHERE time_ms < ? \
             ORDER BY seq DESC LIMIT 1",
        )
        .bind(before_ms)
        .fetch_optional(&self.pool)
        .await?;
        json.map(|j| Checkpoint::from_stored("audit_checkpoints", &j))
            .transpose()
    }

    async fn anchor(&self) -> Result<Option<Checkpoint>, StoreError> {
        let json: Option<String> =
            sqlx::query_scalar("SELECT checkpoint_json FROM chain_anchor WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?;
        json.map(|j| Checkpoint::from_stored("chain_anchor", &j))
            .transpose()
    }

    async fn prune_to(&self, cp: &Checkpoint) -> Result<u64, StoreError> {
        let _one_writer = self.writer.lock().await;
        let mut tx = self.write().await?;
        // Re-read under the write lock: a prune that committed since the
        // caller looked must never be moved back (rows after it would no
        // longer link to the anchor).
        let anchored: Option<i64> = sqlx::query_scalar("SELECT seq FROM chain_anchor WHERE id = 1")
            .fetch_optional(&mut *tx)
            .await?;
        if anchored.is_some_and(|a| a >= cp.seq) {
            return Ok(0);
        }
        // The pruned calls' recorded bodies go with them.
        sqlx::query(
            "DELETE FROM request_bodies WHERE request_id IN \
             (SELECT request_id FROM request_records WHERE seq <= ?)",
        )
        .bind(cp.seq)
        .execute(&mut *tx)
        .await?;
        let mut pruned = 0;
        for table in ["request_records", "audit_events"] {
            pruned += sqlx::query(AssertSqlSafe(format!("DELETE FROM {table} WHERE seq <= ?")))
                .bind(cp.seq)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        sqlx::query(
            "INSERT INTO chain_anchor (id, seq, checkpoint_json) VALUES (1, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, \
             checkpoint_json = excluded.checkpoint_json",
        )
        .bind(cp.seq)
        .bind(cp.to_json())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(pruned)
    }

    async fn list_events(
        &self,
        filter: &EventFilter,
    ) -> Result<Vec<(i64, AuditEvent)>, StoreError> {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "SELECT seq, {EVENT_COLUMNS} FROM audit_events WHERE 1 = 1"
        ));
        if let Some(prefix) = &filter.action_prefix {
            q.push(" AND substr(action, 1, length(")
                .push_bind(prefix)
                .push(")) = ")
                .push_bind(prefix);
        }
        if let Some(since) = filter.since_ms {
            q.push(" AND time_ms >= ").push_bind(since);
        }
        if let Some(session) = &filter.session_id {
            q.push(" AND session_id = ").push_bind(session);
        }
        if let Some(target) = &filter.target {
            q.push(" AND target = ").push_bind(target);
        }
        q.push(" ORDER BY seq DESC LIMIT ")
            .push_bind(i64::from(filter.limit.unwrap_or(1000)));
        let rows = q.build().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| Ok((row.try_get("seq")?, event_from_row(row)?)))
            .collect()
    }

    async fn list_records(&self, filter: &RecordFilter) -> Result<Vec<RequestRecord>, StoreError> {
        self.list_records_impl(filter).await
    }

    async fn usage(&self, by: UsageBy, since_ms: i64) -> Result<Vec<UsageRow>, StoreError> {
        self.usage_impl(by, since_ms).await
    }

    async fn response_owner(
        &self,
        response_id: &str,
    ) -> Result<Option<(Owner, Option<String>)>, StoreError> {
        self.response_owner_impl(response_id).await
    }

    async fn sessions(&self, since_ms: i64) -> Result<Vec<SessionRow>, StoreError> {
        self.sessions_impl(since_ms).await
    }

    async fn export_cursor(&self, name: &str) -> Result<Option<i64>, StoreError> {
        self.export_cursor_impl(name).await
    }

    async fn save_export_cursor(&self, name: &str, seq: i64) -> Result<(), StoreError> {
        self.save_export_cursor_impl(name, seq).await
    }
}
