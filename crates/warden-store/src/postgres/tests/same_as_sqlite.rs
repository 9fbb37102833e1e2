//! The same entries appended to both stores read back the same: the same
//! chain (head hash, Merkle edge), records, events, usage, sessions and
//! owners, in the same order.

use std::collections::BTreeMap;

use warden_core::{Actor, AuditEvent, PrincipalKind, RequestRecord, Usage};

use super::{TestDb, record};
use crate::{Entry, EventFilter, RecordFilter, RecordStore, SqliteStore, UsageBy, trail};

fn entry(i: usize) -> Entry {
    if i % 7 == 3 {
        return Entry::Event(AuditEvent {
            event_id: format!("evt_{i}"),
            time_ms: 1_700_000_000_000 + i64::try_from(i).expect("fits"),
            action: ["key.create", "key.revoke", "server.start"][i % 3].into(),
            actor: Actor {
                subject: Some(format!("os:user{}", i % 2)),
                issuer: None,
                groups: vec!["admins".into()],
                key_id: None,
                client_addr: Some("10.0.0.1:1".into()),
            },
            target: Some(format!("k{i}")),
            status: "ok".into(),
            detail: BTreeMap::from([("n".to_owned(), i.to_string())]),
            session_id: i.is_multiple_of(2).then(|| format!("s{}", i % 4)),
            response_id: i.is_multiple_of(4).then(|| format!("resp_{i}")),
        });
    }
    let tokens = u64::try_from(i).expect("fits") * 10 + 1;
    let usage = (i % 4 != 3).then_some(Usage {
        input_tokens: tokens,
        output_tokens: tokens / 2,
        total_tokens: tokens + tokens / 2,
        cached_tokens: 0,
    });
    let mut r: RequestRecord = record(&format!("r{i}"), usage);
    r.started_at_ms += i64::try_from(i).expect("fits");
    r.subject = [Some("alice"), Some("bob"), Some("carol"), None][i % 4].map(str::to_owned);
    r.model = [Some("gpt-4o"), Some("gpt-4o-mini"), None][i % 3].map(str::to_owned);
    r.groups = match i % 3 {
        0 => vec!["eng".into()],
        1 => vec!["eng".into(), "ops".into()],
        _ => Vec::new(),
    };
    if i.is_multiple_of(5) {
        r.key_id = Some(format!("wk_{}", i % 2));
        r.principal_kind = Some(PrincipalKind::Key);
    }
    r.session_id = (i % 6 < 4).then(|| format!("s{}", i % 9));
    r.response_id = (i % 8 == 1).then(|| format!("resp_{}", i % 16));
    Entry::Request(r)
}

#[tokio::test]
async fn both_stores_read_back_the_same() {
    let db = TestDb::new().await;
    let pg = db.store().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let lite = SqliteStore::open(&dir.path().join("w.db"))
        .await
        .expect("sqlite");
    let entries: Vec<Entry> = (0..400).map(entry).collect();
    for batch in entries.chunks(37) {
        pg.append(batch).await.expect("pg append");
        lite.append(batch).await.expect("sqlite append");
    }
    let stores: [&dyn RecordStore; 2] = [&pg, &lite];
    let [p, s] = stores;

    assert_eq!(
        p.chain_head().await.expect("head"),
        s.chain_head().await.expect("head"),
        "one encoding, one chain"
    );
    assert_eq!(
        trail::verify(p, None).await.expect("verify"),
        trail::verify(s, None).await.expect("verify")
    );
    assert_eq!(
        trail::leaves(p, i64::MAX).await.expect("leaves"),
        trail::leaves(s, i64::MAX).await.expect("leaves")
    );
    let filters = [
        RecordFilter {
            limit: Some(500),
            ..Default::default()
        },
        RecordFilter {
            subject: Some("bob".into()),
            since_ms: Some(1_700_000_000_100),
            ..Default::default()
        },
        RecordFilter {
            session_id: Some("s2".into()),
            limit: Some(5),
            ..Default::default()
        },
    ];
    for filter in &filters {
        let mine = p.list_records(filter).await.expect("list");
        assert!(!mine.is_empty(), "{filter:?}");
        assert!(
            mine == s.list_records(filter).await.expect("list"),
            "{filter:?}"
        );
    }
    for filter in [
        EventFilter::default(),
        EventFilter {
            action_prefix: Some("key.".into()),
            since_ms: Some(1_700_000_000_050),
            limit: Some(7),
            ..EventFilter::default()
        },
        EventFilter {
            session_id: Some("s2".into()),
            ..EventFilter::default()
        },
        EventFilter {
            target: Some("k4".into()),
            ..EventFilter::default()
        },
    ] {
        assert_eq!(
            p.list_events(&filter).await.expect("events"),
            s.list_events(&filter).await.expect("events"),
            "{filter:?}"
        );
    }
    for by in [UsageBy::User, UsageBy::Group, UsageBy::Model, UsageBy::Key] {
        for since in [0, 1_700_000_000_200] {
            let mine = p.usage(by, since).await.expect("usage");
            assert!(!mine.is_empty(), "{by:?}");
            assert_eq!(
                mine,
                s.usage(by, since).await.expect("usage"),
                "{by:?} {since}"
            );
        }
    }
    for since in [0, 1_700_000_000_300] {
        assert_eq!(
            p.sessions(since).await.expect("sessions"),
            s.sessions(since).await.expect("sessions")
        );
    }
    for id in ["resp_1", "resp_9", "resp_2"] {
        assert_eq!(
            p.response_owner(id).await.expect("owner"),
            s.response_owner(id).await.expect("owner"),
            "{id}"
        );
    }

    // Pruning both to one checkpoint (of the same head) leaves the same.
    let (private, _) = crate::checkpoint::key_pair_pem([3; 32]).expect("keys");
    let key = crate::checkpoint::signing_key_from_pem(&private).expect("key");
    let cp = trail::sign_checkpoint(p, &key, 0)
        .await
        .expect("sign")
        .expect("cp");
    s.save_checkpoint(&cp).await.expect("save");
    let again: Vec<Entry> = entries.iter().step_by(17).cloned().map(renamed).collect();
    pg.append(&again).await.expect("pg append");
    lite.append(&again).await.expect("sqlite append");
    let cutoff = cp.time_ms + 1;
    let (_, pg_pruned) = trail::prune(p, cutoff).await.expect("prune").expect("pg");
    let (_, lite_pruned) = trail::prune(s, cutoff)
        .await
        .expect("prune")
        .expect("sqlite");
    assert_eq!((pg_pruned, lite_pruned), (400, 400));
    assert_eq!(
        p.anchor().await.expect("anchor"),
        s.anchor().await.expect("anchor")
    );
    assert_eq!(
        p.chain_head().await.expect("head"),
        s.chain_head().await.expect("head")
    );
    let verdict = trail::verify(p, None).await.expect("verify");
    assert!(
        matches!(verdict, crate::chain::Verdict::Intact { events: 24, .. }),
        "{verdict:?}"
    );
    assert_eq!(verdict, trail::verify(s, None).await.expect("verify"));
    let filter = RecordFilter::default();
    assert!(
        p.list_records(&filter).await.expect("list")
            == s.list_records(&filter).await.expect("list")
    );
}

/// The entry again, under new ids (appended after the checkpoint).
fn renamed(entry: Entry) -> Entry {
    match entry {
        Entry::Request(mut r) => {
            r.request_id = format!("again-{}", r.request_id);
            Entry::Request(r)
        }
        Entry::Event(mut e) => {
            e.event_id = format!("again-{}", e.event_id);
            Entry::Event(e)
        }
    }
}
