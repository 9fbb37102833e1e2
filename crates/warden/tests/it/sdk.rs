//! The official Python SDKs (`openai`, `openai-agents`) through the gateway,
//! authenticated with a real OIDC access token. Unchanged programs: only
//! OPENAI_BASE_URL and OPENAI_API_KEY point at Warden.

use warden_testkit::sdk;

use crate::support::*;

async fn run_ok(w: &World, script: &str, token: &str) -> serde_json::Value {
    let run = sdk::run(script, &w.gw.base_url(), token, &[])
        .await
        .expect("python");
    assert!(
        run.success,
        "{script} failed:\n{}\n{}",
        run.stdout, run.stderr
    );
    run.summary().expect("summary")
}

#[tokio::test]
async fn agents_sdk_runs_with_tools_streamed_and_not() {
    let w = World::start("").await;
    let token = w.token("alice").await;
    run_ok(&w, "agents_run.py", &token).await;
    run_ok(&w, "agents_streamed.py", &token).await;
    let seen = w.mock.requests();
    assert!(
        seen.len() >= 4,
        "two model calls per agent run (tool call, then answer)"
    );
    for r in &seen {
        assert_eq!(r.path, "/v1/responses");
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {UPSTREAM_KEY}").as_str())
        );
    }
    assert_never_sent(&w.mock, &token);
    let records = w.gw.wait_records(seen.len()).await.expect("records");
    assert!(
        records
            .iter()
            .all(|r| r.subject.as_deref() == Some("alice") && r.status == 200)
    );
    assert!(records.iter().any(|r| r.stream), "run_streamed streamed");
    assert!(
        records.iter().all(|r| r.usage.is_some()),
        "usage recorded for every call"
    );
}

#[tokio::test]
async fn openai_sdk_chat_streaming_tools_embeddings_and_models() {
    let w = World::start("").await;
    let token = w.token("alice").await;
    run_ok(&w, "chat.py", &token).await;
    assert_never_sent(&w.mock, &token);
    let paths: Vec<String> = w.mock.requests().iter().map(|r| r.path.clone()).collect();
    assert!(paths.iter().any(|p| p == "/v1/embeddings"), "{paths:?}");
    assert!(
        paths.iter().any(|p| p == "/v1/chat/completions"),
        "{paths:?}"
    );
}

#[tokio::test]
async fn the_sdk_sees_warden_refusals_as_api_errors() {
    let w = World::start("").await;
    let run = sdk::run(
        "errors.py",
        &w.gw.base_url(),
        "not-a-valid-token",
        &[
            ("WARDEN_EXPECT_STATUS", "401"),
            ("WARDEN_EXPECT_CODE", "invalid_token"),
        ],
    )
    .await
    .expect("python");
    assert!(run.success, "{}\n{}", run.stdout, run.stderr);
    let bob = w.token("bob").await;
    let run = sdk::run(
        "errors.py",
        &w.gw.base_url(),
        &bob,
        &[
            ("WARDEN_EXPECT_STATUS", "403"),
            ("WARDEN_EXPECT_CODE", "model_not_allowed"),
            ("WARDEN_TEST_MODEL", "o3-pro"),
        ],
    )
    .await
    .expect("python");
    assert!(run.success, "{}\n{}", run.stdout, run.stderr);
    assert!(w.mock.requests().is_empty());
}

#[tokio::test]
async fn the_sdk_reads_restored_pseudonyms_and_masked_output() {
    let w = World::start(
        r#"
[pii.profiles.reversible]
EMAIL = "pseudonymize"
PAYMENT_CARD = "pseudonymize"

[pii.profiles.answers]
IP_ADDRESS = "redact"

[[pii.apply]]
group = "eng"
profile = "reversible"
output_profile = "answers"
"#,
    )
    .await;
    let token = w.token("alice").await;
    run_ok(&w, "masked.py", &token).await;
    let seen = w.mock.requests();
    assert_eq!(seen.len(), 3);
    for r in &seen {
        let body = String::from_utf8_lossy(&r.body);
        assert!(
            !body.contains("jane.doe") && !body.contains("4111 1111"),
            "{body}"
        );
        assert!(body.contains("<EMAIL_1>") && body.contains("<PAYMENT_CARD_1>"));
    }
}
