//! Session recording (`[audit] record_bodies`): with `full`, each call's
//! masked request and answer bodies (cut at `body_max_bytes`) and its answer
//! chunk times are kept beside the trail, their digest in the chained
//! record, so an edited body is caught by `warden audit verify`; with
//! `metadata` (the default) only chunk times; with `off` nothing.

use serde_json::{Value, json};
use warden_store::bodies::BodyStore as _;

use crate::support::*;

const FULL: &str = r#"
[admin]
groups = ["security"]

[audit]
record_bodies = "full"
body_max_bytes = 8192

[pii.profiles.std]
EMAIL = "redact"

[[pii.apply]]
group = "eng"
profile = "std"
"#;

async fn world(extra: &str) -> World {
    let clients = json!([
        {"client_id": "alice", "groups": ["eng"]},
        {"client_id": "sec", "groups": ["security"]},
    ]);
    World::start_with_clients(extra, POLICY, Some(clients)).await
}

/// A chat as `token`; its request id and whole body.
async fn chat(w: &World, token: &str, body: &Value) -> (String, String) {
    let resp = w.chat(token, body.clone()).await;
    assert_eq!(resp.status(), 200);
    let id = resp
        .headers()
        .get("x-warden-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-warden-request-id")
        .to_owned();
    (id, resp.text().await.expect("body"))
}

#[tokio::test]
async fn full_recording_keeps_masked_bodies_and_chunk_times_held_to_the_trail() {
    let w = world(FULL).await;
    let (alice, sec) = (w.token("alice").await, w.token("sec").await);
    let streamed = json!({"model": "gpt-4o", "stream": true,
        "messages": [{"role": "user", "content": "mail jane.doe@example.com please"}]});
    let (stream_id, relayed) = chat(&w, &alice, &streamed).await;
    let long = "word ".repeat(2000);
    let (long_id, _) = chat(
        &w,
        &alice,
        &json!({"model": "gpt-4o", "messages": [{"role": "user", "content": long}]}),
    )
    .await;
    let records = w.gw.wait_records(2).await.expect("records");
    let record = records
        .iter()
        .find(|r| r.request_id == stream_id)
        .expect("record");

    let body =
        w.gw.store
            .body(&stream_id)
            .await
            .expect("read")
            .expect("recorded");
    assert_eq!(record.body_sha256.as_deref(), Some(body.digest().as_str()));
    let request = String::from_utf8(body.request.clone().expect("request")).expect("utf-8");
    assert!(request.contains("[EMAIL]"), "kept as forwarded: {request}");
    assert!(!request.contains("jane.doe@example.com"), "{request}");
    let response = String::from_utf8(body.response.clone().expect("response")).expect("utf-8");
    assert_eq!(response, relayed, "the answer as the caller got it");
    assert!(!body.request_truncated && !body.response_truncated);
    assert_eq!(Some(body.chunk_us.len() as u64), record.chunks);
    assert!(body.chunk_us.windows(2).all(|p| p[0] <= p[1]));
    assert!(body.chunk_us[0] <= record.total_latency_us);

    let long =
        w.gw.store
            .body(&long_id)
            .await
            .expect("read")
            .expect("recorded");
    assert!(long.request_truncated);
    assert_eq!(long.request.as_ref().map(Vec::len), Some(8192));

    // The admin API serves it, and checks every body against its record.
    let resp = w
        .http
        .get(w.gw.url(&format!("/admin/v1/records/{stream_id}/body")))
        .bearer_auth(&sec)
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 200);
    let served: Value = resp.json().await.expect("json");
    assert_eq!(served["response"], json!(relayed));
    assert_eq!(
        served["chunk_us"].as_array().map(Vec::len),
        Some(body.chunk_us.len())
    );
    let missing = w
        .http
        .get(w.gw.url("/admin/v1/records/nope/body"))
        .bearer_auth(&sec)
        .send()
        .await
        .expect("get");
    expect_error(missing, 404, "body_not_found").await;
    let verdict: Value = w
        .http
        .get(w.gw.url("/admin/v1/audit/verify-bodies"))
        .bearer_auth(&sec)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(verdict["intact"], true, "{verdict}");
    assert_eq!(verdict["checked"], 2);

    // Someone rewrites what the model answered: the CLI names the call.
    let db = w.gw.db_path();
    let ok = warden_cmd()
        .args(["audit", "verify", "--json", "--db"])
        .arg(&db)
        .output()
        .expect("warden");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let said: Value = serde_json::from_slice(&ok.stdout).expect("json");
    assert_eq!(said["bodies_checked"], 2);
    let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", db.display()))
        .await
        .expect("open");
    sqlx::query(
        "UPDATE request_bodies SET response = CAST('data: [DONE]' AS BLOB) WHERE request_id = ?",
    )
    .bind(&stream_id)
    .execute(&pool)
    .await
    .expect("tamper");
    pool.close().await;
    let out = warden_cmd()
        .args(["audit", "verify", "--db"])
        .arg(&db)
        .output()
        .expect("warden");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&stream_id) && err.contains("differs from the digest"),
        "{err}"
    );
}

