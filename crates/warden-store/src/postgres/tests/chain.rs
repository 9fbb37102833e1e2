//! The chain on PostgreSQL: tampering done with plain SQL is caught at the
//! first row touched, and checkpoints sign the stored head.

use warden_core::Actor;

use super::{TestDb, USAGE, exec, record};
use crate::chain::Verdict;
use crate::merkle::{self, Frontier};
use crate::{KeyStore as _, RecordStore, StoredKey, trail};

/// Ten chained records, written in three batches by two replicas (the
/// second reads the head the first left).
async fn chained_store(db: &TestDb) -> super::PostgresStore {
    let first = db.store().await;
    let batch = |from: usize, to: usize| -> Vec<warden_core::RequestRecord> {
        (from..to)
            .map(|i| record(&format!("r{i}"), (i % 2 == 0).then_some(USAGE)))
            .collect()
    };
    first.append_records(&batch(0, 4)).await.expect("append");
    first.append_records(&batch(4, 7)).await.expect("append");
    drop(first);
    let store = db.store().await;
    store.append_records(&batch(7, 10)).await.expect("append");
    store
}

fn broken_at(v: &Verdict) -> Option<i64> {
    match v {
        Verdict::Broken { seq, .. } => Some(*seq),
        Verdict::Intact { .. } => None,
    }
}

