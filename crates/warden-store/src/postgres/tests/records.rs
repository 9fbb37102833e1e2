//! Request records and events in, the same values out: every field, in
//! order, in batches larger than one statement may bind; a batch that fails
//! leaves nothing behind; values that mean nothing do not decode.

use warden_core::{
    Actor, AuditEvent, Decision, FindingSummary, Outcome, PrincipalKind, RequestRecord, Usage,
};

use super::{TestDb, USAGE, exec, record};
use crate::{Entry, EventFilter, KeyStore as _, RecordFilter, RecordStore as _, StoreError, trail};

/// Every field away from its usual value, lists that are awkward for
/// PostgreSQL's array syntax, and the largest counts a column holds.
fn unusual(i: usize) -> RequestRecord {
    let mut r = record(&format!("odd-{i}"), Some(USAGE));
    r.principal_kind = [
        None,
        Some(PrincipalKind::Key),
        Some(PrincipalKind::Workload),
    ][i % 3];
    r.subject = None;
    r.issuer = None;
    r.groups = match i % 3 {
        0 => Vec::new(),
        1 => vec![
            "a,b".into(),
            "{x}".into(),
            "\"q\"".into(),
            "NULL".into(),
            "é ü".into(),
        ],
        _ => vec![String::new(), "  spaced  ".into(), "back\\slash".into()],
    };
    r.key_id = Some(format!("wk_{i}"));
    r.client_addr = None;
    r.model = None;
    r.connection = None;
    r.stream = false;
    r.decision = Decision::Deny;
    r.reason = Some("model_not_allowed".into());
    r.policy_ids = Vec::new();
    r.status = 499;
    r.outcome = [
        Outcome::Refused,
        Outcome::UpstreamBroken,
        Outcome::ClientGone,
    ][i % 3];
    r.upstream_latency_us = None;
    r.total_latency_us = u64::try_from(i64::MAX).expect("fits");
    r.usage = Some(Usage {
        input_tokens: 0,
        output_tokens: u64::try_from(i64::MAX).expect("fits"),
        total_tokens: 1,
        cached_tokens: 0,
    });
    r.cost_usd_micros = Some(0);
    r.findings = vec![
        FindingSummary {
            kind: "PHONE".into(),
            action: "block".into(),
            path: "input[3].content[0].text".into(),
            count: u64::MAX,
        },
        FindingSummary {
            kind: "EMAIL".into(),
            action: "redact".into(),
            path: "messages[0].content".into(),
            count: 1,
        },
    ];
    r.response_id = None;
    r.session_id = Some(format!("sess-{i}"));
    r
}

fn all(limit: u32) -> RecordFilter {
    RecordFilter {
        limit: Some(limit),
        ..Default::default()
    }
}

#[tokio::test]
async fn records_round_trip_in_order() {
    let db = TestDb::new().await;
    let store = db.store().await;
    // More rows than one INSERT may bind (2047 records per statement).
    let batch: Vec<_> = (0..4500)
        .map(|i| match i % 5 {
            0 => unusual(i),
            n => record(&format!("req-{i}"), (n % 2 == 0).then_some(USAGE)),
        })
        .collect();
    store.append_records(&batch).await.expect("append");
    let back = store.list_records(&all(5000)).await.expect("list");
    assert_eq!(back.len(), 4500);
    let newest_first: Vec<_> = batch.iter().rev().cloned().collect();
    assert!(back == newest_first, "newest first, every field kept");
    assert_eq!(back[4499], batch[0]);
    assert_eq!(
        store
            .list_records(&RecordFilter::default())
            .await
            .expect("list")
            .len(),
        1000,
        "the default limit"
    );
    let filtered = store
        .list_records(&RecordFilter {
            session_id: Some("sess-5".into()),
            ..Default::default()
        })
        .await
        .expect("by session");
    assert_eq!(filtered, [batch[5].clone()]);
    let alice = store
        .list_records(&RecordFilter {
            subject: Some("alice".into()),
            limit: Some(3),
            ..Default::default()
        })
        .await
        .expect("by subject");
    let ids: Vec<&str> = alice.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(ids, ["req-4499", "req-4498", "req-4497"]);
    assert!(matches!(
        trail::verify(&store, None).await.expect("verify"),
        crate::chain::Verdict::Intact { events: 4500, .. }
    ));
}

