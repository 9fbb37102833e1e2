//! Retention on PostgreSQL: pruning to a signed checkpoint keeps the rest of
//! the trail verifiable from it, never prunes a broken trail, and does not
//! disturb replicas appending meanwhile.

use super::{TestDb, USAGE, exec, record};
use crate::chain::Verdict;
use crate::{RecordFilter, RecordStore as _, trail};

/// Ten chained records and a key to sign checkpoints with.
async fn chained(db: &TestDb) -> (super::PostgresStore, ed25519_dalek::SigningKey) {
    let store = db.store().await;
    let batch: Vec<_> = (0..10)
        .map(|i| record(&format!("r{i}"), (i % 2 == 0).then_some(USAGE)))
        .collect();
    store.append_records(&batch).await.expect("append");
    let (private, _) = crate::checkpoint::key_pair_pem([7; 32]).expect("keys");
    let key = crate::checkpoint::signing_key_from_pem(&private).expect("key");
    (store, key)
}

fn broken_at(v: &Verdict) -> Option<i64> {
    match v {
        Verdict::Broken { seq, .. } => Some(*seq),
        Verdict::Intact { .. } => None,
    }
}

#[tokio::test]
async fn pruning_to_a_checkpoint_keeps_the_rest_verifiable() {
    let db = TestDb::new().await;
    let (store, key) = chained(&db).await;
    assert!(
        trail::prune(&store, i64::MAX)
            .await
            .expect("prune")
            .is_none(),
        "no checkpoint, nothing to prune"
    );
    assert_eq!(store.anchor().await.expect("anchor"), None);
    let cp = trail::sign_checkpoint(&store, &key, 0)
        .await
        .expect("sign")
        .expect("cp");
    assert_eq!(cp.seq, 10);
    store
        .append_records(&[record("r10", None), record("r11", None)])
        .await
        .expect("append");
    assert_eq!(
        store.checkpoint_before(cp.time_ms).await.expect("before"),
        None,
        "signed at, not before"
    );
    assert_eq!(
        store
            .checkpoint_before(cp.time_ms + 1)
            .await
            .expect("before"),
        Some(cp.clone())
    );
    // A cutoff before the checkpoint was signed prunes nothing.
    assert!(
        trail::prune(&store, cp.time_ms)
            .await
            .expect("prune")
            .is_none()
    );
    let (anchor, pruned) = trail::prune(&store, cp.time_ms + 1)
        .await
        .expect("prune")
        .expect("pruned");
    assert_eq!((anchor.seq, pruned), (10, 10));
    assert_eq!(store.anchor().await.expect("anchor"), Some(cp));
    assert!(
        trail::prune(&store, i64::MAX)
            .await
            .expect("again")
            .is_none(),
        "already pruned to it"
    );
    let kept = store
        .list_records(&RecordFilter::default())
        .await
        .expect("list");
    assert_eq!(kept.len(), 2);
    match trail::verify(&store, None).await.expect("verify") {
        Verdict::Intact { events, head, .. } => {
            assert_eq!((events, head.map(|h| h.0)), (2, Some(12)));
        }
        other => panic!("{other:?}"),
    }
    // The head row and its Merkle edge still cover the whole trail: the
    // next checkpoint signs all twelve leaves.
    let next = trail::sign_checkpoint(&store, &key, 10)
        .await
        .expect("sign")
        .expect("cp");
    assert_eq!((next.seq, next.tree_size), (12, 12));
}

