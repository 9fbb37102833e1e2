//! The audit trail on PostgreSQL: appending entries to the one chain,
//! reading it back in seq order (request records and audit events merged),
//! the head row, checkpoints, pruning to a checkpoint and audit events.
//!
//! Every append is one transaction that locks the head row, inserts the
//! linked rows and moves the head (see the module above for why that keeps
//! replicas on one chain).

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, PgConnection, Postgres, QueryBuilder};
use warden_core::{Actor, AuditEvent, RequestRecord};

use super::{MAX_BINDS, PostgresStore, get, json_of, records, text_list};
use crate::chain::Link;
use crate::chain::{Entry, Hash, StoredRow};
use crate::checkpoint::Checkpoint;
use crate::merkle::Frontier;
use crate::{
    ChainHead, EventFilter, Owner, RecordFilter, RecordStore, SessionRow, StoreError, UsageBy,
    UsageRow,
};

const EVENT_COLUMNS: &str = "event_id, time_ms, action, subject, issuer, groups, key_id, \
    client_addr, target, status, detail, session_id, response_id";

/// Binds per inserted event: seq, the 13 columns, prev_hash and hash.
const BINDS_PER_EVENT: usize = 16;
const EVENTS_PER_STATEMENT: usize = MAX_BINDS / BINDS_PER_EVENT;

fn event_from_row(row: &PgRow) -> Result<AuditEvent, StoreError> {
    Ok(AuditEvent {
        event_id: get(row, "event_id")?,
        time_ms: get(row, "time_ms")?,
        action: get(row, "action")?,
        actor: Actor {
            subject: get(row, "subject")?,
            issuer: get(row, "issuer")?,
            groups: text_list(row, "groups")?,
            key_id: get(row, "key_id")?,
            client_addr: get(row, "client_addr")?,
        },
        target: get(row, "target")?,
        status: get(row, "status")?,
        detail: json_of("detail", get(row, "detail")?)?,
        session_id: get(row, "session_id")?,
        response_id: get(row, "response_id")?,
    })
}

async fn insert_events(
    conn: &mut PgConnection,
    rows: &[Link<'_, AuditEvent>],
) -> Result<(), StoreError> {
    for chunk in rows.chunks(EVENTS_PER_STATEMENT) {
        let mut q: QueryBuilder<Postgres> = QueryBuilder::new(format!(
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
                    .push_bind(&e.actor.groups)
                    .push_bind(&e.actor.key_id)
                    .push_bind(&e.actor.client_addr)
                    .push_bind(&e.target)
                    .push_bind(&e.status)
                    .push_bind(Json(&e.detail))
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

fn stored(row: &PgRow, entry: Result<Entry, StoreError>) -> Result<StoredRow, StoreError> {
    Ok(StoredRow {
        seq: get(row, "seq")?,
        entry: entry.map_err(|e| e.to_string()),
        prev_hash: get(row, "prev_hash")?,
        hash: get(row, "hash")?,
    })
}

/// Up to `limit` rows after `after_seq` from both tables, merged in seq
/// order, read in one snapshot (the caller's transaction). Each table's page
/// holds every one of its rows up to its last seq, so the merge is complete
/// up to the smaller last seq of a full page.
async fn page_on(
    conn: &mut PgConnection,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<StoredRow>, StoreError> {
    let requests = sqlx::query(AssertSqlSafe(format!(
        "SELECT seq, {}, prev_hash, hash FROM request_records \
         WHERE seq > $1 ORDER BY seq LIMIT $2",
        records::COLUMNS
    )))
    .bind(after_seq)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let events = sqlx::query(AssertSqlSafe(format!(
        "SELECT seq, {EVENT_COLUMNS}, prev_hash, hash FROM audit_events \
         WHERE seq > $1 ORDER BY seq LIMIT $2"
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

/// The head row, locked until the transaction ends when `lock`.
async fn head_on(conn: &mut PgConnection, lock: bool) -> Result<ChainHead, StoreError> {
    let sql = if lock {
        "SELECT seq, hash, frontier FROM chain_head WHERE id = 1 FOR UPDATE"
    } else {
        "SELECT seq, hash, frontier FROM chain_head WHERE id = 1"
    };
    let (seq, hash, frontier): (i64, Vec<u8>, Vec<u8>) =
        sqlx::query_as(sql).fetch_one(&mut *conn).await?;
    let hash = Hash::try_from(hash.as_slice())
        .map_err(|_| StoreError::Corrupt("chain_head.hash".into()))?;
    let frontier = Frontier::from_bytes(&frontier)
        .ok_or_else(|| StoreError::Corrupt("chain_head.frontier".into()))?;
    Ok(ChainHead {
        seq,
        hash,
        frontier,
    })
}

impl PostgresStore {
    /// Locks the head, links `entries` to it, inserts them and moves the
    /// head, on a connection inside a write transaction (which the caller
    /// commits).
    pub(super) async fn append_on(
        conn: &mut PgConnection,
        entries: &[Entry],
    ) -> Result<(), StoreError> {
        let mut head = head_on(conn, true).await?;
        let linked = head.link(entries);
        records::insert(conn, &linked.requests).await?;
        insert_events(conn, &linked.events).await?;
        sqlx::query("UPDATE chain_head SET seq = $1, hash = $2, frontier = $3 WHERE id = 1")
            .bind(head.seq)
            .bind(head.hash.as_slice())
            .bind(head.frontier.to_bytes())
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl RecordStore for PostgresStore {
    async fn append(&self, entries: &[Entry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = self.write().await?;
        PostgresStore::append_on(&mut tx, entries).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn chain_page(&self, after_seq: i64, limit: i64) -> Result<Vec<StoredRow>, StoreError> {
        // One snapshot for both tables: read separately, a row committed
        // between the two reads could be missing from a page that holds a
        // later seq from the other table.
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await?;
        let page = page_on(&mut tx, after_seq, limit).await?;
        tx.commit().await?;
        Ok(page)
    }

    async fn chain_head(&self) -> Result<ChainHead, StoreError> {
        let mut conn = self.pool.acquire().await?;
        head_on(&mut conn, false).await
    }

    async fn save_checkpoint(&self, cp: &Checkpoint) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_checkpoints (seq, tree_size, root, time_ms, checkpoint_json) \
             VALUES ($1, $2, $3, $4, $5)",
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
            "SELECT checkpoint_json FROM audit_checkpoints WHERE time_ms < $1 \
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
        let mut tx = self.write().await?;
        // Takes its turn with the appends, as under SQLite's one writer:
        // every change to the trail is ordered by the head row's lock.
        head_on(&mut tx, true).await?;
        // Re-read under the head lock: a prune that committed since the
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
             (SELECT request_id FROM request_records WHERE seq <= $1)",
        )
        .bind(cp.seq)
        .execute(&mut *tx)
        .await?;
        let mut pruned = 0;
        for table in ["request_records", "audit_events"] {
            pruned += sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE seq <= $1"
            )))
            .bind(cp.seq)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        sqlx::query(
            "INSERT INTO chain_anchor (id, seq, checkpoint_json) VALUES (1, $1, $2) \
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
        let mut q: QueryBuilder<Postgres> = QueryBuilder::new(format!(
            "SELECT seq, {EVENT_COLUMNS} FROM audit_events WHERE TRUE"
        ));
        if let Some(prefix) = &filter.action_prefix {
            q.push(" AND starts_with(action, ")
                .push_bind(prefix)
                .push(")");
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
            .map(|row| Ok((get(row, "seq")?, event_from_row(row)?)))
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
