//! Request records on PostgreSQL: their columns, strict decoding, and the
//! queries that read them back (lists, usage, sessions, response owners).
//! Appending them to the chain is `trail.rs`'s.

use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use warden_core::{Decision, PrincipalKind, RequestRecord};

use super::{MAX_BINDS, PostgresStore, get, json_of, text_list};
use crate::chain::Link;
use crate::decode;
use crate::{Owner, RecordFilter, SessionRow, StoreError, UsageBy, UsageRow};

pub(super) const COLUMNS: &str = "request_id, started_at_ms, principal_kind, subject, issuer, groups, \
    key_id, client_addr, method, path, endpoint, model, connection, stream, decision, reason, \
    policy_ids, status, outcome, upstream_latency_us, total_latency_us, input_tokens, \
    output_tokens, total_tokens, cached_tokens, cost_micros, findings, response_id, session_id, ttft_us, chunks, body_sha256, \
    policy_decision, stage, client_request_id";

/// Binds per inserted row: seq, the 35 columns, prev_hash and hash.
const BINDS_PER_ROW: usize = 38;
const ROWS_PER_STATEMENT: usize = MAX_BINDS / BINDS_PER_ROW;

/// A count column, strictly (see `crate::decode`).
fn u64_of(row: &PgRow, column: &str) -> Result<Option<u64>, StoreError> {
    decode::count(column, get(row, column)?)
}

pub(super) fn from_row(row: &PgRow) -> Result<RequestRecord, StoreError> {
    let kind: Option<&str> = get(row, "principal_kind")?;
    let principal_kind = decode::principal_kind(kind)?;
    let decision = decode::decision(get(row, "decision")?)?;
    let outcome = decode::outcome(get(row, "outcome")?)?;
    let usage = decode::usage([
        u64_of(row, "input_tokens")?,
        u64_of(row, "output_tokens")?,
        u64_of(row, "total_tokens")?,
        u64_of(row, "cached_tokens")?,
    ])?;
    let status = decode::status(i64::from(get::<i32>(row, "status")?))?;
    let total_latency_us = decode::required("total_latency_us", get(row, "total_latency_us")?)?;
    Ok(RequestRecord {
        request_id: get(row, "request_id")?,
        started_at_ms: get(row, "started_at_ms")?,
        principal_kind,
        subject: get(row, "subject")?,
        issuer: get(row, "issuer")?,
        groups: text_list(row, "groups")?,
        key_id: get(row, "key_id")?,
        client_addr: get(row, "client_addr")?,
        method: get(row, "method")?,
        path: get(row, "path")?,
        endpoint: get(row, "endpoint")?,
        model: get(row, "model")?,
        connection: get(row, "connection")?,
        stream: get(row, "stream")?,
        decision,
        reason: get(row, "reason")?,
        policy_ids: text_list(row, "policy_ids")?,
        status,
        outcome,
        upstream_latency_us: u64_of(row, "upstream_latency_us")?,
        total_latency_us,
        usage,
        cost_usd_micros: u64_of(row, "cost_micros")?,
        findings: match get::<Option<serde_json::Value>>(row, "findings")? {
            Some(value) => json_of("findings", value)?,
            None => Vec::new(),
        },
        response_id: get(row, "response_id")?,
        session_id: get(row, "session_id")?,
        ttft_us: u64_of(row, "ttft_us")?,
        chunks: u64_of(row, "chunks")?,
        body_sha256: get(row, "body_sha256")?,
        policy_decision: match get::<Option<String>>(row, "policy_decision")? {
            Some(d) => Some(decode::decision(&d)?),
            None => None,
        },
        stage: get(row, "stage")?,
        client_request_id: get(row, "client_request_id")?,
    })
}

