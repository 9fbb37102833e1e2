//! What is read back from the records: usage summaries, sessions and the
//! owners of Responses API objects.

use warden_core::Usage;

use super::{TestDb, USAGE, record};
use crate::{Owner, RecordStore as _, SessionRow, UsageBy, UsageRow};

#[tokio::test]
async fn usage_sums_by_user_group_model_and_key() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let usage = Usage {
        cached_tokens: 0,
        ..USAGE
    };
    let mut batch: Vec<_> = (0..3)
        .map(|i| record(&format!("r{i}"), Some(usage)))
        .collect();
    batch[2].subject = Some("bob".into());
    batch[2].groups = vec!["interns".into()];
    batch[2].model = Some("gpt-4o-mini".into());
    batch[2].key_id = Some("wk_1".into());
    let mut old = record("old", Some(usage));
    old.started_at_ms = 1;
    batch.push(old);
    // No usage and no cost: counted, but below every costed row.
    let mut anonymous = record("anon", None);
    anonymous.subject = None;
    anonymous.model = None;
    anonymous.groups = Vec::new();
    batch.push(anonymous);
    store.append_records(&batch).await.expect("append");
    let since = 1_000;
    let rows = |rows: Vec<UsageRow>| -> Vec<(String, u64, u64, u64, u64)> {
        rows.into_iter()
            .map(|r| {
                (
                    r.key,
                    r.requests,
                    r.input_tokens,
                    r.output_tokens,
                    r.cost_usd_micros,
                )
            })
            .collect()
    };
    let by_user = rows(store.usage(UsageBy::User, since).await.expect("usage"));
    assert_eq!(
        by_user,
        [
            ("alice".into(), 2, 20, 10, 90),
            ("bob".into(), 1, 10, 5, 45),
            ("(unauthenticated)".into(), 1, 0, 0, 0),
        ],
        "most expensive first, no cost last; the old row left out"
    );
    let by_group = rows(store.usage(UsageBy::Group, since).await.expect("usage"));
    assert_eq!(
        by_group,
        [
            ("eng".into(), 2, 20, 10, 90),
            ("ops".into(), 2, 20, 10, 90),
            ("interns".into(), 1, 10, 5, 45),
        ],
        "a call counts once per group; ties in key order"
    );
    let by_model = rows(store.usage(UsageBy::Model, since).await.expect("usage"));
    assert_eq!(
        by_model,
        [
            ("gpt-4o".into(), 2, 20, 10, 90),
            ("gpt-4o-mini".into(), 1, 10, 5, 45),
            ("(none)".into(), 1, 0, 0, 0),
        ]
    );
    let by_key = rows(store.usage(UsageBy::Key, since).await.expect("usage"));
    assert_eq!(
        by_key,
        [("wk_1".into(), 1, 10, 5, 45)],
        "token calls left out"
    );
    assert!(
        store
            .usage(UsageBy::User, i64::MAX)
            .await
            .expect("usage")
            .is_empty()
    );
}

#[tokio::test]
async fn sessions_and_response_owners() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let mut a1 = record("a1", Some(USAGE));
    a1.session_id = Some("sa".into());
    let mut a2 = record("a2", Some(USAGE));
    a2.session_id = Some("sa".into());
    a2.started_at_ms += 10;
    a2.response_id = Some("resp_a1".into());
    let mut b1 = record("b1", Some(USAGE));
    b1.session_id = Some("sb".into());
    b1.subject = Some("bob".into());
    b1.issuer = None;
    b1.started_at_ms += 20;
    let mut old = record("old", Some(USAGE));
    old.session_id = Some("sold".into());
    old.started_at_ms = 5;
    let none = record("none", None);
    store
        .append_records(&[a1, a2, b1, old, none])
        .await
        .expect("append");
    let sessions = store.sessions(1_000).await.expect("sessions");
    let t = 1_700_000_000_000;
    assert_eq!(
        sessions,
        [
            SessionRow {
                id: "sb".into(),
                calls: 1,
                first_ms: t + 20,
                last_ms: t + 20,
                subject: Some("bob".into()),
                input_tokens: 10,
                output_tokens: 5,
                cost_usd_micros: 45,
            },
            SessionRow {
                id: "sa".into(),
                calls: 2,
                first_ms: t,
                last_ms: t + 10,
                subject: Some("alice".into()),
                input_tokens: 20,
                output_tokens: 10,
                cost_usd_micros: 90,
            },
        ],
        "most recent first; calls without a session and old ones left out"
    );
    // The first call that named the response owns it.
    let (owner, session) = store
        .response_owner("resp_a1")
        .await
        .expect("owner")
        .expect("recorded");
    assert_eq!(
        (
            owner.issuer.as_deref(),
            owner.subject.as_deref(),
            session.as_deref()
        ),
        (Some("https://idp"), Some("alice"), Some("sa"))
    );
    let (owner, _) = store
        .response_owner("resp_b1")
        .await
        .expect("owner")
        .expect("recorded");
    assert_eq!(
        owner,
        Owner {
            issuer: None,
            subject: Some("bob".into())
        }
    );
    assert_eq!(
        store.response_owner("resp_none").await.expect("owner"),
        None
    );
}
