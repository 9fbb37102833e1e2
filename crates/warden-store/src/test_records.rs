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