/// Inserts request records with their links, inside the append's
/// transaction, in as few statements as the bind limit allows.
pub(super) async fn insert(
    conn: &mut PgConnection,
    rows: &[Link<'_, RequestRecord>],
) -> Result<(), StoreError> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut q: QueryBuilder<Postgres> = QueryBuilder::new(format!(
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
                    .push_bind(&r.groups)
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
                    .push_bind(&r.policy_ids)
                    .push_bind(i32::from(r.status))
                    .push_bind(r.outcome.as_str())
                    .push_bind(r.upstream_latency_us.map(decode::i64_of))
                    .push_bind(decode::i64_of(r.total_latency_us))
                    .push_bind(usage.map(|u| decode::i64_of(u.input_tokens)))
                    .push_bind(usage.map(|u| decode::i64_of(u.output_tokens)))
                    .push_bind(usage.map(|u| decode::i64_of(u.total_tokens)))
                    .push_bind(usage.map(|u| decode::i64_of(u.cached_tokens)))
                    .push_bind(r.cost_usd_micros.map(decode::i64_of))
                    .push_bind((!r.findings.is_empty()).then_some(Json(&r.findings)))
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

impl PostgresStore {
    pub(super) async fn response_owner_impl(
        &self,
        response_id: &str,
    ) -> Result<Option<(Owner, Option<String>)>, StoreError> {
        let row: Option<(Option<String>, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT issuer, subject, session_id FROM request_records WHERE response_id = $1 \
             ORDER BY seq LIMIT 1",
        )
        .bind(response_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(issuer, subject, session)| (Owner { issuer, subject }, session)))
    }

    pub(super) async fn sessions_impl(&self, since_ms: i64) -> Result<Vec<SessionRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT sid AS session_id, COUNT(*) AS calls, MIN(started_at_ms) AS first_ms, \
                 MAX(started_at_ms) AS last_ms, MIN(subject) AS subject, \
                 SUM(input_tokens)::BIGINT AS input_tokens, \
                 SUM(output_tokens)::BIGINT AS output_tokens, SUM(cost_micros)::BIGINT AS cost \
             FROM (SELECT CASE WHEN r.session_id IS NOT NULL \
                       AND r.session_id IS DISTINCT FROM r.response_id THEN r.session_id \
                   ELSE COALESCE((SELECT e.session_id FROM audit_events e \
                       WHERE e.response_id = r.response_id AND e.session_id IS NOT NULL \
                       ORDER BY e.seq LIMIT 1), r.session_id) END AS sid, \
                   r.started_at_ms, r.subject, r.input_tokens, r.output_tokens, r.cost_micros \
                   FROM request_records r WHERE r.started_at_ms >= $1) calls \
             WHERE sid IS NOT NULL \
             GROUP BY sid ORDER BY MAX(started_at_ms) DESC, sid LIMIT 1000",
        )
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let n = |c: &str| -> Result<u64, StoreError> { Ok(u64_of(row, c)?.unwrap_or(0)) };
                Ok(SessionRow {
                    id: get(row, "session_id")?,
                    calls: n("calls")?,
                    first_ms: get(row, "first_ms")?,
                    last_ms: get(row, "last_ms")?,
                    subject: get(row, "subject")?,
                    input_tokens: n("input_tokens")?,
                    output_tokens: n("output_tokens")?,
                    cost_usd_micros: n("cost")?,
                })
            })
            .collect()
    }

    pub(super) async fn list_records_impl(
        &self,
        filter: &RecordFilter,
    ) -> Result<Vec<RequestRecord>, StoreError> {
        let mut q: QueryBuilder<Postgres> =
            QueryBuilder::new(format!("SELECT {COLUMNS} FROM request_records WHERE TRUE"));
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
                    key: get(row, "k")?,
                    requests: n("requests")?,
                    input_tokens: n("input_tokens")?,
                    output_tokens: n("output_tokens")?,
                    cost_usd_micros: n("cost")?,
                })
            })
            .collect()
    }
}

// SUM over BIGINT is NUMERIC in PostgreSQL, hence the casts. NULLS LAST
// because SQLite sorts NULL below every number (calls with no known cost
// come last there too); the key breaks the remaining ties.
const USAGE_BY_USER: &str = "SELECT COALESCE(subject, '(unauthenticated)') AS k, \
    COUNT(*) AS requests, SUM(input_tokens)::BIGINT AS input_tokens, \
    SUM(output_tokens)::BIGINT AS output_tokens, SUM(cost_micros)::BIGINT AS cost \
    FROM request_records WHERE started_at_ms >= $1 \
    GROUP BY k ORDER BY cost DESC NULLS LAST, requests DESC, k";
const USAGE_BY_MODEL: &str = "SELECT COALESCE(model, '(none)') AS k, \
    COUNT(*) AS requests, SUM(input_tokens)::BIGINT AS input_tokens, \
    SUM(output_tokens)::BIGINT AS output_tokens, SUM(cost_micros)::BIGINT AS cost \
    FROM request_records WHERE started_at_ms >= $1 \
    GROUP BY k ORDER BY cost DESC NULLS LAST, requests DESC, k";
const USAGE_BY_KEY: &str = "SELECT key_id AS k, \
    COUNT(*) AS requests, SUM(input_tokens)::BIGINT AS input_tokens, \
    SUM(output_tokens)::BIGINT AS output_tokens, SUM(cost_micros)::BIGINT AS cost \
    FROM request_records WHERE started_at_ms >= $1 AND key_id IS NOT NULL \
    GROUP BY k ORDER BY cost DESC NULLS LAST, requests DESC, k";
const USAGE_BY_GROUP: &str = "SELECT g.name AS k, \
    COUNT(*) AS requests, SUM(input_tokens)::BIGINT AS input_tokens, \
    SUM(output_tokens)::BIGINT AS output_tokens, SUM(cost_micros)::BIGINT AS cost \
    FROM request_records CROSS JOIN LATERAL unnest(request_records.groups) AS g(name) \
    WHERE started_at_ms >= $1 GROUP BY k ORDER BY cost DESC NULLS LAST, requests DESC, k";
