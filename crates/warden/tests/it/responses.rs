//! A stored response is its creator's alone: reading, deleting, cancelling,
//! listing its input or continuing it (`previous_response_id`) by anyone
//! else answers 404, as for an id that does not exist.

use serde_json::{Value, json};
use warden_store::RecordStore as _;

use crate::support::*;

async fn create(w: &World, token: &str, stream: bool) -> String {
    let resp = post_responses(
        w,
        token,
        &json!({"model": "gpt-4o", "input": "hello", "stream": stream}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.expect("body");
    if !stream {
        let v: Value = serde_json::from_str(&text).expect("json");
        return v["id"].as_str().expect("id").to_owned();
    }
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .find(|v| v["type"] == "response.created")
        .and_then(|v| v["response"]["id"].as_str().map(str::to_owned))
        .expect("response.created")
}

async fn post_responses(w: &World, token: &str, body: &Value) -> reqwest::Response {
    w.http
        .post(w.gw.url("/v1/responses"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("send")
}

async fn call(w: &World, token: &str, method: reqwest::Method, path: &str) -> reqwest::Response {
    w.http
        .request(method, w.gw.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("send")
}

#[tokio::test]
async fn only_the_creator_reads_deletes_lists_or_continues_a_response() {
    let w = World::start("").await;
    let alice = w.token("alice").await;
    let carol = w.token("carol").await; // also in eng: allowed on responses
    for stream in [false, true] {
        let id = create(&w, &alice, stream).await;
        let paths = [
            (reqwest::Method::GET, format!("/v1/responses/{id}")),
            (
                reqwest::Method::GET,
                format!("/v1/responses/{id}/input_items"),
            ),
        ];
        for (method, path) in &paths {
            let seen = w.mock.requests().len();
            let err = expect_error(
                call(&w, &carol, method.clone(), path).await,
                404,
                "response_not_found",
            )
            .await;
            assert!(
                err["error"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(&id)
            );
            assert_eq!(
                w.mock.requests().len(),
                seen,
                "nothing forwarded for {path}"
            );
            assert_eq!(
                call(&w, &alice, method.clone(), path).await.status(),
                200,
                "{path}"
            );
        }
        // Continuing someone else's response is reading it.
        let next = json!({"model": "gpt-4o", "input": "and then?", "previous_response_id": id});
        let resp = post_responses(&w, &carol, &next).await;
        expect_error(resp, 404, "response_not_found").await;
        let resp = post_responses(&w, &alice, &next).await;
        assert_eq!(resp.status(), 200);
        let cancel = format!("/v1/responses/{id}/cancel");
        let resp = w
            .http
            .post(w.gw.url(&cancel))
            .bearer_auth(&carol)
            .json(&json!({}))
            .send()
            .await
            .expect("send");
        expect_error(resp, 404, "response_not_found").await;
        let delete = format!("/v1/responses/{id}");
        expect_error(
            call(&w, &carol, reqwest::Method::DELETE, &delete).await,
            404,
            "response_not_found",
        )
        .await;
        assert_eq!(
            call(&w, &alice, reqwest::Method::DELETE, &delete)
                .await
                .status(),
            200
        );
    }
    // An id Warden never saw is refused to everyone (fail closed).
    expect_error(
        call(
            &w,
            &alice,
            reqwest::Method::GET,
            "/v1/responses/resp_unknown",
        )
        .await,
        404,
        "response_not_found",
    )
    .await;

    // The owner is in the records, which outlive the in-memory map.
    let id = create(&w, &alice, false).await;
    let records = w.gw.wait_records(1).await.expect("records");
    assert!(!records.is_empty());
    let mut owner = None;
    for _ in 0..50 {
        owner = w.gw.store.response_owner(&id).await.expect("owner");
        if owner.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let owner = owner.expect("recorded owner");
    assert_eq!(owner.0.subject.as_deref(), Some("alice"));
    assert_eq!(
        owner.1.as_deref(),
        Some(id.as_str()),
        "a chain's first response names its session"
    );
}

#[tokio::test]
async fn calls_are_grouped_into_sessions_by_header_and_by_responses_chain() {
    let w = World::start("").await;
    let alice = w.token("alice").await;
    let chat = |session: &'static str| {
        w.http
            .post(w.gw.url("/v1/chat/completions"))
            .bearer_auth(&alice)
            .header("x-warden-session", session)
            .json(&chat_body("gpt-4o"))
            .send()
    };
    assert_eq!(chat("ticket-42").await.expect("send").status(), 200);
    assert_eq!(chat("ticket-42").await.expect("send").status(), 200);
    expect_error(
        chat("has space").await.expect("send"),
        400,
        "invalid_session",
    )
    .await;
    // A Responses chain without a header: the chain's first response names it.
    let first = create(&w, &alice, false).await;
    let next = json!({"model": "gpt-4o", "input": "more", "previous_response_id": first});
    let resp = post_responses(&w, &alice, &next).await;
    let second: Value = resp.json().await.expect("json");
    let next = json!({"model": "gpt-4o", "input": "more", "previous_response_id": second["id"]});
    let resp = post_responses(&w, &alice, &next).await;
    assert_eq!(resp.status(), 200);
    let records = w.gw.wait_records(6).await.expect("records");
    let in_session = |s: &str| {
        records
            .iter()
            .filter(|r| r.session_id.as_deref() == Some(s))
            .count()
    };
    assert_eq!(in_session("ticket-42"), 2);
    assert_eq!(in_session(&first), 3, "the whole chain is one session");
    assert!(
        !w.mock
            .requests()
            .iter()
            .any(|r| r.header("x-warden-session").is_some()),
        "never forwarded"
    );

    // The CLI reads them back.
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("w.toml");
    std::fs::write(
        &config,
        format!(
            "[[connection]]\nname = \"x\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodels = [\"*\"]\n[store]\nsqlite = {:?}\n",
            w.gw.db_path().display().to_string()
        ),
    )
    .expect("config");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_warden"))
            .args(args)
            .arg("--config")
            .arg(&config)
            .output()
            .expect("warden");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let list = run(&["sessions", "list", "--json"]);
    let sessions: Vec<Value> = list
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let calls = |id: &str| {
        sessions
            .iter()
            .find(|s| s["session"] == id)
            .map(|s| s["calls"].clone())
    };
    assert_eq!(calls("ticket-42"), Some(json!(2)), "{list}");
    assert_eq!(calls(&first), Some(json!(3)), "{list}");
    let show = run(&["sessions", "show", &first, "--json"]);
    let shown: Vec<Value> = show
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(shown.len(), 3);
    assert!(shown.iter().all(|l| l["kind"] == "call"), "{show}");
    assert_eq!(
        shown[0]["record"]["response_id"],
        json!(first),
        "oldest first"
    );
}

#[tokio::test]
async fn a_conversation_is_a_session() {
    let w = World::start("").await;
    let alice = w.token("alice").await;
    for conversation in [json!("conv_abc"), json!({"id": "conv_abc"})] {
        let body = json!({"model": "gpt-4o", "input": "hi", "conversation": conversation});
        assert_eq!(post_responses(&w, &alice, &body).await.status(), 200);
    }
    let bad = json!({"model": "gpt-4o", "input": "hi", "conversation": 7});
    let err = expect_error(post_responses(&w, &alice, &bad).await, 400, "invalid_type").await;
    assert_eq!(err["error"]["param"], "conversation");
    let records = w.gw.wait_records(3).await.expect("records");
    let sessions: Vec<Option<&str>> = records
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| r.session_id.as_deref())
        .collect();
    assert_eq!(sessions, [Some("conv_abc"), Some("conv_abc")]);
}
