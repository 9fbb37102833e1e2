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
        body_sha256: usage.map(|_| "ab".repeat(32)),
        policy_decision: usage.map(|_| Decision::Allow),
        stage: usage.is_none().then(|| "limits".to_owned()),
        client_request_id: usage.map(|_| "client-1".to_owned()),
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

/// Both stores: a call with no session of its own joins the session an agent
/// trace's `response` span filed it under; a call with its own session keeps
/// it; the session's events are read back by session and by target. `store`
/// is empty.
pub(crate) async fn trace_spans_join_calls_to_their_session(store: &dyn crate::RecordStore) {
    use crate::chain::Entry;
    use crate::{EventFilter, RecordFilter};
    use warden_core::{Actor, AuditEvent};
    let usage = Usage {
        input_tokens: 10,
        output_tokens: 5,
        total_tokens: 15,
        cached_tokens: 0,
    };
    let mut loose = record("loose", Some(usage));
    loose.session_id = None;
    let mut other = record("other", Some(usage));
    other.session_id = None;
    let own = record("own", Some(usage));
    // A Responses chain's first call names itself as its session: a trace
    // that timed it still files it.
    let mut head = record("head", Some(usage));
    head.session_id.clone_from(&head.response_id);
    let span = |response: &RequestRecord, session: &str| {
        let mut e = AuditEvent::new("trace.span", Actor::default(), Some("trace_1".into()))
            .with("type", "response");
        e.session_id = Some(session.into());
        e.response_id.clone_from(&response.response_id);
        Entry::Event(e)
    };
    store
        .append(&[
            Entry::Request(loose.clone()),
            Entry::Request(other.clone()),
            Entry::Request(own.clone()),
            Entry::Request(head.clone()),
            span(&loose, "group_7"),
            span(&head, "group_7"),
            // A span cannot move a call out of the session it was filed under.
            span(&own, "group_7"),
        ])
        .await
        .expect("append");
    let calls = store
        .list_records(&RecordFilter {
            session_id: Some("group_7".into()),
            ..RecordFilter::default()
        })
        .await
        .expect("list");
    let ids: Vec<&str> = calls.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(ids, ["head", "loose"]);
    let sessions = store.sessions(0).await.expect("sessions");
    let mut summary: Vec<(&str, u64)> = sessions.iter().map(|s| (s.id.as_str(), s.calls)).collect();
    summary.sort_unstable();
    assert_eq!(summary, [("group_7", 2), ("s1", 1)]);
    let group = sessions.iter().find(|s| s.id == "group_7").expect("group");
    assert_eq!((group.input_tokens, group.output_tokens), (20, 10));
    for filter in [
        EventFilter {
            session_id: Some("group_7".into()),
            ..EventFilter::default()
        },
        EventFilter {
            target: Some("trace_1".into()),
            ..EventFilter::default()
        },
    ] {
        let events = store.list_events(&filter).await.expect("events");
        assert_eq!(events.len(), 3, "{filter:?}");
        assert!(
            events
                .iter()
                .all(|(_, e)| e.session_id.as_deref() == Some("group_7"))
        );
        let linked: Vec<_> = events
            .iter()
            .filter_map(|(_, e)| e.response_id.clone())
            .collect();
        let ids = |r: &RequestRecord| r.response_id.clone().expect("id");
        assert_eq!(linked, [ids(&own), ids(&head), ids(&loose)]);
    }
    assert!(matches!(
        crate::trail::verify(store, None).await.expect("verify"),
        crate::chain::Verdict::Intact { .. }
    ));
}

