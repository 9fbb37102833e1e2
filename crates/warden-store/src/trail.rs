//! What every backend shares, written once over [`RecordStore`]: verifying
//! the chain, reading the Merkle leaves, signing checkpoints.

use ed25519_dalek::SigningKey;

use crate::chain::{ChainRow, Hash, StoredRow, Verdict, Verifier};
use crate::checkpoint::Checkpoint;
use crate::{RecordStore, StoreError};

/// Rows read per page.
pub const PAGE: i64 = 5000;

/// Recomputes the whole chain from the stored rows, page by page, in
/// constant memory. With a checkpoint, the chain must also reach its seq
/// with its hash (which catches truncation and rewritten history).
///
/// The head row is read first: every seq up to it was committed before the
/// pages are read, so a trail that ends before it lost its tail. A pruned
/// trail is verified from its anchor; a prune that commits while the pages
/// are read moves the anchor, and then the walk is done once more.
pub async fn verify(
    store: &dyn RecordStore,
    checkpoint: Option<(i64, Hash)>,
) -> Result<Verdict, StoreError> {
    let (verdict, anchor) = verify_once(store, checkpoint).await?;
    if matches!(verdict, Verdict::Broken { .. }) && store.anchor().await?.map(|a| a.seq) != anchor {
        return Ok(verify_once(store, checkpoint).await?.0);
    }
    Ok(verdict)
}

/// One walk; also the anchor seq it started from.
async fn verify_once(
    store: &dyn RecordStore,
    checkpoint: Option<(i64, Hash)>,
) -> Result<(Verdict, Option<i64>), StoreError> {
    let head = store.chain_head().await?;
    let anchor = store.anchor().await?;
    let mut verifier = match checkpoint {
        Some((seq, hash)) => Verifier::with_checkpoint(seq, hash),
        None => Verifier::default(),
    };
    let mut last_seen = 0;
    if let Some(a) = &anchor {
        let hash = a
            .head_hash()
            .ok_or_else(|| StoreError::Corrupt("chain_anchor: head is not a hash".into()))?;
        // Rows up to the anchor are gone: a checkpoint inside them can only
        // be held to the anchor itself.
        if let Some((seq, cp_hash)) = checkpoint {
            let broken = |reason: String| Ok((Verdict::Broken { seq, reason }, Some(a.seq)));
            if seq < a.seq {
                return broken(format!(
                    "the signed checkpoint at seq {seq} predates the pruned trail's anchor \
                     (seq {}): it cannot be checked against this trail",
                    a.seq
                ));
            }
            if seq == a.seq && cp_hash != hash {
                return broken(
                    "differs from the pruned trail's anchor at this seq (the trail was rewritten)"
                        .into(),
                );
            }
        }
        verifier = verifier.resume(a.seq, hash);
        last_seen = a.seq;
    }
    let anchor = anchor.map(|a| a.seq);
    let mut after = i64::MIN;
    loop {
        let rows = store.chain_page(after, PAGE).await?;
        let Some(last) = rows.last() else { break };
        after = last.seq;
        for row in rows {
            last_seen = row.seq;
            let row = match row.into_row() {
                Ok(row) => row,
                // A row that no longer decodes was edited too.
                Err((seq, e)) => {
                    let reason = format!("row does not decode ({e}): edited");
                    return Ok((Verdict::Broken { seq, reason }, anchor));
                }
            };
            if let Err(verdict) = verifier.push(&row) {
                return Ok((verdict, anchor));
            }
        }
    }
    let verdict = verifier.finish();
    if let Verdict::Intact { head: chained, .. } = &verdict {
        if last_seen < head.seq {
            let reason = format!(
                "truncated: the chain head names seq {}, the trail ends at {last_seen}",
                head.seq
            );
            return Ok((
                Verdict::Broken {
                    seq: last_seen + 1,
                    reason,
                },
                anchor,
            ));
        }
        if let Some((seq, hash)) = chained
            && *seq == head.seq
            && *hash != head.hash
        {
            let reason =
                "the chain head's hash differs from the last row's (the tail was rewritten)".into();
            return Ok((Verdict::Broken { seq: *seq, reason }, anchor));
        }
    }
    Ok((verdict, anchor))
}

/// Merges one page of each table (both in seq order, each holding every one
/// of its rows up to its last seq) into up to `limit` rows in seq order:
/// complete up to the smaller last seq of a full page.
pub fn merge_page(
    mut requests: Vec<StoredRow>,
    events: Vec<StoredRow>,
    limit: i64,
) -> Vec<StoredRow> {
    let full = usize::try_from(limit).unwrap_or(usize::MAX);
    let bound = |rows: &[StoredRow]| match rows.last() {
        Some(last) if rows.len() >= full => last.seq,
        _ => i64::MAX,
    };
    let bound = bound(&requests).min(bound(&events));
    requests.extend(events);
    requests.retain(|r| r.seq <= bound);
    requests.sort_unstable_by_key(|r| r.seq);
    requests.truncate(full);
    requests
}