#[tokio::test]
async fn a_failed_batch_writes_nothing() {
    let db = TestDb::new().await;
    let store = db.store().await;
    store
        .append_records(&[record("dup", None)])
        .await
        .expect("first");
    let head = store.chain_head().await.expect("head");
    let err = store
        .append_records(&[record("new", None), record("dup", None)])
        .await;
    assert!(err.is_err(), "duplicate request id must fail the batch");
    let back = store
        .list_records(&RecordFilter::default())
        .await
        .expect("list");
    assert_eq!(back.len(), 1, "the batch is all or nothing");
    assert_eq!(
        store.chain_head().await.expect("head"),
        head,
        "head unmoved"
    );
    // The failed batch did not move the chain's head: the next one links on.
    store
        .append_records(&[record("after", None)])
        .await
        .expect("after");
    assert!(matches!(
        trail::verify(&store, None).await.expect("verify"),
        crate::chain::Verdict::Intact { events: 2, .. }
    ));
}

#[tokio::test]
async fn text_postgresql_cannot_hold_fails_the_whole_batch() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let mut nul = record("nul", None);
    nul.model = Some("gpt\0".into());
    let err = store.append_records(&[record("fine", None), nul]).await;
    assert!(matches!(err, Err(StoreError::Database(_))), "{err:?}");
    assert_eq!(store.chain_head().await.expect("head").seq, 0);
    assert!(store.list_records(&all(10)).await.expect("list").is_empty());
}

#[tokio::test]
async fn event_batches_are_split_under_the_bind_limit() {
    let db = TestDb::new().await;
    let store = db.store().await;
    // 4681 events fit one INSERT; interleaved with records, in one append.
    let entries: Vec<Entry> = (0..5000)
        .map(|i| {
            if i % 10 == 0 {
                Entry::Request(record(&format!("r{i}"), Some(USAGE)))
            } else {
                let e = AuditEvent::new("test.bulk", Actor::warden(), Some(format!("t{i}")))
                    .with("n", i.to_string());
                Entry::Event(e)
            }
        })
        .collect();
    store.append(&entries).await.expect("append");
    let rows = trail::rows(&store, 0, 6000).await.expect("rows");
    let back: Vec<_> = rows.into_iter().map(|r| r.entry).collect();
    assert!(back == entries, "every entry back in order");
    let events = store
        .list_events(&EventFilter {
            action_prefix: Some("test.".into()),
            limit: Some(10_000),
            ..Default::default()
        })
        .await
        .expect("events");
    assert_eq!(events.len(), 4500);
}

#[tokio::test]
async fn values_with_no_meaning_do_not_decode() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let cases = [
        "UPDATE request_records SET decision = 'maybe'",
        "UPDATE request_records SET principal_kind = 'robot'",
        "UPDATE request_records SET outcome = 'fine'",
        "UPDATE request_records SET input_tokens = -1",
        "UPDATE request_records SET cached_tokens = NULL",
        "UPDATE request_records SET status = 70000",
        "UPDATE request_records SET groups = ARRAY['eng', NULL]",
        "UPDATE request_records SET findings = '{\"kind\": \"EMAIL\"}'",
    ];
    for (i, sql) in cases.into_iter().enumerate() {
        exec(&store, "DELETE FROM request_records").await;
        store
            .append_records(&[record(&format!("r{i}"), Some(USAGE))])
            .await
            .expect("append");
        exec(&store, sql).await;
        let got = store.list_records(&all(10)).await;
        assert!(matches!(got, Err(StoreError::Corrupt(_))), "{sql}: {got:?}");
    }
    let bad_key = "INSERT INTO api_keys (id, key_hash, owner, groups, created_at_ms) \
                   VALUES ('bad', '\\x01', 'x', ARRAY[NULL]::text[], 1)";
    exec(&store, bad_key).await;
    let got = store.find_key("bad").await;
    assert!(matches!(got, Err(StoreError::Corrupt(_))), "{got:?}");
    exec(&store, "UPDATE chain_head SET frontier = '\\x00'").await;
    let got = store.chain_head().await;
    assert!(matches!(got, Err(StoreError::Corrupt(_))), "{got:?}");
}
