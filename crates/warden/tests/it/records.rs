//! Every call, allowed or refused, leaves exactly one record with who, what,
//! the decision and its reason, status, latencies and usage.

use serde_json::json;
use warden_core::{Decision, Outcome, PrincipalKind};

use crate::support::*;

#[tokio::test]
async fn every_call_leaves_one_complete_record() {
    let w = World::start("").await;
    let alice = w.token("alice").await;
    let ok = w.chat(&alice, chat_body("gpt-4o")).await;
    assert_eq!(ok.status(), 200);
    let request_id = ok.headers()["x-warden-request-id"]
        .to_str()
        .expect("id")
        .to_owned();
    let _ = ok.text().await;
    expect_error(
        w.chat(&alice, chat_body("o3-pro")).await,
        403,
        "model_not_allowed",
    )
    .await;
    expect_error(
        w.chat("bad-token", chat_body("gpt-4o")).await,
        401,
        "invalid_token",
    )
    .await;
    let emb = w
        .http
        .post(w.gw.url("/v1/embeddings"))
        .bearer_auth(&alice)
        .json(&json!({"model": "text-embedding-3-small", "input": ["a", "b"]}))
        .send()
        .await
        .expect("send");
    assert_eq!(emb.status(), 200);
    let _ = emb.text().await;

    let records = w.gw.wait_records(4).await.expect("records");
    assert_eq!(records.len(), 4, "one record per call");
    let allowed = &records[0];
    assert_eq!(allowed.request_id, request_id);
    assert_eq!(allowed.principal_kind, Some(PrincipalKind::User));
    assert_eq!(allowed.subject.as_deref(), Some("alice"));
    assert_eq!(allowed.issuer.as_deref(), Some(w.idp.issuer.as_str()));
    assert_eq!(allowed.groups, ["eng"]);
    assert_eq!(allowed.endpoint, "chat.completions");
    assert_eq!(allowed.model.as_deref(), Some("gpt-4o"));
    assert_eq!(allowed.connection.as_deref(), Some("mock"));
    assert_eq!(allowed.decision, Decision::Allow);
    assert_eq!(allowed.policy_ids, ["groups.eng.models"]);
    assert_eq!(allowed.status, 200);
    assert_eq!(allowed.outcome, Outcome::Completed);
    assert!(allowed.upstream_latency_us.is_some());
    assert!(allowed.total_latency_us >= allowed.upstream_latency_us.unwrap_or(0));
    assert!(
        allowed.usage.is_some_and(|u| u.total_tokens > 0),
        "non-streamed usage"
    );
    assert!(
        allowed
            .client_addr
            .as_deref()
            .is_some_and(|a| a.starts_with("127.0.0.1:"))
    );

    let denied = &records[1];
    assert_eq!((denied.decision, denied.status), (Decision::Deny, 403));
    assert_eq!(denied.reason.as_deref(), Some("model_not_allowed"));
    assert_eq!(denied.outcome, Outcome::Refused);

    let unauthenticated = &records[2];
    assert_eq!(unauthenticated.status, 401);
    assert_eq!(unauthenticated.subject, None);
    assert_eq!(unauthenticated.reason.as_deref(), Some("invalid_token"));

    assert_eq!(records[3].endpoint, "embeddings");
    assert!(records[3].usage.is_some_and(|u| u.input_tokens > 0));
}

#[tokio::test]
async fn a_caller_that_hangs_up_mid_stream_is_recorded() {
    let w = World::start("").await;
    let mut body = chat_body("gpt-4o");
    body["stream"] = json!(true);
    let resp = w
        .http
        .post(w.gw.url("/v1/chat/completions"))
        .bearer_auth(w.token("alice").await)
        .header("x-mock-chunk-delay-ms", "200")
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    drop(resp); // hang up before the stream ends
    let records = w.gw.wait_records(1).await.expect("records");
    assert_eq!(records[0].outcome, Outcome::ClientGone);
    assert_eq!(records[0].status, 200, "the status that was sent");
}

#[tokio::test]
async fn records_survive_a_clean_shutdown() {
    let mut w = World::start("").await;
    let alice = w.token("alice").await;
    for _ in 0..25 {
        assert_eq!(w.chat(&alice, chat_body("gpt-4o")).await.status(), 200);
    }
    let store = w.gw.store.clone();
    w.gw.shutdown().await.expect("shutdown");
    let records =
        warden_store::RecordStore::list_records(&*store, &warden_store::RecordFilter::default())
            .await
            .expect("list");
    assert_eq!(records.len(), 25, "flushed on shutdown");
}
