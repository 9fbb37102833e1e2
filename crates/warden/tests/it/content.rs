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

/// The same deny rule sees a tool however the request names it.
#[tokio::test]
async fn a_denied_tool_is_refused_in_every_field_that_names_it() {
    let w = World::start(RULES).await;
    let bob = w.token("bob").await; // interns: function:delete_* and code_interpreter denied
    let cases = [
        // Legacy chat functions and function_call.
        json!({"functions": [{"name": "delete_user", "parameters": {"type": "object"}}]}),
        json!({"function_call": {"name": "delete_user"}}),
        // tool_choice forcing a tool the tools list does not show.
        json!({"tool_choice": {"type": "function", "function": {"name": "delete_user"}}}),
        json!({"tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "auto",
            "tools": [{"type": "function", "function": {"name": "delete_all"}}]}}}),
        // Case and invisible characters do not make another name.
        json!({"tools": [{"type": "function", "function": {"name": "Delete_User"}}]}),
        json!({"tools": [{"type": "function", "function": {"name": "delete\u{200B}_user"}}]}),
        json!({"tools": [{"type": "function", "function": {"name": "ｄｅｌｅｔｅ_user"}}]}),
        json!({"tools": [{"type": "Code_Interpreter"}]}),
    ];
    for extra in cases {
        let mut b = chat_body("gpt-4o-mini");
        for (k, v) in extra.as_object().expect("object") {
            b[k] = v.clone();
        }
        let err = expect_error(w.chat(&bob, b.clone()).await, 403, "content_blocked").await;
        assert!(
            err["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("interns-tools")),
            "{b}: {err}"
        );
    }
    assert!(w.mock.requests().is_empty(), "nothing reached the upstream");
}

const TOOL_TYPES: &str = r#"
[[content.rule]]
id = "known-tools"
allow_tool_types = ["function", "web_search", "file_search", "mcp"]
allow_mcp_servers = ["https://mcp.example.com/github", "connector_gmail"]
"#;

