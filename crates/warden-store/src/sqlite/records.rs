use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};
use warden_core::{Decision, Outcome, PrincipalKind, RequestRecord, Usage};

use super::{Head, SqliteStore, json_list, parse_list};
use crate::chain::{self, ChainRow, Hash, Verdict, Verifier};
use crate::checkpoint::Checkpoint;
use crate::merkle::{self, Frontier};
use crate::{Owner, RecordFilter, RecordStore, SessionRow, StoreError, UsageBy, UsageRow};

/// Rows read per page when verifying.
const VERIFY_PAGE: i64 = 5000;

impl SqliteStore {
    /// The last row's seq and hash (the genesis hash when the table is empty
    /// or predates the chain).
    async fn load_head(&self) -> Result<(i64, Hash), StoreError> {
        let row: Option<(i64, Option<Vec<u8>>)> =
            sqlx::query_as("SELECT seq, hash FROM request_records ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&self.pool)
                .await?;
        Ok(match row {
            None => (0, chain::GENESIS),
            Some((seq, hash)) => (
                seq,
                hash.and_then(|h| Hash::try_from(h.as_slice()).ok())
                    .unwrap_or(chain::GENESIS),
            ),
        })
    }

    /// Up to `limit` whole rows (record, seq and links) after `after_seq`.
    async fn page(&self, after_seq: i64, limit: i64) -> Result<Vec<SqliteRow>, StoreError> {
        Ok(sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT seq, {COLUMNS}, prev_hash, hash FROM request_records \
             WHERE seq > ? ORDER BY seq LIMIT ?"
        )))
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Recomputes the whole chain from the stored rows, page by page.
    pub async fn verify_chain(&self) -> Result<Verdict, StoreError> {
        self.verify_chain_against(None).await
    }

    /// The same, also holding the chain to a checkpoint's (seq, head hash).
    pub async fn verify_chain_against(
        &self,
        checkpoint: Option<(i64, Hash)>,
    ) -> Result<Verdict, StoreError> {
        let mut verifier = match checkpoint {
            Some((seq, head)) => Verifier::with_checkpoint(seq, head),
            None => Verifier::default(),
        };
        let mut after = i64::MIN;
        loop {
            let rows = self.page(after, VERIFY_PAGE).await?;
            let Some(last) = rows.last() else { break };
            after = last.try_get("seq")?;
            for row in &rows {
                let seq: i64 = row.try_get("seq")?;
                // A row that no longer decodes was edited too.
                let record = match from_row(row) {
                    Ok(r) => r,
                    Err(e) => {
                        return Ok(Verdict::Broken {
                            seq,
                            reason: format!("row does not decode ({e}): edited"),
                        });
                    }
                };
                let chain_row = ChainRow {
                    seq,
                    record,
                    prev_hash: row.try_get("prev_hash")?,
                    hash: row.try_get("hash")?,
                };
                if let Err(verdict) = verifier.push(&chain_row) {
                    return Ok(verdict);
                }
            }
        }
        Ok(verifier.finish())
    }