/// Both stores: bodies round-trip, are checked against their records'
/// digests, and go with pruning. Leaves one good body, of request `b-good`,
/// for the caller's tamper test. `store` is empty.
pub(crate) async fn bodies_round_trip_and_are_checked<S>(store: &S)
where
    S: crate::RecordStore + crate::bodies::BodyStore,
{
    use crate::bodies::{BodyStore, CallBody};
    use crate::trail::verify_bodies;
    let body = |id: &str| CallBody {
        request_id: id.into(),
        time_ms: 1_700_000_000_000,
        request: Some(br#"{"model":"gpt-4o","messages":[]}"#.to_vec()),
        request_truncated: false,
        response: Some(vec![0xff, b'd', b'a']),
        response_truncated: true,
        chunk_us: vec![120, 4_000, 9_000],
    };
    let good = body("b-good");
    let mut record_good = record("b-good", None);
    record_good.body_sha256 = Some(good.digest());
    let undigested = body("b-undigested");
    let record_undigested = record("b-undigested", None);
    let orphan = body("b-orphan");
    let mut old = body("b-old");
    old.time_ms = 1_000;
    let mut record_old = record("b-old", None);
    record_old.body_sha256 = Some(old.digest());
    store
        .append_records(&[record_good, record_undigested])
        .await
        .expect("append");
    store
        .put_bodies(&[good.clone(), undigested, orphan])
        .await
        .expect("put");
    // A record and its body in one transaction (the writer's way).
    store
        .append_with_bodies(&[crate::Entry::Request(record_old)], &[old])
        .await
        .expect("append with bodies");
    // A second put of the same request id leaves the first.
    let mut again = good.clone();
    again.response = Some(b"other".to_vec());
    store.put_bodies(&[again]).await.expect("put again");
    assert_eq!(
        BodyStore::body(store, "b-good").await.expect("read"),
        Some(good.clone())
    );
    assert_eq!(BodyStore::body(store, "nope").await.expect("read"), None);
    let verdict = verify_bodies(store).await.expect("verify");
    assert_eq!(verdict.checked, 4);
    let problems: Vec<(&str, &str)> = verdict
        .problems
        .iter()
        .map(|p| (p.request_id.as_str(), p.reason))
        .collect();
    assert_eq!(
        problems,
        [
            ("b-orphan", "no record has this request id"),
            ("b-undigested", "its record holds no body digest"),
        ]
    );
    assert_eq!(store.prune_bodies(2_000).await.expect("prune"), 1);
    assert_eq!(BodyStore::body(store, "b-old").await.expect("read"), None);
}

/// Both stores: pruning the trail to a checkpoint takes the pruned calls'
/// bodies too (after [`bodies_round_trip_and_are_checked`]).
pub(crate) async fn pruning_takes_the_bodies<S>(store: &S)
where
    S: crate::RecordStore + crate::bodies::BodyStore,
{
    use crate::bodies::BodyStore;
    let (private, _) = crate::checkpoint::key_pair_pem([9; 32]).expect("keys");
    let key = crate::checkpoint::signing_key_from_pem(&private).expect("key");
    let cp = crate::trail::sign_checkpoint(store, &key, 0)
        .await
        .expect("sign")
        .expect("cp");
    crate::trail::prune(store, cp.time_ms + 1)
        .await
        .expect("prune")
        .expect("pruned");
    for id in ["b-good", "b-undigested"] {
        assert_eq!(
            BodyStore::body(store, id).await.expect("read"),
            None,
            "{id}"
        );
    }
    assert!(
        BodyStore::body(store, "b-orphan")
            .await
            .expect("read")
            .is_some(),
        "no record of its was pruned"
    );
}

/// Both stores: approvals change only from the version read, grants are
/// found for their person until revoked or expired, and every change is in
/// the trail. `store` is empty.
pub(crate) async fn approvals_and_grants<S>(store: &S)
where
    S: crate::RecordStore + crate::approvals::ApprovalStore,
{
    use warden_core::approval::{Approval, ApprovalMode, ApprovalState, CallSummary, Grant};
    use warden_core::{Actor, AuditEvent};
    let person = |s: &str, issuer: Option<&str>| Actor {
        subject: Some(s.into()),
        issuer: issuer.map(str::to_owned),
        groups: vec!["interns".into()],
        ..Actor::default()
    };
    let approval = |id: &str, t: i64| Approval {
        id: id.into(),
        created_ms: t,
        expires_ms: t + 1000,
        state: ApprovalState::Pending,
        mode: ApprovalMode::Hold,
        requester: person("intern", Some("https://idp")),
        rule: "r".into(),
        summary: CallSummary {
            model: Some("o3-pro".into()),
            ..CallSummary::default()
        },
        request_hash: "h".into(),
        policy_version: "p".into(),
        quorum: 1,
        approver_groups: vec!["security".into()],
        decisions: Vec::new(),
        decided_ms: None,
        used_ms: None,
        grant_id: None,
    };
    let event = |action: &str, id: &str| AuditEvent::new(action, Actor::default(), Some(id.into()));
    for (id, t) in [("apr_1", 1), ("apr_2", 2)] {
        store
            .create_approval(&approval(id, t), &event("approval.request", id))
            .await
            .expect("create");
    }
    let (mut a, v) = store.approval("apr_1").await.expect("read").expect("found");
    assert_eq!((a.state, v), (ApprovalState::Pending, 1));
    assert_eq!(a.summary.model.as_deref(), Some("o3-pro"));
    a.state = ApprovalState::Approved;
    let grant = Grant {
        id: "grt_1".into(),
        approval_id: "apr_1".into(),
        principal: person("intern", Some("https://idp")),
        models: vec!["o3-pro*".into()],
        endpoints: vec!["chat.completions".into()],
        rule: "r".into(),
        created_ms: 5,
        expires_ms: 100,
        revoked_ms: None,
        created_by: vec![person("sec", None)],
    };
    assert!(
        store
            .update_approval(&a, v, Some(&grant), &[event("approval.decide", "apr_1")])
            .await
            .expect("update")
    );
    // A second writer who read version 1 is refused, and changes nothing.
    let mut stale = a.clone();
    stale.state = ApprovalState::Denied;
    assert!(
        !store
            .update_approval(&stale, v, None, &[event("approval.decide", "apr_1")])
            .await
            .expect("update")
    );
    let (now, v2) = store.approval("apr_1").await.expect("read").expect("found");
    assert_eq!((now.state, v2), (ApprovalState::Approved, 2));
    let decided = store
        .decided_in(&["apr_1".into(), "apr_2".into(), "nope".into()])
        .await
        .expect("in");
    assert_eq!(decided, [("apr_1".to_owned(), ApprovalState::Approved)]);
    let pending = store
        .list_approvals(Some(ApprovalState::Pending), 10)
        .await
        .expect("list");
    assert_eq!(
        pending.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        ["apr_2"]
    );
    assert_eq!(store.list_approvals(None, 10).await.expect("list").len(), 2);

    let mine = store
        .active_grants("intern", Some("https://idp"), 50)
        .await
        .expect("grants");
    assert_eq!(mine, std::slice::from_ref(&grant));
    assert!(
        store
            .active_grants("intern", None, 50)
            .await
            .expect("grants")
            .is_empty()
    );
    assert!(
        store
            .active_grants("intern", Some("https://idp"), 100)
            .await
            .expect("grants")
            .is_empty(),
        "expired"
    );
    assert!(
        store
            .revoke_grant("grt_1", 60, &event("grant.revoke", "grt_1"))
            .await
            .expect("revoke")
    );
    assert!(
        !store
            .revoke_grant("grt_1", 61, &event("grant.revoke", "grt_1"))
            .await
            .expect("revoke")
    );
    assert_eq!(
        store
            .grant("grt_1")
            .await
            .expect("grant")
            .map(|g| g.revoked_ms),
        Some(Some(60))
    );
    assert!(
        store
            .active_grants("intern", Some("https://idp"), 61)
            .await
            .expect("g")
            .is_empty()
    );
    assert_eq!(store.list_grants(10).await.expect("list").len(), 1);
    let actions: Vec<String> = store
        .list_events(&crate::EventFilter::default())
        .await
        .expect("events")
        .into_iter()
        .map(|(_, e)| e.action)
        .collect();
    assert_eq!(
        actions,
        [
            "grant.revoke",
            "approval.decide",
            "approval.request",
            "approval.request"
        ]
    );
    assert!(matches!(
        crate::trail::verify(store, None).await.expect("verify"),
        crate::chain::Verdict::Intact { .. }
    ));
}
