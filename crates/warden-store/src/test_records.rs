//! The request record both stores' tests append (so both are held to the
//! same data).

use warden_core::{Decision, FindingSummary, Outcome, PrincipalKind, RequestRecord, Usage};

pub(crate) fn record(id: &str, usage: Option<Usage>) -> RequestRecord {
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
            vec![FindingSummary {
                kind: "EMAIL".into(),
                action: "redact".into(),
                path: "messages[0].content".into(),
                count: 2,
            }]
        } else {
            Vec::new()
        },
        response_id: usage.map(|_| format!("resp_{id}")),
        session_id: usage.map(|_| "s1".to_owned()),
        ttft_us: usage.map(|_| 812),
        chunks: usage.map(|_| 31),
    }
}

/// Both stores: pruning never moves the anchor back, and a checkpoint at or
/// before the anchor is not taken as "matched" unchecked. `store` holds at
/// least 4 chained records; `key` signs checkpoints.
pub(crate) async fn anchor_holds_against_late_prunes_and_old_checkpoints(
    store: &dyn crate::RecordStore,
    key: &ed25519_dalek::SigningKey,
) {
    use crate::chain::Verdict;
    use crate::trail;
    let early = trail::sign_checkpoint(store, key, 0)
        .await
        .expect("sign")
        .expect("cp");
    store
        .append_records(&[record("late-1", None), record("late-2", None)])
        .await
        .expect("append");
    let later = trail::sign_checkpoint(store, key, early.seq)
        .await
        .expect("sign")
        .expect("cp");
    let (anchor, _) = trail::prune(store, later.time_ms + 1)
        .await
        .expect("prune")
        .expect("pruned");
    assert_eq!(anchor.seq, later.seq);
    // A slower prune to the earlier checkpoint lands afterwards: nothing
    // moves, and the trail still verifies.
    assert_eq!(store.prune_to(&early).await.expect("late prune"), 0);
    assert_eq!(
        store.anchor().await.expect("anchor").map(|a| a.seq),
        Some(later.seq)
    );
    assert!(matches!(
        trail::verify(store, None).await.expect("verify"),
        Verdict::Intact { .. }
    ));
    // The earlier checkpoint's rows are gone: it cannot be held to them.
    let early_head = early.head_hash().expect("hash");
    let verdict = trail::verify(store, Some((early.seq, early_head)))
        .await
        .expect("verify");
    assert!(
        matches!(&verdict, Verdict::Broken { seq, reason } if *seq == early.seq && reason.contains("predates")),
        "{verdict:?}"
    );
    // The anchor's own checkpoint matches; another hash at its seq does not.
    let later_head = later.head_hash().expect("hash");
    assert!(matches!(
        trail::verify(store, Some((later.seq, later_head)))
            .await
            .expect("verify"),
        Verdict::Intact { .. }
    ));
    let verdict = trail::verify(store, Some((later.seq, [9; 32])))
        .await
        .expect("verify");
    assert!(
        matches!(&verdict, Verdict::Broken { seq, .. } if *seq == later.seq),
        "{verdict:?}"
    );
}
