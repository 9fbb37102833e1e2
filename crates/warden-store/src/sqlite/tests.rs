//! Against a real SQLite file in a temp dir.

use warden_core::{Decision, Outcome, PrincipalKind, RequestRecord, Usage};

use super::SqliteStore;
use crate::{KeyStore, RecordFilter, RecordStore, StoredKey};

fn record(id: &str, usage: Option<Usage>) -> RequestRecord {
    RequestRecord {
        request_id: id.into(),
        started_at_ms: 1_700_000_000_000,
        principal_kind: Some(PrincipalKind::User),
        subject: Some("alice".into()),
        issuer: Some("https://idp".into()),
        groups: vec!["eng".into(), "ops".into()],
        key_id: None,
        client_addr: Some("127.0.0.1:5000".into()),
        method: "POST".into(),
        path: "/v1/chat/completions".into(),
        endpoint: "chat.completions".into(),
        model: Some("gpt-4o".into()),
        connection: Some("openai".into()),
        stream: true,
        decision: Decision::Allow,
        reason: None,
        policy_ids: vec!["group:eng".into()],
        status: 200,
        outcome: Outcome::Completed,
        upstream_latency_us: Some(1500),
        total_latency_us: 2500,
        usage,
        cost_usd_micros: usage.map(|u| u.total_tokens * 3),
        findings: if usage.is_some() {
            vec![warden_core::FindingSummary {
                kind: "EMAIL".into(),
                action: "redact".into(),
                path: "messages[0].content".into(),
                count: 2,
            }]
        } else {
            Vec::new()
        },
    }
}

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
    store.insert_key(&key).await.expect("insert");
    assert_eq!(store.find_key("k1").await.expect("find"), Some(key.clone()));
    assert!(store.revoke_key("k1", 5).await.expect("revoke"));
    assert!(
        !store.revoke_key("k1", 6).await.expect("again"),
        "already revoked"
    );
    assert!(!store.revoke_key("nope", 6).await.expect("missing"));
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
