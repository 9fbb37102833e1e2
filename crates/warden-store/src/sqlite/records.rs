//! Request records: their columns, strict decoding, and the queries that
//! read them back (lists, usage, sessions, response owners). Appending them
//! to the chain is `trail.rs`'s.

use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};
use warden_core::{Decision, PrincipalKind, RequestRecord};

use super::{SqliteStore, json_list, parse_list};
use crate::chain::Link;
use crate::decode;
use crate::{Owner, RecordFilter, SessionRow, StoreError, UsageBy, UsageRow};

pub(super) const COLUMNS: &str = "request_id, started_at_ms, principal_kind, subject, issuer, groups_json, \
    key_id, client_addr, method, path, endpoint, model, connection, stream, decision, reason, \
    policy_ids_json, status, outcome, upstream_latency_us, total_latency_us, input_tokens, \
    output_tokens, total_tokens, cached_tokens, cost_micros, findings_json, response_id, session_id, ttft_us, chunks, body_sha256, \
    policy_decision, stage, client_request_id";

/// SQLite binds at most 32766 parameters; 37 per row.
const ROWS_PER_STATEMENT: usize = 500;

/// A count column, strictly (see `crate::decode`).
fn u64_of(row: &SqliteRow, column: &str) -> Result<Option<u64>, StoreError> {
    decode::count(column, row.try_get(column)?)
}

pub(super) fn from_row(row: &SqliteRow) -> Result<RequestRecord, StoreError> {
    let kind: Option<&str> = row.try_get("principal_kind")?;
    let principal_kind = decode::principal_kind(kind)?;
    let decision = decode::decision(row.try_get("decision")?)?;
    let outcome = decode::outcome(row.try_get("outcome")?)?;
    let usage = decode::usage([
        u64_of(row, "input_tokens")?,
        u64_of(row, "output_tokens")?,
        u64_of(row, "total_tokens")?,
        u64_of(row, "cached_tokens")?,
    ])?;
    let status = decode::status(row.try_get("status")?)?;
    let stream: i64 = row.try_get("stream")?;
    let stream = match stream {
        0 => false,
        1 => true,
        other => return Err(StoreError::Corrupt(format!("stream {other}"))),
    };
    Ok(RequestRecord {
        request_id: row.try_get("request_id")?,
        started_at_ms: row.try_get("started_at_ms")?,
        principal_kind,
        subject: row.try_get("subject")?,
        issuer: row.try_get("issuer")?,
        groups: parse_list("groups_json", row.try_get("groups_json")?)?,
        key_id: row.try_get("key_id")?,
        client_addr: row.try_get("client_addr")?,
        method: row.try_get("method")?,
        path: row.try_get("path")?,
        endpoint: row.try_get("endpoint")?,
        model: row.try_get("model")?,
        connection: row.try_get("connection")?,
        stream,
        decision,
        reason: row.try_get("reason")?,
        policy_ids: parse_list("policy_ids_json", row.try_get("policy_ids_json")?)?,
        status,
        outcome,
        upstream_latency_us: u64_of(row, "upstream_latency_us")?,
        total_latency_us: decode::required("total_latency_us", row.try_get("total_latency_us")?)?,
        usage,
        cost_usd_micros: u64_of(row, "cost_micros")?,
        findings: match row.try_get::<Option<String>, _>("findings_json")? {
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("findings_json: {e}")))?,
            None => Vec::new(),
        },
        response_id: row.try_get("response_id")?,
        session_id: row.try_get("session_id")?,
        ttft_us: u64_of(row, "ttft_us")?,
        chunks: u64_of(row, "chunks")?,
        body_sha256: row.try_get("body_sha256")?,
        policy_decision: match row.try_get::<Option<String>, _>("policy_decision")? {
            Some(d) => Some(decode::decision(&d)?),
            None => None,
        },
        stage: row.try_get("stage")?,
        client_request_id: row.try_get("client_request_id")?,
    })
}