/// Every Responses tool type is seen; a type the allow-list does not name
/// (known to Warden or not) is refused; hosted MCP servers must be named.
#[tokio::test]
async fn responses_tools_of_every_type_and_hosted_mcp_servers() {
    let w = World::start(TOOL_TYPES).await;
    let alice = w.token("alice").await; // eng: every endpoint
    let respond = |tools: serde_json::Value| {
        w.http
            .post(w.gw.url("/v1/responses"))
            .bearer_auth(&alice)
            .json(&json!({"model": "gpt-4o", "input": "hi", "tools": tools}))
            .send()
    };
    for tool in [
        json!({"type": "computer_use_preview", "display_width": 1024, "display_height": 768, "environment": "browser"}),
        json!({"type": "code_interpreter", "container": {"type": "auto"}}),
        json!({"type": "image_generation"}),
        json!({"type": "local_shell"}),
        json!({"type": "web_search_preview"}),
        json!({"type": "custom", "name": "sql"}),
        json!({"type": "brand_new_tool_2031"}),
    ] {
        let resp = respond(json!([tool])).await.expect("send");
        let err = expect_error(resp, 403, "content_blocked").await;
        let ty = tool["type"].as_str().unwrap_or_default().to_lowercase();
        assert!(
            err["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("known-tools") && m.contains(&ty)),
            "{err}"
        );
    }
    let ok = json!([{"type": "function", "name": "lookup", "parameters": {"type": "object"}},
        {"type": "web_search"}, {"type": "file_search", "vector_store_ids": []}]);
    assert_eq!(respond(ok).await.expect("send").status(), 200);

    // Hosted MCP: only servers a rule names, by URL prefix or connector.
    for (tool, allowed) in [
        (
            json!({"type": "mcp", "server_label": "gh", "server_url": "https://mcp.example.com/github/v1"}),
            true,
        ),
        (
            json!({"type": "mcp", "server_label": "mail", "connector_id": "connector_gmail"}),
            true,
        ),
        (
            json!({"type": "mcp", "server_label": "gh", "server_url": "https://mcp.example.com/githubber"}),
            false,
        ),
        (
            json!({"type": "mcp", "server_label": "gh", "server_url": "https://mcp.example.com.evil.io/github"}),
            false,
        ),
        (
            json!({"type": "mcp", "server_label": "connector_gmail", "server_url": "https://evil.io/"}),
            false,
        ),
        (
            json!({"type": "mcp", "server_label": "drive", "connector_id": "connector_googledrive"}),
            false,
        ),
    ] {
        let resp = respond(json!([tool])).await.expect("send");
        if allowed {
            assert_eq!(resp.status(), 200, "{tool}");
        } else {
            expect_error(resp, 403, "mcp_server_not_allowed").await;
        }
    }
    assert_eq!(w.mock.requests().len(), 3);
}

/// Without any rule naming servers, a hosted MCP tool is refused: fail
/// closed. Cedar sees the servers too.
#[tokio::test]
async fn hosted_mcp_is_closed_by_default_and_visible_to_cedar() {
    let w = World::start(
        r#"
[[content.rule]]
id = "mcp-for-interns"
groups = ["interns"]
allow_mcp_servers = ["https://mcp.example.com/"]
"#,
    )
    .await;
    let alice = w.token("alice").await; // eng: no rule names any server
    let resp = w
        .http
        .post(w.gw.url("/v1/responses"))
        .bearer_auth(&alice)
        .json(&json!({"model": "gpt-4o", "input": "hi",
            "tools": [{"type": "mcp", "server_label": "gh", "server_url": "https://mcp.example.com/gh"}]}))
        .send()
        .await
        .expect("send");
    let err = expect_error(resp, 403, "mcp_server_not_allowed").await;
    assert!(
        err["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("https://mcp.example.com/gh"))
    );

    // Cedar: a forbid on the server's URL in context.mcp_servers.
    let cedar_policy = r#"
[policy.groups.eng]
models = ["gpt-4o*"]
endpoints = ["*"]

[policy]
cedar = '''
@id("no-evil-mcp")
@reason("that MCP server is not allowed")
forbid (principal, action, resource)
when { context.mcp_servers.contains("https://mcp.example.com/evil") };
'''
"#;
    let w = World::start_with_policy(
        r#"
[[content.rule]]
id = "mcp"
allow_mcp_servers = ["https://mcp.example.com/"]
"#,
        cedar_policy,
    )
    .await;
    let alice = w.token("alice").await;
    let send = |url: &str| {
        w.http
            .post(w.gw.url("/v1/responses"))
            .bearer_auth(&alice)
            .json(&json!({"model": "gpt-4o", "input": "hi",
                "tools": [{"type": "mcp", "server_label": "x", "server_url": url}]}))
            .send()
    };
    let err = expect_error(
        send("https://mcp.example.com/evil").await.expect("send"),
        403,
        "policy_denied",
    )
    .await;
    assert!(
        err["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no-evil-mcp"))
    );
    assert_eq!(
        send("https://mcp.example.com/good")
            .await
            .expect("send")
            .status(),
        200
    );
}

/// A cap is a cap: set when the request states none, in the field the
/// endpoint reads; `n` multiplies what is asked.
#[tokio::test]
async fn output_caps_are_set_when_absent_and_multiplied_by_n() {
    let w = World::start(
        r#"
[[content.rule]]
id = "cap"
max_output_tokens = 300
"#,
    )
    .await;
    let alice = w.token("alice").await;
    let last_body = |w: &World| -> serde_json::Value {
        let reqs = w.mock.requests();
        serde_json::from_slice(&reqs.last().expect("forwarded").body).expect("json")
    };
    // Chat without a cap: max_completion_tokens is set.
    assert_eq!(w.chat(&alice, chat_body("gpt-4o")).await.status(), 200);
    assert_eq!(last_body(&w)["max_completion_tokens"], 300);
    // ... divided among n choices.
    let mut b = chat_body("gpt-4o");
    b["n"] = json!(4);
    assert_eq!(w.chat(&alice, b).await.status(), 200);
    assert_eq!(last_body(&w)["max_completion_tokens"], 75);
    // A key present as null is replaced, not duplicated.
    let mut b = chat_body("gpt-4o");
    b["max_completion_tokens"] = serde_json::Value::Null;
    assert_eq!(w.chat(&alice, b).await.status(), 200);
    assert_eq!(last_body(&w)["max_completion_tokens"], 300);
    // Responses: max_output_tokens.
    let resp = w
        .http
        .post(w.gw.url("/v1/responses"))
        .bearer_auth(&alice)
        .json(&json!({"model": "gpt-4o", "input": "hi"}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    assert_eq!(last_body(&w)["max_output_tokens"], 300);
    let forwarded = w.mock.requests().len();
    // A stated cap times n over the rule's cap is refused.
    let mut b = chat_body("gpt-4o");
    b["max_tokens"] = json!(100);
    b["n"] = json!(4);
    let err = expect_error(w.chat(&alice, b).await, 403, "content_blocked").await;
    assert!(
        err["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("cap"))
    );
    // More choices than tokens: nothing fits.
    let mut b = chat_body("gpt-4o");
    b["n"] = json!(301);
    expect_error(w.chat(&alice, b).await, 403, "content_blocked").await;
    assert_eq!(w.mock.requests().len(), forwarded);
}

/// Denied terms cannot be dodged by spelling, by splitting them across
/// messages, or by hiding them in tool descriptions and schemas.
#[tokio::test]
async fn denied_terms_survive_spelling_splitting_and_hiding() {
    let w = World::start(RULES).await;
    let alice = w.token("alice").await;
    let chat = |content: &str| {
        let mut b = chat_body("gpt-4o-mini");
        b["messages"][0]["content"] = json!(content);
        b
    };
    for text in [
        "status of Project\u{200B} Fal\u{200C}con?",
        "status of Ｐｒｏｊｅｃｔ Ｆａｌｃｏｎ?",
        "status of Project\u{00A0}\u{00A0}Falcon?",
        "status of Proj\u{0435}ct F\u{0430}lcon?", // Cyrillic look-alikes
        "status of Project\u{2060}Fa\u{00AD}lcon"
            .replace('\u{2060}', "\n ")
            .as_str(),
        "ticket ACME\u{200B}-1234 is open",
        "ticket ＡＣＭＥ-１２３４ is open",
    ] {
        let err = expect_error(w.chat(&alice, chat(text)).await, 403, "content_blocked").await;
        assert!(
            err["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("no-codenames") && !m.to_lowercase().contains("falcon")),
            "{text:?}: {err}"
        );
    }
    // Split across two messages.
    let mut b = chat_body("gpt-4o-mini");
    b["messages"] = json!([
        {"role": "user", "content": "tell me about Project Fal"},
        {"role": "user", "content": "con and its budget"}
    ]);
    expect_error(w.chat(&alice, b).await, 403, "content_blocked").await;
    // In a tool's description, and in a response_format schema.
    let mut b = chat_body("gpt-4o-mini");
    b["tools"] = json!([{"type": "function", "function": {"name": "lookup",
        "description": "looks up Project Falcon budgets", "parameters": {"type": "object"}}}]);
    expect_error(w.chat(&alice, b).await, 403, "content_blocked").await;
    let mut b = chat_body("gpt-4o-mini");
    b["response_format"] = json!({"type": "json_schema", "json_schema": {"name": "r",
        "schema": {"type": "object", "properties": {"project_falcon": {"type": "string",
        "description": "the PROJECT FALCON code"}}}}});
    expect_error(w.chat(&alice, b).await, 403, "content_blocked").await;
    assert!(w.mock.requests().is_empty());
    // Masking still sees the original text: an ordinary call passes as sent.
    assert_eq!(
        w.chat(&alice, chat("Project Eagle status")).await.status(),
        200
    );
    let sent: serde_json::Value = serde_json::from_slice(&w.mock.requests()[0].body).expect("json");
    assert_eq!(sent["messages"][0]["content"], "Project Eagle status");
}

/// An approval rule on a tool sees legacy `functions` too.
#[tokio::test]
async fn an_approval_rule_on_a_tool_sees_legacy_functions() {
    let w = World::start(
        r#"
[approvals]
approver_groups = ["security"]

[[approvals.rule]]
id = "deploys"
tools = ["function:Deploy*"]
mode = "async"
"#,
    )
    .await;
    let alice = w.token("alice").await;
    for extra in [
        json!({"functions": [{"name": "deploy_prod", "parameters": {"type": "object"}}]}),
        json!({"function_call": {"name": "deploy_prod"}}),
        json!({"tools": [{"type": "function", "function": {"name": "DEPLOY_prod"}}]}),
    ] {
        let mut b = chat_body("gpt-4o");
        for (k, v) in extra.as_object().expect("object") {
            b[k] = v.clone();
        }
        let err = expect_error(w.chat(&alice, b).await, 403, "approval_required").await;
        assert!(
            err["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("`deploys`"))
        );
    }
    assert!(w.mock.requests().is_empty());
}
