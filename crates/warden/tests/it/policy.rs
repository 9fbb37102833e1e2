//! Policy through the gateway: the group table and raw Cedar decide, refusals
//! are 403 with a code and never reach the upstream, listings are filtered.

use serde_json::{Value, json};

use crate::support::*;

#[tokio::test]
async fn groups_decide_which_models_and_endpoints() {
    let w = World::start("").await;
    let alice = w.token("alice").await; // eng
    let bob = w.token("bob").await; // interns
    let nobody = w.token("nobody").await; // no groups

    assert_eq!(w.chat(&alice, chat_body("gpt-4o")).await.status(), 200);
    assert_eq!(w.chat(&bob, chat_body("gpt-4o-mini")).await.status(), 200);
    w.mock.clear();

    let body = expect_error(
        w.chat(&alice, chat_body("o3-pro")).await,
        403,
        "model_not_allowed",
    )
    .await;
    assert_eq!(body["error"]["param"], "model");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("o3-pro")
    );
    expect_error(
        w.chat(&bob, chat_body("gpt-4o")).await,
        403,
        "model_not_allowed",
    )
    .await;
    expect_error(
        w.chat(&nobody, chat_body("gpt-4o-mini")).await,
        403,
        "model_not_allowed",
    )
    .await;
    // interns may chat but not use the Responses API, even with their model.
    let resp = w
        .http
        .post(w.gw.url("/v1/responses"))
        .bearer_auth(&bob)
        .json(&json!({"model": "gpt-4o-mini", "input": "hi"}))
        .send()
        .await
        .expect("send");
    expect_error(resp, 403, "model_not_allowed").await;
    assert!(
        w.mock.requests().is_empty(),
        "refused calls never reach the upstream"
    );
}

#[tokio::test]
async fn a_forbid_names_its_policy_not_its_text() {
    let w = World::start("").await;
    let bob = w.token("bob").await;
    let mut body = chat_body("gpt-4o-mini");
    body["tools"] = json!([{"type": "computer_use_preview", "display_width": 1024}]);
    let err = expect_error(w.chat(&bob, body).await, 403, "policy_denied").await;
    let msg = err["error"]["message"].as_str().unwrap_or("");
    assert!(msg.contains("interns-no-computer-use"), "{msg}");
    assert!(msg.contains("may not offer the computer_use tool"), "{msg}");
    assert!(!msg.contains("forbid"), "policy text leaked: {msg}");
    assert!(w.mock.requests().is_empty());
    let records = w.gw.wait_records(1).await.expect("records");
    assert_eq!(records[0].policy_ids, ["interns-no-computer-use"]);
    assert_eq!(records[0].reason.as_deref(), Some("policy_denied"));
}

#[tokio::test]
async fn model_listing_shows_only_permitted_models() {
    let w = World::start("").await;
    let list = |token: String| {
        let http = w.http.clone();
        let url = w.gw.url("/v1/models");
        async move {
            let resp = http.get(url).bearer_auth(token).send().await.expect("send");
            assert_eq!(resp.status(), 200);
            let body: Value = resp.json().await.expect("json");
            let mut ids: Vec<String> = body["data"]
                .as_array()
                .expect("data")
                .iter()
                .map(|m| m["id"].as_str().unwrap_or_default().to_owned())
                .collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(
        list(w.token("alice").await).await,
        ["gpt-4o", "gpt-4o-mini", "text-embedding-3-small"]
    );
    assert_eq!(list(w.token("bob").await).await, ["gpt-4o-mini"]);
    assert!(list(w.token("nobody").await).await.is_empty());
    // Retrieving a model you may not use looks like it does not exist.
    let resp = w
        .http
        .get(w.gw.url("/v1/models/o3-pro"))
        .bearer_auth(w.token("alice").await)
        .send()
        .await
        .expect("send");
    expect_error(resp, 404, "model_not_found").await;
    let resp = w
        .http
        .get(w.gw.url("/v1/models/gpt-4o"))
        .bearer_auth(w.token("alice").await)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn models_no_connection_serves_are_not_found() {
    let mock = MockUpstream::start().await.expect("mock");
    let idp = OidcProvider::start().await.expect("idp");
    let conn =
        connection_toml(&mock.base_url()).replace("models = [\"*\"]", "models = [\"gpt-*\"]");
    let gw = TestGateway::start(&format!("{}\n{conn}\n{POLICY}", idp.issuer_toml()))
        .await
        .expect("gw");
    let resp = http()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(idp.token("alice").await.expect("token"))
        .json(&chat_body("claude-3"))
        .send()
        .await
        .expect("send");
    expect_error(resp, 404, "model_not_found").await;
    assert!(mock.requests().is_empty());
}
