//! Against a real SQLite file in a temp dir.

use warden_core::{Actor, AuditEvent, RequestRecord, Usage};

use super::SqliteStore;
use crate::{KeyStore, RecordFilter, RecordStore, StoredKey};

use crate::test_records::record;

async fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("w.db"))
        .await
        .expect("open");
    (dir, store)
}

#[tokio::test]
async fn records_round_trip_in_order() {
    let (_dir, store) = store().await;
    let usage = Usage {
        input_tokens: 10,
        output_tokens: 5,
        total_tokens: 15,
        cached_tokens: 2,
    };
    let batch: Vec<_> = (0..700)
        .map(|i| record(&format!("req-{i}"), (i % 2 == 0).then_some(usage)))
        .collect();
    store.append_records(&batch).await.expect("append");
    let back = store
        .list_records(&RecordFilter {
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(back.len(), 700);
    assert_eq!(back[0], batch[699], "newest first, every field kept");
    assert_eq!(back[699], batch[0]);
}

#[tokio::test]
async fn a_failed_batch_writes_nothing() {
    let (_dir, store) = store().await;
    store
        .append_records(&[record("dup", None)])
        .await
        .expect("first");
    let err = store
        .append_records(&[record("new", None), record("dup", None)])
        .await;
    assert!(err.is_err(), "duplicate request id must fail the batch");
    let back = store
        .list_records(&RecordFilter::default())
        .await
        .expect("list");
    assert_eq!(back.len(), 1, "the batch is all or nothing");
    // The failed batch did not move the chain's head: the next one links on.
    store
        .append_records(&[record("after", None)])
        .await
        .expect("after");
    assert!(matches!(
        crate::trail::verify(&store, None).await.expect("verify"),
        crate::chain::Verdict::Intact { events: 2, .. }
    ));
}

#[tokio::test]
async fn keys_insert_find_revoke() {
    let (_dir, store) = store().await;
    let key = StoredKey {
        id: "k1".into(),
        key_hash: vec![1; 32],
        owner: "ci".into(),
        groups: vec!["ci".into()],
        models: Some(vec!["gpt-4o*".into()]),
        description: None,
        created_at_ms: 1,
        expires_at_ms: Some(2),
        revoked_at_ms: None,
    };
    store
        .insert_key(&key, &Actor::default())
        .await
        .expect("insert");
    assert_eq!(store.find_key("k1").await.expect("find"), Some(key.clone()));
    assert!(
        store
            .revoke_key("k1", 5, &Actor::default())
            .await
            .expect("revoke")
    );
    assert!(
        !store
            .revoke_key("k1", 6, &Actor::default())
            .await
            .expect("again"),
        "already revoked"
    );
    assert!(
        !store
            .revoke_key("nope", 6, &Actor::default())
            .await
            .expect("missing")
    );
    let found = store.find_key("k1").await.expect("find").expect("some");
    assert_eq!(found.revoked_at_ms, Some(5));
    assert_eq!(store.list_keys().await.expect("list").len(), 1);
}

#[tokio::test]
async fn usage_sums_by_user_group_and_model() {
    let (_dir, store) = store().await;
    let usage = Usage {
        input_tokens: 10,
        output_tokens: 5,
        total_tokens: 15,
        cached_tokens: 0,
    };
    let mut batch: Vec<_> = (0..3)
        .map(|i| record(&format!("r{i}"), Some(usage)))
        .collect();
    batch[2].subject = Some("bob".into());
    batch[2].groups = vec!["interns".into()];
    batch[2].model = Some("gpt-4o-mini".into());
    let mut old = record("old", Some(usage));
    old.started_at_ms = 1;
    batch.push(old);
    store.append_records(&batch).await.expect("append");
    let since = 1_000;
    let by_user = store
        .usage(crate::UsageBy::User, since)
        .await
        .expect("usage");
    assert_eq!(by_user.len(), 2);
    assert_eq!((by_user[0].key.as_str(), by_user[0].requests), ("alice", 2));
    assert_eq!(by_user[0].input_tokens, 20);
    assert_eq!(
        by_user[0].cost_usd_micros, 90,
        "15 tokens * 3 each, twice; the old row left out"
    );
    let by_group = store
        .usage(crate::UsageBy::Group, since)
        .await
        .expect("usage");
    let groups: Vec<(&str, u64)> = by_group
        .iter()
        .map(|r| (r.key.as_str(), r.requests))
        .collect();
    assert!(
        groups.contains(&("eng", 2))
            && groups.contains(&("ops", 2))
            && groups.contains(&("interns", 1))
    );
    let by_model = store
        .usage(crate::UsageBy::Model, since)
        .await
        .expect("usage");
    assert_eq!(by_model.len(), 2);
}

/// Ten chained records, written in three batches, across a reopen (the
/// head is read back from the file).
async fn chained_store() -> (tempfile::TempDir, SqliteStore) {
    let (dir, store) = store().await;
    let usage = Usage {
        input_tokens: 10,
        output_tokens: 5,
        total_tokens: 15,
        cached_tokens: 0,
    };
    let batch = |from: usize, to: usize| -> Vec<RequestRecord> {
        (from..to)
            .map(|i| record(&format!("r{i}"), (i % 2 == 0).then_some(usage)))
            .collect()
    };
    store.append_records(&batch(0, 4)).await.expect("append");
    store.append_records(&batch(4, 7)).await.expect("append");
    drop(store);
    let store = SqliteStore::open(&dir.path().join("w.db"))
        .await
        .expect("reopen");
    store.append_records(&batch(7, 10)).await.expect("append");
    (dir, store)
}

async fn exec(store: &SqliteStore, sql: &'static str) {
    sqlx::query(sql)
        .execute(store.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

fn broken_at(v: &crate::chain::Verdict) -> Option<i64> {
    match v {
        crate::chain::Verdict::Broken { seq, .. } => Some(*seq),
        crate::chain::Verdict::Intact { .. } => None,
    }
}

#[tokio::test]
async fn an_untouched_chain_verifies() {
    let (_dir, store) = chained_store().await;
    match crate::trail::verify(&store, None).await.expect("verify") {
        crate::chain::Verdict::Intact {
            events,
            unchained,
            head,
        } => {
            assert_eq!((events, unchained), (10, 0));
            assert_eq!(head.map(|(seq, _)| seq), Some(10));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn edits_deletions_insertions_and_reordering_are_caught_at_the_right_row() {
    // (tampering, the first sequence number that must fail)
    let cases: [(&'static str, i64); 8] = [
        (
            "UPDATE request_records SET subject = 'mallory' WHERE seq = 4",
            4,
        ),
        (
            "UPDATE request_records SET status = 200, outcome = 'completed', total_tokens = 1 WHERE seq = 6",
            6,
        ),
        // Deletions are named at the first seq that is gone.
        ("DELETE FROM request_records WHERE seq = 5", 5),
        ("DELETE FROM request_records WHERE seq >= 3 AND seq <= 4", 3),
        ("DELETE FROM request_records WHERE seq = 1", 1),
        // A forged row appended after the last, with a made-up hash.
        (
            "INSERT INTO request_records (seq, request_id, started_at_ms, groups_json, method, path, endpoint, stream, decision, policy_ids_json, status, outcome, total_latency_us, prev_hash, hash) \
          SELECT 11, 'forged', started_at_ms, groups_json, method, path, endpoint, stream, decision, policy_ids_json, status, outcome, total_latency_us, hash, hash FROM request_records WHERE seq = 10",
            11,
        ),
        // A row moved to the front: it is read first, and its link is wrong.
        ("UPDATE request_records SET seq = -3 WHERE seq = 3", -3),
        (
            "UPDATE request_records SET hash = NULL, prev_hash = NULL WHERE seq = 8",
            8,
        ),
    ];
    for (sql, seq) in cases {
        let (_dir, store) = chained_store().await;
        exec(&store, sql).await;
        let verdict = crate::trail::verify(&store, None).await.expect("verify");
        assert_eq!(broken_at(&verdict), Some(seq), "{sql}: {verdict:?}");
    }
}

#[tokio::test]
async fn swapped_rows_are_caught() {
    let (_dir, store) = chained_store().await;
    // Move row 3 to 99, row 4 to 3, then row 99 to 4: a reorder.
    exec(&store, "UPDATE request_records SET seq = 99 WHERE seq = 3").await;
    exec(&store, "UPDATE request_records SET seq = 3 WHERE seq = 4").await;
    exec(&store, "UPDATE request_records SET seq = 4 WHERE seq = 99").await;
    let verdict = crate::trail::verify(&store, None).await.expect("verify");
    assert_eq!(broken_at(&verdict), Some(3), "{verdict:?}");
}

#[tokio::test]
async fn the_server_signs_checkpoints_of_its_own_head() {
    let (dir, store) = chained_store().await;
    let (private, public) = crate::checkpoint::key_pair_pem([5; 32]).expect("keys");
    let key = crate::checkpoint::signing_key_from_pem(&private).expect("key");
    let public = crate::checkpoint::verifying_key_from_pem(&public).expect("public");
    let leaves = |store: SqliteStore| async move {
        let l: Vec<_> = crate::trail::leaves(&store, i64::MAX)
            .await
            .expect("leaves")
            .into_iter()
            .map(|(_, h)| h)
            .collect();
        crate::merkle::root(&l)
    };
    let cp = crate::trail::sign_checkpoint(&store, &key, 0)
        .await
        .expect("sign")
        .expect("cp");
    assert_eq!((cp.seq, cp.tree_size), (10, 10));
    assert!(
        crate::trail::sign_checkpoint(&store, &key, 10)
            .await
            .expect("sign")
            .is_none(),
        "nothing new"
    );
    assert_eq!(cp.root_hash(), Some(leaves(store.clone()).await));
    // Appends after the first checkpoint keep the tree's edge current.
    store
        .append_records(&[record("r10", None), record("r11", None)])
        .await
        .expect("append");
    let cp = crate::trail::sign_checkpoint(&store, &key, 10)
        .await
        .expect("sign")
        .expect("cp");
    assert_eq!((cp.seq, cp.tree_size), (12, 12));
    assert_eq!(cp.root_hash(), Some(leaves(store.clone()).await));
    let text = serde_json::to_string(&cp).expect("json");
    let cp = crate::checkpoint::Checkpoint::verified(&text, &public).expect("signed");
    assert!(matches!(
        crate::trail::verify(&store, Some((cp.seq, cp.head_hash().expect("head"))))
            .await
            .expect("verify"),
        crate::chain::Verdict::Intact { events: 12, .. }
    ));
    let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_checkpoints")
        .fetch_one(store.pool())
        .await
        .expect("count");
    assert_eq!(kept, 2);
    drop(dir);
}

#[tokio::test]
async fn audit_events_share_the_chain_and_are_caught_when_edited() {
    let (_dir, store) = chained_store().await;
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
    assert!(!store.revoke_key("k1", 6, &alice).await.expect("again"));
    let events = store
        .list_events(&crate::EventFilter {
            action_prefix: Some("key.".into()),
            ..Default::default()
        })
        .await
        .expect("events");
    let seen: Vec<(i64, &str, Option<&str>)> = events
        .iter()
        .map(|(seq, e)| (*seq, e.action.as_str(), e.actor.subject.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [
            (13, "key.revoke", Some("os:alice")),
            (11, "key.create", Some("os:alice"))
        ]
    );
    match crate::trail::verify(&store, None).await.expect("verify") {
        crate::chain::Verdict::Intact { events, head, .. } => {
            assert_eq!((events, head.map(|h| h.0)), (13, Some(13)));
        }
        other => panic!("{other:?}"),
    }
    exec(
        &store,
        "UPDATE audit_events SET subject = 'os:bob' WHERE seq = 11",
    )
    .await;
    let verdict = crate::trail::verify(&store, None).await.expect("verify");
    assert_eq!(broken_at(&verdict), Some(11), "{verdict:?}");
}

#[tokio::test]
async fn a_cut_tail_is_caught_by_the_head_row() {
    let (_dir, store) = chained_store().await;
    exec(&store, "DELETE FROM request_records WHERE seq >= 9").await;
    let verdict = crate::trail::verify(&store, None).await.expect("verify");
    assert_eq!(broken_at(&verdict), Some(9), "{verdict:?}");
}

#[tokio::test]
async fn two_processes_appending_to_one_file_keep_one_chain() {
    let (dir, a) = store().await;
    let b = SqliteStore::open(&dir.path().join("w.db"))
        .await
        .expect("second opener");
    let write = |s: SqliteStore, tag: &'static str| {
        tokio::spawn(async move {
            for i in 0..20 {
                s.append_records(&[record(&format!("{tag}{i}"), None)])
                    .await
                    .expect("append");
                let e = AuditEvent::new("test.event", Actor::default(), Some(format!("{tag}{i}")));
                s.append(&[crate::Entry::Event(e)]).await.expect("event");
            }
        })
    };
    let (x, y) = (write(a.clone(), "a"), write(b.clone(), "b"));
    x.await.expect("a");
    y.await.expect("b");
    match crate::trail::verify(&a, None).await.expect("verify") {
        crate::chain::Verdict::Intact { events, .. } => assert_eq!(events, 80),
        other => panic!("{other:?}"),
    }
    let head = a.chain_head().await.expect("head");
    assert_eq!((head.seq, head.frontier.size()), (80, 80));
}

#[tokio::test]
async fn pruning_to_a_checkpoint_keeps_the_rest_verifiable() {
    let (_dir, store) = chained_store().await;
    let (private, _) = crate::checkpoint::key_pair_pem([7; 32]).expect("keys");
    let key = crate::checkpoint::signing_key_from_pem(&private).expect("key");
    assert!(
        crate::trail::prune(&store, i64::MAX)
            .await
            .expect("prune")
            .is_none(),
        "no checkpoint, nothing to prune"
    );
    let cp = crate::trail::sign_checkpoint(&store, &key, 0)
        .await
        .expect("sign")
        .expect("cp");
    assert_eq!(cp.seq, 10);
    store
        .append_records(&[record("r10", None), record("r11", None)])
        .await
        .expect("append");
    // A cutoff before the checkpoint was signed prunes nothing.
    assert!(
        crate::trail::prune(&store, cp.time_ms)
            .await
            .expect("prune")
            .is_none()
    );
    let (anchor, pruned) = crate::trail::prune(&store, cp.time_ms + 1)
        .await
        .expect("prune")
        .expect("pruned");
    assert_eq!((anchor.seq, pruned), (10, 10));
    assert!(
        crate::trail::prune(&store, i64::MAX)
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
    match crate::trail::verify(&store, None).await.expect("verify") {
        crate::chain::Verdict::Intact { events, head, .. } => {
            assert_eq!((events, head.map(|h| h.0)), (2, Some(12)));
        }
        other => panic!("{other:?}"),
    }
    // The kept rows are still held to the chain: an edit, or deleting the
    // first kept row, is caught.
    exec(&store, "DELETE FROM request_records WHERE seq = 11").await;
    let verdict = crate::trail::verify(&store, None).await.expect("verify");
    assert_eq!(broken_at(&verdict), Some(11), "{verdict:?}");
}

#[tokio::test]
async fn a_broken_trail_is_not_pruned() {
    let (_dir, store) = chained_store().await;
    let (private, _) = crate::checkpoint::key_pair_pem([8; 32]).expect("keys");
    let key = crate::checkpoint::signing_key_from_pem(&private).expect("key");
    let cp = crate::trail::sign_checkpoint(&store, &key, 0)
        .await
        .expect("sign")
        .expect("cp");
    exec(
        &store,
        "UPDATE request_records SET subject = 'mallory' WHERE seq = 3",
    )
    .await;
    let err = crate::trail::prune(&store, cp.time_ms + 1)
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("broken at seq 3"), "{err}");
    let all = store
        .list_records(&RecordFilter::default())
        .await
        .expect("list");
    assert_eq!(all.len(), 10, "the evidence stays");
}

#[tokio::test]
async fn the_anchor_holds_against_late_prunes_and_old_checkpoints() {
    let (_dir, store) = chained_store().await;
    let (private, _) = crate::checkpoint::key_pair_pem([9; 32]).expect("keys");
    let key = crate::checkpoint::signing_key_from_pem(&private).expect("key");
    crate::test_records::anchor_holds_against_late_prunes_and_old_checkpoints(&store, &key).await;
}

#[tokio::test]
async fn trace_spans_join_calls_to_their_session() {
    let (_dir, store) = store().await;
    crate::test_records::trace_spans_join_calls_to_their_session(&store).await;
}

#[tokio::test]
async fn bodies_are_checked_against_their_records_and_pruned_with_them() {
    let (_dir, store) = store().await;
    crate::test_records::bodies_round_trip_and_are_checked(&store).await;
    sqlx::query(
        "UPDATE request_bodies SET chunk_us = '[120,4000,9001]' WHERE request_id = 'b-good'",
    )
    .execute(&store.pool)
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
    let (_dir, store) = store().await;
    crate::test_records::approvals_and_grants(&store).await;
}