/// Inserts request records with their links, on the append's connection.
pub(super) async fn insert(
    conn: &mut SqliteConnection,
    rows: &[Link<'_, RequestRecord>],
) -> Result<(), StoreError> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "INSERT INTO request_records (seq, {COLUMNS}, prev_hash, hash) "
        ));
        q.push_values(
            chunk,
            |mut b,
             Link {
                 item: r,
                 seq,
                 prev,
                 hash,
             }| {
                let usage = r.usage.as_ref();
                b.push_bind(*seq)
                    .push_bind(&r.request_id)
                    .push_bind(r.started_at_ms)
                    .push_bind(r.principal_kind.map(PrincipalKind::as_str))
                    .push_bind(&r.subject)
                    .push_bind(&r.issuer)
                    .push_bind(json_list(&r.groups))
                    .push_bind(&r.key_id)
                    .push_bind(&r.client_addr)
                    .push_bind(&r.method)
                    .push_bind(&r.path)
                    .push_bind(&r.endpoint)
                    .push_bind(&r.model)
                    .push_bind(&r.connection)
                    .push_bind(r.stream)
                    .push_bind(r.decision.as_str())
                    .push_bind(&r.reason)
                    .push_bind(json_list(&r.policy_ids))
                    .push_bind(i64::from(r.status))
                    .push_bind(r.outcome.as_str())
                    .push_bind(r.upstream_latency_us.map(decode::i64_of))
                    .push_bind(decode::i64_of(r.total_latency_us))
                    .push_bind(usage.map(|u| decode::i64_of(u.input_tokens)))
                    .push_bind(usage.map(|u| decode::i64_of(u.output_tokens)))
                    .push_bind(usage.map(|u| decode::i64_of(u.total_tokens)))
                    .push_bind(usage.map(|u| decode::i64_of(u.cached_tokens)))
                    .push_bind(r.cost_usd_micros.map(decode::i64_of))
                    .push_bind(
                        (!r.findings.is_empty())
                            .then(|| serde_json::to_string(&r.findings).unwrap_or_default()),
                    )
                    .push_bind(&r.response_id)
                    .push_bind(&r.session_id)
                    .push_bind(r.ttft_us.map(decode::i64_of))
                    .push_bind(r.chunks.map(decode::i64_of))
                    .push_bind(&r.body_sha256)
                    .push_bind(r.policy_decision.map(Decision::as_str))
                    .push_bind(&r.stage)
                    .push_bind(&r.client_request_id)
                    .push_bind(prev.as_slice())
                    .push_bind(hash.as_slice());
            },
        );
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// (id, calls, first, last, subject, input, output, cost) of one session.
type SessionSums = (
    String,
    i64,
    i64,
    i64,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

impl SqliteStore {
    pub(super) async fn response_owner_impl(
        &self,
        response_id: &str,
    ) -> Result<Option<(Owner, Option<String>)>, StoreError> {
        let row: Option<(Option<String>, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT issuer, subject, session_id FROM request_records WHERE response_id = ? \
             ORDER BY seq LIMIT 1",
        )
        .bind(response_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(issuer, subject, session)| (Owner { issuer, subject }, session)))
    }

    pub(super) async fn sessions_impl(&self, since_ms: i64) -> Result<Vec<SessionRow>, StoreError> {
        let rows: Vec<SessionSums> = sqlx::query_as(
            "SELECT sid, COUNT(*), MIN(started_at_ms), MAX(started_at_ms), \
                 MIN(subject), SUM(input_tokens), SUM(output_tokens), SUM(cost_micros) \
             FROM (SELECT CASE WHEN r.session_id IS NOT NULL \
                       AND r.session_id IS DISTINCT FROM r.response_id THEN r.session_id \
                   ELSE COALESCE((SELECT e.session_id FROM audit_events e \
                       WHERE e.response_id = r.response_id AND e.session_id IS NOT NULL \
                       ORDER BY e.seq LIMIT 1), r.session_id) END AS sid, \
                   r.started_at_ms, r.subject, r.input_tokens, r.output_tokens, r.cost_micros \
                   FROM request_records r WHERE r.started_at_ms >= ?) \
             WHERE sid IS NOT NULL \
             GROUP BY sid ORDER BY MAX(started_at_ms) DESC, sid LIMIT 1000",
        )
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        // Sums are strict like the rows they add up (no sum is 0).
        let n = |column: &str, v: Option<i64>| -> Result<u64, StoreError> {
            Ok(decode::count(column, v)?.unwrap_or(0))
        };
        rows.into_iter()
            .map(|(id, calls, first, last, subject, input, output, cost)| {
                Ok(SessionRow {
                    id,
                    calls: n("calls", Some(calls))?,
                    first_ms: first,
                    last_ms: last,
                    subject,
                    input_tokens: n("input_tokens", input)?,
                    output_tokens: n("output_tokens", output)?,
                    cost_usd_micros: n("cost_micros", cost)?,
                })
            })
            .collect()
    }

    pub(super) async fn list_records_impl(
        &self,
        filter: &RecordFilter,
    ) -> Result<Vec<RequestRecord>, StoreError> {
        let mut q: QueryBuilder<Sqlite> =
            QueryBuilder::new(format!("SELECT {COLUMNS} FROM request_records WHERE 1 = 1"));
        if let Some(subject) = &filter.subject {
            q.push(" AND subject = ").push_bind(subject);
        }
        if let Some(since) = filter.since_ms {
            q.push(" AND started_at_ms >= ").push_bind(since);
        }
        if let Some(session) = &filter.session_id {
            q.push(" AND (session_id = ")
                .push_bind(session)
                .push(
                    " OR ((session_id IS NULL OR session_id = response_id) \
                     AND response_id IN (SELECT response_id FROM audit_events \
                     WHERE response_id IS NOT NULL AND session_id = ",
                )
                .push_bind(session)
                .push(")))");
        }
        q.push(" ORDER BY seq DESC LIMIT ")
            .push_bind(i64::from(filter.limit.unwrap_or(1000)));
        let rows = q.build().fetch_all(&self.pool).await?;
        rows.iter().map(from_row).collect()
    }

    pub(super) async fn usage_impl(
        &self,
        by: UsageBy,
        since_ms: i64,
    ) -> Result<Vec<UsageRow>, StoreError> {
        // Fixed SQL per grouping; only values are bound.
        let sql = match by {
            UsageBy::User => USAGE_BY_USER,
            UsageBy::Group => USAGE_BY_GROUP,
            UsageBy::Model => USAGE_BY_MODEL,
            UsageBy::Key => USAGE_BY_KEY,
        };
        let rows = sqlx::query(sql)
            .bind(since_ms)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let n = |c: &str| -> Result<u64, StoreError> { Ok(u64_of(row, c)?.unwrap_or(0)) };
                Ok(UsageRow {
                    key: row.try_get("k")?,
                    requests: n("requests")?,
                    input_tokens: n("input_tokens")?,
                    output_tokens: n("output_tokens")?,
                    cost_usd_micros: n("cost")?,
                })
            })
            .collect()
    }
}

const USAGE_BY_USER: &str = "SELECT COALESCE(subject, '(unauthenticated)') AS k, \
    COUNT(*) AS requests, SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, \
    SUM(cost_micros) AS cost FROM request_records WHERE started_at_ms >= ? \
    GROUP BY k ORDER BY cost DESC, requests DESC";
const USAGE_BY_MODEL: &str = "SELECT COALESCE(model, '(none)') AS k, \
    COUNT(*) AS requests, SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, \
    SUM(cost_micros) AS cost FROM request_records WHERE started_at_ms >= ? \
    GROUP BY k ORDER BY cost DESC, requests DESC";
const USAGE_BY_KEY: &str = "SELECT key_id AS k, \
    COUNT(*) AS requests, SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, \
    SUM(cost_micros) AS cost FROM request_records WHERE started_at_ms >= ? AND key_id IS NOT NULL \
    GROUP BY k ORDER BY cost DESC, requests DESC";
const USAGE_BY_GROUP: &str = "SELECT g.value AS k, \
    COUNT(*) AS requests, SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, \
    SUM(cost_micros) AS cost FROM request_records, json_each(request_records.groups_json) AS g \
    WHERE started_at_ms >= ? GROUP BY k ORDER BY cost DESC, requests DESC";
