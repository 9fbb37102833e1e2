//! Warden-issued keys, and the audit events their changes add to the chain
//! in the same transaction.

use warden_core::Actor;

use super::TestDb;
use crate::{EventFilter, KeyStore as _, RecordStore as _, StoredKey, trail};

#[tokio::test]
async fn keys_insert_find_revoke_with_their_events_in_the_chain() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let key = StoredKey {
        id: "k1".into(),
        key_hash: vec![1; 32],
        owner: "ci".into(),
        groups: vec!["ci".into(), "a,b".into()],
        models: Some(vec!["gpt-4o*".into()]),
        description: None,
        created_at_ms: 1,
        expires_at_ms: Some(2),
        revoked_at_ms: None,
    };
    let other = StoredKey {
        id: "k0".into(),
        models: None,
        groups: Vec::new(),
        description: Some("no models".into()),
        created_at_ms: 3,
        expires_at_ms: None,
        ..key.clone()
    };
    let alice = Actor {
        subject: Some("os:alice".into()),
        groups: vec!["admins".into()],
        ..Actor::default()
    };
    store.insert_key(&key, &alice).await.expect("insert");
    store
        .insert_key(&other, &Actor::default())
        .await
        .expect("insert");
    assert!(
        store.insert_key(&key, &alice).await.is_err(),
        "an id is unique"
    );
    assert_eq!(store.find_key("k1").await.expect("find"), Some(key.clone()));
    assert_eq!(store.find_key("nope").await.expect("find"), None);
    assert!(store.revoke_key("k1", 5, &alice).await.expect("revoke"));
    assert!(
        !store.revoke_key("k1", 6, &alice).await.expect("again"),
        "already revoked"
    );
    assert!(!store.revoke_key("nope", 6, &alice).await.expect("missing"));
    let found = store.find_key("k1").await.expect("find").expect("some");
    assert_eq!(found.revoked_at_ms, Some(5));
    let listed = store.list_keys().await.expect("list");
    assert_eq!(listed, [found, other], "oldest first");

    let events = store
        .list_events(&EventFilter {
            action_prefix: Some("key.".into()),
            ..Default::default()
        })
        .await
        .expect("events");
    let seen: Vec<(i64, &str, Option<&str>, Option<&str>)> = events
        .iter()
        .map(|(seq, e)| {
            (
                *seq,
                e.action.as_str(),
                e.target.as_deref(),
                e.actor.subject.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (3, "key.revoke", Some("k1"), Some("os:alice")),
            (2, "key.create", Some("k0"), None),
            (1, "key.create", Some("k1"), Some("os:alice")),
        ],
        "newest first; the failed insert and revokes recorded nothing"
    );
    let (_, created) = &events[2];
    assert_eq!(created.actor, alice);
    assert_eq!(
        created.detail.get("groups").map(String::as_str),
        Some(r#"["ci","a,b"]"#)
    );
    assert_eq!(
        created.detail.get("expires_at_ms").map(String::as_str),
        Some("2")
    );
    let recent = store
        .list_events(&EventFilter {
            action_prefix: Some("key.rev".into()),
            since_ms: Some(0),
            limit: Some(5),
            ..EventFilter::default()
        })
        .await
        .expect("events");
    assert_eq!(recent.len(), 1);
    assert!(
        store
            .list_events(&EventFilter {
                action_prefix: Some("ke%".into()),
                ..Default::default()
            })
            .await
            .expect("events")
            .is_empty(),
        "a prefix is text, not a pattern"
    );
    assert!(matches!(
        trail::verify(&store, None).await.expect("verify"),
        crate::chain::Verdict::Intact { events: 3, .. }
    ));
}