/// The Merkle leaf hashes of the chained entries up to `up_to_seq`, with
/// their seqs, in order. (Run after a verify: it trusts the rows.)
pub async fn leaves(
    store: &dyn RecordStore,
    up_to_seq: i64,
) -> Result<Vec<(i64, Hash)>, StoreError> {
    let mut out = Vec::new();
    let mut after = i64::MIN;
    loop {
        let rows = store.chain_page(after, PAGE).await?;
        let Some(last) = rows.last() else { break };
        after = last.seq;
        for row in rows {
            if row.seq > up_to_seq {
                return Ok(out);
            }
            let row = row.decoded()?;
            if row.hash.is_some() {
                out.push((row.seq, crate::merkle::leaf_hash(row.seq, &row.entry)));
            }
        }
    }
    Ok(out)
}

/// Up to `limit` decoded rows after `after_seq` (for export and proofs; a
/// row that no longer decodes is an error).
pub async fn rows(
    store: &dyn RecordStore,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<ChainRow>, StoreError> {
    store
        .chain_page(after_seq, limit)
        .await?
        .into_iter()
        .map(crate::chain::StoredRow::decoded)
        .collect()
}

/// Retention: deletes every entry covered by the newest checkpoint signed
/// before `cutoff_ms` (all of them were committed before it), after
/// verifying the whole trail against that checkpoint, so pruning never
/// destroys the evidence of tampering. The checkpoint becomes the anchor the
/// kept trail is verified from. `None` when there is nothing new to prune.
///
/// Inclusion proofs need every leaf of the tree a checkpoint signs, so after
/// pruning, `warden audit prove` works only for proofs made before.
pub async fn prune(
    store: &dyn RecordStore,
    cutoff_ms: i64,
) -> Result<Option<(Checkpoint, u64)>, StoreError> {
    let Some(cp) = store.checkpoint_before(cutoff_ms).await? else {
        return Ok(None);
    };
    if store.anchor().await?.is_some_and(|a| a.seq >= cp.seq) {
        return Ok(None);
    }
    let head = cp
        .head_hash()
        .ok_or_else(|| StoreError::Corrupt("checkpoint head is not a hash".into()))?;
    if let Verdict::Broken { seq, reason } = verify(store, Some((cp.seq, head))).await? {
        return Err(StoreError::Corrupt(format!(
            "not pruning: the trail is broken at seq {seq}: {reason}"
        )));
    }
    let pruned = store.prune_to(&cp).await?;
    if pruned == 0 {
        // Another prune got there first.
        return Ok(None);
    }
    Ok(Some((cp, pruned)))
}

/// Signs the trail's head (seq, chain hash, tree size, Merkle root, time)
/// and keeps the checkpoint; `None` when the trail is empty or has not grown
/// past `after_seq`. Costs one read of the head row: the store keeps the
/// tree's right edge current on every append.
pub async fn sign_checkpoint(
    store: &dyn RecordStore,
    key: &SigningKey,
    after_seq: i64,
) -> Result<Option<Checkpoint>, StoreError> {
    let head = store.chain_head().await?;
    if head.frontier.size() == 0 || head.seq <= after_seq {
        return Ok(None);
    }
    let cp = Checkpoint::sign(
        key,
        head.seq,
        &head.hash,
        head.frontier.size(),
        &head.frontier.root(),
        warden_core::now_ms(),
    );
    store.save_checkpoint(&cp).await?;
    Ok(Some(cp))
}

/// A recorded body that does not match the trail.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BodyProblem {
    pub request_id: String,
    /// Its record's seq; `None` when no record has this request id.
    pub seq: Option<i64>,
    pub reason: &'static str,
}

/// What [`verify_bodies`] found: how many bodies it checked, and the first
/// problems (at most [`MAX_BODY_PROBLEMS`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct BodyVerdict {
    pub checked: u64,
    pub problems: Vec<BodyProblem>,
}

pub const MAX_BODY_PROBLEMS: usize = 100;

/// Checks every kept body against the digest its (chained) record holds:
/// an edited body, or one no record vouches for, is a problem. A body that
/// is missing is not: bodies have their own retention, so a missing one is
/// only gone, never believed.
pub async fn verify_bodies(
    store: &dyn crate::bodies::BodyStore,
) -> Result<BodyVerdict, StoreError> {
    let mut verdict = BodyVerdict::default();
    let mut after = String::new();
    loop {
        let page = store.body_page(&after, PAGE).await?;
        let Some(last) = page.last() else {
            return Ok(verdict);
        };
        after.clone_from(&last.body.request_id);
        for row in &page {
            verdict.checked += 1;
            let reason = match (&row.seq, &row.recorded_digest) {
                (None, _) => Some("no record has this request id"),
                (Some(_), None) => Some("its record holds no body digest"),
                (Some(_), Some(d)) if *d != row.body.digest() => {
                    Some("the body differs from the digest its record holds")
                }
                _ => None,
            };
            if let Some(reason) = reason
                && verdict.problems.len() < MAX_BODY_PROBLEMS
            {
                verdict.problems.push(BodyProblem {
                    request_id: row.body.request_id.clone(),
                    seq: row.seq,
                    reason,
                });
            }
        }
    }
}