#[tokio::test]
async fn metadata_keeps_chunk_times_only_and_off_keeps_nothing() {
    let w = world("").await;
    let alice = w.token("alice").await;
    let mut body = chat_body("gpt-4o");
    body["stream"] = json!(true);
    let (id, _) = chat(&w, &alice, &body).await;
    let records = w.gw.wait_records(1).await.expect("records");
    let kept = w.gw.store.body(&id).await.expect("read").expect("kept");
    assert_eq!((kept.request, kept.response), (None, None));
    assert_eq!(Some(kept.chunk_us.len() as u64), records[0].chunks);
    assert!(records[0].body_sha256.is_some());

    let w = world("[audit]\nrecord_bodies = \"off\"\n").await;
    let alice = w.token("alice").await;
    let (id, _) = chat(&w, &alice, &body).await;
    let records = w.gw.wait_records(1).await.expect("records");
    assert_eq!(w.gw.store.body(&id).await.expect("read"), None);
    assert_eq!(records[0].body_sha256, None);
}

/// With pseudonyms, the caller reads the originals but the stored answer
/// keeps the placeholders the upstream sent: nothing stored holds a value
/// masking removed, streamed or not (a cut answer's tail is covered by
/// `exchange::tests`).
#[tokio::test]
async fn recorded_answers_under_pseudonyms_hold_placeholders_only() {
    let config = r#"
[admin]
groups = ["security"]

[audit]
record_bodies = "full"
body_max_bytes = 8192

[pii.profiles.reversible]
EMAIL = "pseudonymize"

[[pii.apply]]
group = "eng"
profile = "reversible"
"#;
    let w = world(config).await;
    let alice = w.token("alice").await;
    let mut ids = Vec::new();
    for stream in [false, true] {
        // The mock answers "mock reply: <the text>".
        let body = json!({"model": "gpt-4o", "stream": stream, "messages": [{"role": "user",
            "content": "write to jane.doe@example.com and \"Amy\" <amy@example.com>"}]});
        let (id, relayed) = chat(&w, &alice, &body).await;
        assert!(
            relayed.contains("jane.doe@example.com"),
            "the caller gets originals"
        );
        ids.push(id);
    }
    w.gw.wait_records(2).await.expect("records");
    for id in &ids {
        let body = w.gw.store.body(id).await.expect("read").expect("recorded");
        let response =
            String::from_utf8_lossy(body.response.as_deref().unwrap_or_default()).into_owned();
        let request =
            String::from_utf8_lossy(body.request.as_deref().unwrap_or_default()).into_owned();
        for kept in [&response, &request] {
            assert!(!kept.contains("jane.doe"), "{kept}");
            assert!(!kept.contains("amy@"), "{kept}");
        }
        assert!(response.contains("<EMAIL_1>"), "{response}");
    }
}
