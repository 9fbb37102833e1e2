//! Request records: their columns, strict decoding, and the queries that
//! read them back (lists, usage, sessions, response owners). Appending them
//! to the chain is `trail.rs`'s.

use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};
use warden_core::{Decision, Outcome, PrincipalKind, RequestRecord, Usage};

use super::{SqliteStore, json_list, parse_list};
use crate::chain::Hash;
use crate::{Owner, RecordFilter, SessionRow, StoreError, UsageBy, UsageRow};

pub(super) const COLUMNS: &str = "request_id, started_at_ms, principal_kind, subject, issuer, groups_json, \
    key_id, client_addr, method, path, endpoint, model, connection, stream, decision, reason, \
    policy_ids_json, status, outcome, upstream_latency_us, total_latency_us, input_tokens, \
    output_tokens, total_tokens, cached_tokens, cost_micros, findings_json, response_id, session_id, ttft_us, chunks";

/// SQLite binds at most 32766 parameters; 34 per row.
const ROWS_PER_STATEMENT: usize = 500;

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Reads a count. Decoding is strict (a negative count, a token column
/// without usage, an unknown enum value are errors, not defaults): the hash
/// chain covers the decoded record, so a stored value with no meaning must
/// not decode to the same record as the value it replaced.
fn u64_of(row: &SqliteRow, column: &str) -> Result<Option<u64>, StoreError> {
    let v: Option<i64> = row.try_get(column)?;
    v.map(|v| u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{column} {v}"))))
        .transpose()
}

pub(super) fn from_row(row: &SqliteRow) -> Result<RequestRecord, StoreError> {
    let kind: Option<String> = row.try_get("principal_kind")?;
    let principal_kind = kind
        .map(|k| match k.as_str() {
            "user" => Ok(PrincipalKind::User),
            "workload" => Ok(PrincipalKind::Workload),
            "key" => Ok(PrincipalKind::Key),
            other => Err(StoreError::Corrupt(format!("principal_kind {other}"))),
        })
        .transpose()?;
    let decision = match row.try_get::<&str, _>("decision")? {
        "allow" => Decision::Allow,
        "deny" => Decision::Deny,
        other => return Err(StoreError::Corrupt(format!("decision {other}"))),
    };
    let outcome: &str = row.try_get("outcome")?;
    let outcome =
        Outcome::parse(outcome).ok_or_else(|| StoreError::Corrupt(format!("outcome {outcome}")))?;
    let tokens = [
        u64_of(row, "input_tokens")?,
        u64_of(row, "output_tokens")?,
        u64_of(row, "total_tokens")?,
        u64_of(row, "cached_tokens")?,
    ];
    let usage = match tokens {
        [None, None, None, None] => None,
        [Some(input), Some(output), Some(total), Some(cached)] => Some(Usage {
            input_tokens: input,
            output_tokens: output,
            total_tokens: total,
            cached_tokens: cached,
        }),
        _ => return Err(StoreError::Corrupt("token columns partly NULL".into())),
    };
    let status: i64 = row.try_get("status")?;
    let status =
        u16::try_from(status).map_err(|_| StoreError::Corrupt(format!("status {status}")))?;
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
        total_latency_us: u64_of(row, "total_latency_us")?.unwrap_or(0),
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
    })
}

/// Inserts request records with their links, on the append's connection.
pub(super) async fn insert(
    conn: &mut SqliteConnection,
    rows: &[(&RequestRecord, i64, Hash, Hash)],
) -> Result<(), StoreError> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "INSERT INTO request_records (seq, {COLUMNS}, prev_hash, hash) "
        ));
        q.push_values(chunk, |mut b, (r, seq, prev, hash)| {
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
                .push_bind(r.upstream_latency_us.map(i64_of))
                .push_bind(i64_of(r.total_latency_us))
                .push_bind(usage.map(|u| i64_of(u.input_tokens)))
                .push_bind(usage.map(|u| i64_of(u.output_tokens)))
                .push_bind(usage.map(|u| i64_of(u.total_tokens)))
                .push_bind(usage.map(|u| i64_of(u.cached_tokens)))
                .push_bind(r.cost_usd_micros.map(i64_of))
                .push_bind(
                    (!r.findings.is_empty())
                        .then(|| serde_json::to_string(&r.findings).unwrap_or_default()),
                )
                .push_bind(&r.response_id)
                .push_bind(&r.session_id)
                .push_bind(r.ttft_us.map(i64_of))
                .push_bind(r.chunks.map(i64_of))
                .push_bind(prev.as_slice())
                .push_bind(hash.as_slice());
        });
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
            "SELECT session_id, COUNT(*), MIN(started_at_ms), MAX(started_at_ms), \
                 MIN(subject), SUM(input_tokens), SUM(output_tokens), SUM(cost_micros) \
                 FROM request_records WHERE session_id IS NOT NULL AND started_at_ms >= ? \
                 GROUP BY session_id ORDER BY MAX(started_at_ms) DESC LIMIT 1000",
        )
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        let n = |v: Option<i64>| v.map_or(0, |v| u64::try_from(v).unwrap_or(0));
        Ok(rows
            .into_iter()
            .map(
                |(id, calls, first, last, subject, input, output, cost)| SessionRow {
                    id,
                    calls: n(Some(calls)),
                    first_ms: first,
                    last_ms: last,
                    subject,
                    input_tokens: n(input),
                    output_tokens: n(output),
                    cost_usd_micros: n(cost),
                },
            )
            .collect())
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
            q.push(" AND session_id = ").push_bind(session);
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