#[tokio::test]
async fn an_untouched_chain_verifies() {
    let db = TestDb::new().await;
    let store = chained_store(&db).await;
    match trail::verify(&store, None).await.expect("verify") {
        Verdict::Intact {
            events,
            unchained,
            head,
        } => {
            assert_eq!((events, unchained), (10, 0));
            let head = head.expect("head");
            let stored = store.chain_head().await.expect("head row");
            assert_eq!(head, (stored.seq, stored.hash));
            assert_eq!((stored.seq, stored.frontier.size()), (10, 10));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn edits_deletions_insertions_and_reordering_are_caught_at_the_right_row() {
    // (tampering, the first sequence number that must fail)
    let cases: [(&str, i64); 14] = [
        (
            "UPDATE request_records SET subject = 'mallory' WHERE seq = 4",
            4,
        ),
        (
            "UPDATE request_records SET status = 200, outcome = 'completed', total_tokens = 1 WHERE seq = 6",
            6,
        ),
        (
            "UPDATE request_records SET stream = NOT stream WHERE seq = 3",
            3,
        ),
        (
            "UPDATE request_records SET groups = ARRAY['eng', 'admins'] WHERE seq = 7",
            7,
        ),
        (
            "UPDATE request_records SET findings = jsonb_set(findings, '{0,count}', '0') WHERE seq = 5",
            5,
        ),
        // Values that do not decode are edits too.
        (
            "UPDATE request_records SET decision = 'maybe' WHERE seq = 2",
            2,
        ),
        (
            "UPDATE request_records SET input_tokens = -10 WHERE seq = 1",
            1,
        ),
        // Deletions are named at the first seq that is gone.
        ("DELETE FROM request_records WHERE seq = 5", 5),
        ("DELETE FROM request_records WHERE seq >= 3 AND seq <= 4", 3),
        ("DELETE FROM request_records WHERE seq = 1", 1),
        // A forged row appended after the last, with a made-up hash.
        (
            "INSERT INTO request_records (seq, request_id, started_at_ms, groups, method, path, endpoint, stream, decision, policy_ids, status, outcome, total_latency_us, prev_hash, hash) \
             SELECT 11, 'forged', started_at_ms, groups, method, path, endpoint, stream, decision, policy_ids, status, outcome, total_latency_us, hash, hash FROM request_records WHERE seq = 10",
            11,
        ),
        // A row moved to the front: it is read first, and its link is wrong.
        ("UPDATE request_records SET seq = -3 WHERE seq = 3", -3),
        (
            "UPDATE request_records SET hash = NULL, prev_hash = NULL WHERE seq = 8",
            8,
        ),
        // A hash recomputed by someone without the rest of the chain.
        (
            "UPDATE request_records SET hash = sha256(hash) WHERE seq = 9",
            9,
        ),
    ];
    for (sql, seq) in cases {
        let db = TestDb::new().await;
        let store = chained_store(&db).await;
        exec(&store, sql).await;
        let verdict = trail::verify(&store, None).await.expect("verify");
        assert_eq!(broken_at(&verdict), Some(seq), "{sql}: {verdict:?}");
    }
}

#[tokio::test]
async fn swapped_rows_are_caught() {
    let db = TestDb::new().await;
    let store = chained_store(&db).await;
    // Move row 3 to 99, row 4 to 3, then row 99 to 4: a reorder.
    exec(&store, "UPDATE request_records SET seq = 99 WHERE seq = 3").await;
    exec(&store, "UPDATE request_records SET seq = 3 WHERE seq = 4").await;
    exec(&store, "UPDATE request_records SET seq = 4 WHERE seq = 99").await;
    let verdict = trail::verify(&store, None).await.expect("verify");
    assert_eq!(broken_at(&verdict), Some(3), "{verdict:?}");
}

/// The chained store, then a key created (seq 11), a record (12) and the
/// key revoked (13).
async fn keyed_store(db: &TestDb) -> super::PostgresStore {
    let store = chained_store(db).await;
    let key = StoredKey {
        id: "k1".into(),
        key_hash: vec![1; 32],
        owner: "ci".into(),
        groups: vec!["ci".into()],
        models: None,
        description: None,
        created_at_ms: 1,
        expires_at_ms: None,
        revoked_at_ms: None,
    };
    let alice = Actor {
        subject: Some("os:alice".into()),
        ..Actor::default()
    };
    store.insert_key(&key, &alice).await.expect("insert");
    store
        .append_records(&[record("r10", None)])
        .await
        .expect("append");
    assert!(store.revoke_key("k1", 5, &alice).await.expect("revoke"));
    store
}

#[tokio::test]
async fn audit_events_share_the_chain_and_are_caught_when_edited() {
    let db = TestDb::new().await;
    let store = keyed_store(&db).await;
    match trail::verify(&store, None).await.expect("verify") {
        Verdict::Intact { events, head, .. } => {
            assert_eq!((events, head.map(|h| h.0)), (13, Some(13)));
        }
        other => panic!("{other:?}"),
    }
    drop((store, db));
    for (sql, seq) in [
        (
            "UPDATE audit_events SET subject = 'os:bob' WHERE seq = 11",
            11,
        ),
        (
            "UPDATE audit_events SET detail = detail || '{\"owner\": \"mallory\"}' WHERE seq = 11",
            11,
        ),
        (
            "UPDATE audit_events SET action = 'key.create' WHERE seq = 13",
            13,
        ),
        ("DELETE FROM audit_events WHERE seq = 11", 11),
        ("DELETE FROM audit_events WHERE seq = 13", 13),
    ] {
        let db = TestDb::new().await;
        let store = keyed_store(&db).await;
        exec(&store, sql).await;
        let verdict = trail::verify(&store, None).await.expect("verify");
        assert_eq!(broken_at(&verdict), Some(seq), "{sql}: {verdict:?}");
    }
}

#[tokio::test]
async fn a_cut_tail_is_caught_by_the_head_row() {
    let db = TestDb::new().await;
    let store = chained_store(&db).await;
    exec(&store, "DELETE FROM request_records WHERE seq >= 9").await;
    let verdict = trail::verify(&store, None).await.expect("verify");
    assert_eq!(broken_at(&verdict), Some(9), "{verdict:?}");
}

#[tokio::test]
async fn a_cut_tail_with_a_rewritten_head_is_caught_by_a_checkpoint() {
    let db = TestDb::new().await;
    let store = chained_store(&db).await;
    let (private, _) = crate::checkpoint::key_pair_pem([5; 32]).expect("keys");
    let key = crate::checkpoint::signing_key_from_pem(&private).expect("key");
    let cp = trail::sign_checkpoint(&store, &key, 0)
        .await
        .expect("sign")
        .expect("cp");
    assert_eq!(cp.seq, 10);
    // Cut the last two rows and make the head row agree, frontier and all.
    let leaves: Vec<_> = trail::leaves(&store, 8)
        .await
        .expect("leaves")
        .into_iter()
        .map(|(_, h)| h)
        .collect();
    let frontier = Frontier::from_leaves(leaves);
    exec(&store, "DELETE FROM request_records WHERE seq >= 9").await;
    sqlx::query(
        "UPDATE chain_head SET seq = 8, frontier = $1, \
         hash = (SELECT hash FROM request_records WHERE seq = 8)",
    )
    .bind(frontier.to_bytes())
    .execute(store.pool())
    .await
    .expect("rewrite head");
    assert!(
        matches!(
            trail::verify(&store, None).await.expect("verify"),
            Verdict::Intact { events: 8, .. }
        ),
        "without a checkpoint, a consistent shorter trail looks whole"
    );
    let verdict = trail::verify(&store, Some((cp.seq, cp.head_hash().expect("head"))))
        .await
        .expect("verify");
    assert_eq!(broken_at(&verdict), Some(9), "{verdict:?}");
}

#[tokio::test]
async fn the_server_signs_checkpoints_of_its_own_head() {
    let db = TestDb::new().await;
    let store = chained_store(&db).await;
    let (private, public) = crate::checkpoint::key_pair_pem([5; 32]).expect("keys");
    let key = crate::checkpoint::signing_key_from_pem(&private).expect("key");
    let public = crate::checkpoint::verifying_key_from_pem(&public).expect("public");
    async fn root(store: &dyn RecordStore) -> crate::Hash {
        let l: Vec<_> = trail::leaves(store, i64::MAX)
            .await
            .expect("leaves")
            .into_iter()
            .map(|(_, h)| h)
            .collect();
        merkle::root(&l)
    }
    let cp = trail::sign_checkpoint(&store, &key, 0)
        .await
        .expect("sign")
        .expect("cp");
    assert_eq!((cp.seq, cp.tree_size), (10, 10));
    assert!(
        trail::sign_checkpoint(&store, &key, 10)
            .await
            .expect("sign")
            .is_none(),
        "nothing new"
    );
    assert_eq!(cp.root_hash(), Some(root(&store).await));
    // Appends after the first checkpoint keep the tree's edge current.
    store
        .append_records(&[record("r10", None), record("r11", None)])
        .await
        .expect("append");
    let cp = trail::sign_checkpoint(&store, &key, 10)
        .await
        .expect("sign")
        .expect("cp");
    assert_eq!((cp.seq, cp.tree_size), (12, 12));
    assert_eq!(cp.root_hash(), Some(root(&store).await));
    let text = serde_json::to_string(&cp).expect("json");
    let cp = crate::checkpoint::Checkpoint::verified(&text, &public).expect("signed");
    assert!(matches!(
        trail::verify(&store, Some((cp.seq, cp.head_hash().expect("head"))))
            .await
            .expect("verify"),
        Verdict::Intact { events: 12, .. }
    ));
    let kept: Vec<(i64, i64, String, String)> = sqlx::query_as(
        "SELECT seq, tree_size, root, checkpoint_json FROM audit_checkpoints ORDER BY seq",
    )
    .fetch_all(store.pool())
    .await
    .expect("checkpoints");
    assert_eq!(kept.len(), 2);
    assert_eq!(
        (kept[1].0, kept[1].1, kept[1].2.as_str()),
        (12, 12, cp.root.as_str())
    );
    assert_eq!(kept[1].3, text, "the signed document as published");
}