    /// Signs the trail's current head (seq, chain hash, tree size, Merkle
    /// root) and keeps the checkpoint in `audit_checkpoints`; `None` when the
    /// trail is empty or has not grown past `after_seq`. The first call after start-up reads the trail once to
    /// build the tree's right edge, without holding up appends; after that
    /// it costs O(log n).
    pub async fn sign_checkpoint(
        &self,
        key: &ed25519_dalek::SigningKey,
        after_seq: i64,
    ) -> Result<Option<Checkpoint>, StoreError> {
        let (seq, has_frontier) = {
            let mut head = self.head.lock().await;
            if head.is_none() {
                let (seq, hash) = self.load_head().await?;
                *head = Some(Head {
                    seq,
                    hash,
                    frontier: None,
                });
            }
            let h = head.as_ref().map(|h| (h.seq, h.frontier.is_some()));
            h.unwrap_or((0, false))
        };
        if !has_frontier {
            let leaves = self.leaves(seq).await?;
            let mut frontier = Frontier::from_leaves(leaves.into_iter().map(|(_, h)| h));
            let mut head = self.head.lock().await;
            if let Some(h) = head.as_mut().filter(|h| h.frontier.is_none()) {
                // Catch up with what was appended meanwhile.
                if h.seq > seq {
                    for row in self.chain_rows(seq, h.seq - seq).await? {
                        if row.hash.is_some() {
                            frontier.push(merkle::leaf_hash(row.seq, &row.record));
                        }
                    }
                }
                h.frontier = Some(frontier);
            }
        }
        let cp = {
            let head = self.head.lock().await;
            let Some(h) = head.as_ref() else {
                return Ok(None);
            };
            let Some(f) = &h.frontier else {
                return Ok(None);
            };
            if f.size() == 0 || h.seq <= after_seq {
                return Ok(None);
            }
            Checkpoint::sign(
                key,
                h.seq,
                &h.hash,
                f.size(),
                &f.root(),
                warden_core::now_ms(),
            )
        };
        let json = serde_json::to_string(&cp).unwrap_or_default();
        sqlx::query(
            "INSERT INTO audit_checkpoints (seq, tree_size, root, time_ms, checkpoint_json) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(cp.seq)
        .bind(i64::try_from(cp.tree_size).unwrap_or(i64::MAX))
        .bind(&cp.root)
        .bind(cp.time_ms)
        .bind(json)
        .execute(&self.pool)
        .await?;
        Ok(Some(cp))
    }

    /// The Merkle leaf hashes of the chained records up to `up_to_seq`, with
    /// their seqs, in order. (Run after a verify: it trusts the rows.)
    pub async fn leaves(&self, up_to_seq: i64) -> Result<Vec<(i64, Hash)>, StoreError> {
        let mut out = Vec::new();
        let mut after = i64::MIN;
        loop {
            let rows = self.chain_rows(after, VERIFY_PAGE).await?;
            let Some(last) = rows.last() else { break };
            after = last.seq;
            for row in rows {
                if row.seq > up_to_seq {
                    return Ok(out);
                }
                if row.hash.is_some() {
                    out.push((row.seq, crate::merkle::leaf_hash(row.seq, &row.record)));
                }
            }
        }
        Ok(out)
    }

    /// Up to `limit` rows after `after_seq`, in order, for export (a SIEM
    /// de-duplicates by `seq`). A row that no longer decodes is an error.
    pub async fn chain_rows(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<ChainRow>, StoreError> {
        self.page(after_seq, limit)
            .await?
            .iter()
            .map(|row| {
                Ok(ChainRow {
                    seq: row.try_get("seq")?,
                    record: from_row(row)?,
                    prev_hash: row.try_get("prev_hash")?,
                    hash: row.try_get("hash")?,
                })
            })
            .collect()
    }
}

const COLUMNS: &str = "request_id, started_at_ms, principal_kind, subject, issuer, groups_json, \
    key_id, client_addr, method, path, endpoint, model, connection, stream, decision, reason, \
    policy_ids_json, status, outcome, upstream_latency_us, total_latency_us, input_tokens, \
    output_tokens, total_tokens, cached_tokens, cost_micros, findings_json, response_id, session_id";

/// SQLite binds at most 32766 parameters; 32 per row.
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

fn from_row(row: &SqliteRow) -> Result<RequestRecord, StoreError> {
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
    })
}

#[async_trait]
impl RecordStore for SqliteStore {
    async fn response_owner(
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

    async fn sessions(&self, since_ms: i64) -> Result<Vec<SessionRow>, StoreError> {
        let rows: Vec<(
            String,
            i64,
            i64,
            i64,
            Option<String>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
        )> = sqlx::query_as(
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

    async fn checkpoint(
        &self,
        key: &ed25519_dalek::SigningKey,
        after_seq: i64,
    ) -> Result<Option<Checkpoint>, StoreError> {
        self.sign_checkpoint(key, after_seq).await
    }

    async fn append_records(&self, records: &[RequestRecord]) -> Result<(), StoreError> {
        let mut head = self.head.lock().await;
        let (mut seq, mut prev) = match &*head {
            Some(h) => (h.seq, h.hash),
            None => self.load_head().await?,
        };
        // Each record linked to the one before: (seq, prev_hash, hash).
        let links: Vec<(i64, Hash, Hash)> = records
            .iter()
            .map(|r| {
                seq += 1;
                let hash = chain::link(&prev, seq, r);
                let l = (seq, prev, hash);
                prev = hash;
                l
            })
            .collect();
        let mut tx = self.pool.begin().await?;
        for (chunk, links) in records
            .chunks(ROWS_PER_STATEMENT)
            .zip(links.chunks(ROWS_PER_STATEMENT))
        {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
                "INSERT INTO request_records (seq, {COLUMNS}, prev_hash, hash) "
            ));
            q.push_values(chunk.iter().zip(links), |mut b, (r, (seq, prev, hash))| {
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
                    .push_bind(prev.as_slice())
                    .push_bind(hash.as_slice());
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        // Only a committed batch moves the head.
        if let Some((seq, _, hash)) = links.last() {
            let mut frontier = head.take().and_then(|h| h.frontier);
            if let Some(f) = &mut frontier {
                for (r, (seq, _, _)) in records.iter().zip(&links) {
                    f.push(merkle::leaf_hash(*seq, r));
                }
            }
            *head = Some(Head {
                seq: *seq,
                hash: *hash,
                frontier,
            });
        }
        Ok(())
    }

    async fn list_records(&self, filter: &RecordFilter) -> Result<Vec<RequestRecord>, StoreError> {
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

    async fn usage(&self, by: UsageBy, since_ms: i64) -> Result<Vec<UsageRow>, StoreError> {
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