#[tokio::test]
async fn kept_rows_and_the_anchor_are_still_held_to_the_chain() {
    // (tampering after pruning to seq 10 of 12, the first seq that must fail)
    let cases: [(&str, i64); 4] = [
        ("DELETE FROM request_records WHERE seq = 11", 11),
        (
            "UPDATE request_records SET subject = 'mallory' WHERE seq = 12",
            12,
        ),
        // Without the anchor nothing vouches for the pruned rows: they are
        // missing from seq 1.
        ("DELETE FROM chain_anchor", 1),
        // An anchor moved back leaves its next seq missing.
        (
            "UPDATE chain_anchor SET checkpoint_json = replace(checkpoint_json, '\"seq\":10', '\"seq\":9')",
            10,
        ),
    ];
    for (sql, seq) in cases {
        let db = TestDb::new().await;
        let (store, key) = chained(&db).await;
        let cp = trail::sign_checkpoint(&store, &key, 0)
            .await
            .expect("sign")
            .expect("cp");
        store
            .append_records(&[record("r10", None), record("r11", None)])
            .await
            .expect("append");
        trail::prune(&store, cp.time_ms + 1)
            .await
            .expect("prune")
            .expect("pruned");
        exec(&store, sql).await;
        let verdict = trail::verify(&store, None).await.expect("verify");
        assert_eq!(broken_at(&verdict), Some(seq), "{sql}: {verdict:?}");
    }
}

#[tokio::test]
async fn a_broken_trail_is_not_pruned() {
    let db = TestDb::new().await;
    let (store, key) = chained(&db).await;
    let cp = trail::sign_checkpoint(&store, &key, 0)
        .await
        .expect("sign")
        .expect("cp");
    exec(
        &store,
        "UPDATE request_records SET subject = 'mallory' WHERE seq = 3",
    )
    .await;
    let err = trail::prune(&store, cp.time_ms + 1)
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("broken at seq 3"), "{err}");
    let all = store
        .list_records(&RecordFilter::default())
        .await
        .expect("list");
    assert_eq!(all.len(), 10, "the evidence stays");
    assert_eq!(store.anchor().await.expect("anchor"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruning_while_another_replica_appends() {
    let db = TestDb::new().await;
    let (store, key) = chained(&db).await;
    let cp = trail::sign_checkpoint(&store, &key, 0)
        .await
        .expect("sign")
        .expect("cp");
    let other = db.store().await;
    let writer = tokio::spawn(async move {
        for i in 0..100 {
            other
                .append_records(&[record(&format!("w{i}"), Some(USAGE))])
                .await
                .expect("append");
        }
    });
    let (_, pruned) = trail::prune(&store, cp.time_ms + 1)
        .await
        .expect("prune")
        .expect("pruned");
    assert_eq!(pruned, 10);
    writer.await.expect("writer");
    match trail::verify(&store, None).await.expect("verify") {
        Verdict::Intact { events, head, .. } => {
            assert_eq!((events, head.map(|h| h.0)), (100, Some(110)));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_anchor_holds_against_late_prunes_and_old_checkpoints() {
    let db = TestDb::new().await;
    let (store, key) = chained(&db).await;
    crate::test_records::anchor_holds_against_late_prunes_and_old_checkpoints(&store, &key).await;
}

#[tokio::test]
async fn trace_spans_join_calls_to_their_session() {
    let db = TestDb::new().await;
    crate::test_records::trace_spans_join_calls_to_their_session(&db.store().await).await;
}

#[tokio::test]
async fn bodies_are_checked_against_their_records_and_pruned_with_them() {
    let db = TestDb::new().await;
    let store = db.store().await;
    crate::test_records::bodies_round_trip_and_are_checked(&store).await;
    sqlx::query("UPDATE request_bodies SET response = '\\x00'::bytea WHERE request_id = 'b-good'")
        .execute(store.pool())
        .await
        .expect("tamper");
    let verdict = crate::trail::verify_bodies(&store).await.expect("verify");
    assert!(
        verdict.problems.iter().any(|p| p.request_id == "b-good"
            && p.reason == "the body differs from the digest its record holds"
            && p.seq == Some(1)),
        "{verdict:?}"
    );
    crate::test_records::pruning_takes_the_bodies(&store).await;
}

#[tokio::test]
async fn approvals_and_grants() {
    let db = TestDb::new().await;
    crate::test_records::approvals_and_grants(&db.store().await).await;
}
