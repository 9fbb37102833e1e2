//! Content rules through the gateway: denied terms and patterns (also when
//! JSON-escaped), tool deny and allow lists, output-token caps. A refusal is
//! 403 `content_blocked` naming the rule, never the matched text, and the
//! upstream sees nothing.

use serde_json::json;

use crate::support::*;

const RULES: &str = r#"
[[content.rule]]
id = "no-codenames"
deny_terms = ["Project Falcon"]
deny_patterns = ['\bACME-\d{4}\b']

[[content.rule]]
id = "interns-tools"
groups = ["interns"]
deny_tools = ["computer_use_preview", "code_interpreter", "function:delete_*"]
max_output_tokens = 500

[[content.rule]]
id = "eng-tools-allowlist"
groups = ["eng"]
allow_tools = ["function:*", "web_search"]
"#;

#[tokio::test]
async fn terms_patterns_tools_and_caps_are_refused_by_rule() {
    let w = World::start(RULES).await;
    let alice = w.token("alice").await; // eng
    let bob = w.token("bob").await; // interns
    let chat = |content: &str| {
        let mut b = chat_body("gpt-4o-mini");
        b["messages"][0]["content"] = json!(content);
        b
    };
    // A denied term, in any case, and written with a JSON escape.
    for text in ["status of project falcon?", "status of PROJECT FALCON?"] {
        let err = expect_error(w.chat(&alice, chat(text)).await, 403, "content_blocked").await;
        let msg = err["error"]["message"].as_str().unwrap_or_default();
        assert!(
            msg.contains("no-codenames") && !msg.to_lowercase().contains("falcon"),
            "{msg}"
        );
    }
    let escaped =
        r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Project F\u0061lcon"}]}"#;
    let resp = w
        .http
        .post(w.gw.url("/v1/chat/completions"))
        .bearer_auth(&alice)
        .header("content-type", "application/json")
        .body(escaped)
        .send()
        .await
        .expect("send");
    expect_error(resp, 403, "content_blocked").await;
    // A denied pattern, inside a tool result.
    let mut body = chat_body("gpt-4o-mini");
    body["messages"] = json!([
        {"role": "user", "content": "hi"},
        {"role": "tool", "tool_call_id": "c", "content": "ticket ACME-1234 is open"}
    ]);
    expect_error(w.chat(&alice, body).await, 403, "content_blocked").await;

    // Tools: denied by type and by function-name pattern for interns.
    for tool in [
        json!({"type": "code_interpreter"}),
        json!({"type": "function", "function": {"name": "delete_user"}}),
    ] {
        let mut b = chat_body("gpt-4o-mini");
        b["tools"] = json!([tool]);
        let err = expect_error(w.chat(&bob, b).await, 403, "content_blocked").await;
        assert!(
            err["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("interns-tools")
        );
    }
    // ... allowed when the function name does not match.
    let mut ok = chat_body("gpt-4o-mini");
    ok["tools"] = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]);
    assert_eq!(w.chat(&bob, ok).await.status(), 200);
    // An allow-list refuses what it does not name.
    let mut b = chat_body("gpt-4o");
    b["tools"] = json!([{"type": "computer_use_preview"}]);
    expect_error(w.chat(&alice, b).await, 403, "content_blocked").await;
    // The output cap.
    let mut b = chat_body("gpt-4o-mini");
    b["max_tokens"] = json!(4000);
    expect_error(w.chat(&bob, b).await, 403, "content_blocked").await;

    assert_eq!(
        w.mock.requests().len(),
        1,
        "only the allowed call reached the upstream"
    );
    let records = w.gw.wait_records(9).await.expect("records");
    assert_eq!(
        records
            .iter()
            .filter(|r| r.reason.as_deref() == Some("content_blocked"))
            .count(),
        8
    );
}
