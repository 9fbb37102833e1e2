use super::*;

fn p(body: &str) -> Result<Probe, ProbeError> {
    probe(body.as_bytes(), 8)
}

#[test]
fn extracts_what_policy_needs() {
    let got = p(r#"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},
        "max_tokens":50,"messages":[{"role":"user","content":"hi"}],
        "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}},
                 {"type":"computer_use_preview"},{"type":"function","name":"lookup"}]}"#)
    .expect("valid");
    assert_eq!(got.model.as_deref(), Some("gpt-4o"));
    assert!(got.stream && got.has_stream_options);
    assert_eq!(got.max_tokens, Some(50));
    assert_eq!(
        got.tools.names,
        [
            "function",
            "function:get_weather",
            "computer_use_preview",
            "function:lookup"
        ]
    );
}

#[test]
fn every_way_of_naming_a_tool_lands_in_one_list() {
    let names = |body: &str| p(body).expect(body).tools.names;
    // Legacy chat functions and function_call.
    assert_eq!(
        names(
            r#"{"functions":[{"name":"Delete_User","parameters":{}}],"function_call":{"name":"wipe"}}"#
        ),
        ["function", "function:delete_user", "function:wipe"]
    );
    assert!(names(r#"{"function_call":"auto","tool_choice":"required"}"#).is_empty());
    // tool_choice in chat and Responses shapes, allowed_tools in both.
    assert_eq!(
        names(r#"{"tool_choice":{"type":"function","function":{"name":"a"}}}"#),
        ["function", "function:a"]
    );
    assert_eq!(
        names(
            r#"{"tool_choice":{"type":"allowed_tools","mode":"auto","tools":[{"type":"function","name":"b"},{"type":"image_generation"}]}}"#
        ),
        ["function", "function:b", "image_generation"]
    );
    assert_eq!(
        names(
            r#"{"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"required","tools":[{"type":"function","function":{"name":"c"}}]}}}"#
        ),
        ["function", "function:c"]
    );
    assert_eq!(
        names(
            r#"{"tools":[{"type":"custom","custom":{"name":"Grammar"}},{"type":"custom","name":"sql"}]}"#
        ),
        ["custom", "custom:grammar", "custom:sql"]
    );
    // Built-in tools of every kind are their type.
    assert_eq!(
        names(
            r#"{"tools":[{"type":"code_interpreter","container":{"type":"auto"}},{"type":"local_shell"},{"type":"file_search","vector_store_ids":["vs"]},{"type":"web_search"},{"type":"computer_use_preview","display_width":1}]}"#
        ),
        [
            "code_interpreter",
            "local_shell",
            "file_search",
            "web_search",
            "computer_use_preview"
        ]
    );
    // Zero-width characters and case do not make a new name.
    assert_eq!(
        names(r#"{"tools":[{"type":"function","function":{"name":"dele\u200bte_user"}}]}"#),
        ["function", "function:delete_user"]
    );
}

#[test]
fn hosted_mcp_servers_are_kept_apart() {
    let got = p(r#"{"tools":[
        {"type":"mcp","server_label":"GitHub","server_url":"https://mcp.example.com/gh","require_approval":"never"},
        {"type":"mcp","server_label":"mail","connector_id":"connector_gmail"}],
        "tool_choice":{"type":"mcp","server_label":"github","name":"create_issue"}}"#)
    .expect("valid");
    assert_eq!(got.tools.names, ["mcp", "mcp:github", "mcp:mail"]);
    assert_eq!(got.tools.mcp.len(), 3, "{:?}", got.tools.mcp);
    assert_eq!(
        got.tools.mcp_ids().collect::<Vec<_>>(),
        ["https://mcp.example.com/gh", "connector:connector_gmail"]
    );
}

#[test]
fn odd_tool_types_are_refused() {
    for body in [
        r#"{"tools":[{"type":"function:evil"}]}"#,
        r#"{"tools":[{"type":""}]}"#,
        r#"{"tools":["web_search"]}"#,
        r#"{"tools":[{"type":5}]}"#,
        r#"{"functions":{"name":"x"}}"#,
    ] {
        assert_eq!(p(body).expect_err(body).code(), "invalid_type", "{body}");
    }
}

#[test]
fn choices_multiply_the_output_cap() {
    let got = p(r#"{"max_completion_tokens":100,"n":4}"#).expect("valid");
    assert_eq!(
        (got.max_tokens, got.choices, got.output_tokens()),
        (Some(100), 4, Some(400))
    );
    let got = p(r#"{"max_tokens":null,"best_of":3,"n":2}"#).expect("valid");
    assert!(got.states_max_tokens);
    assert_eq!((got.max_tokens, got.choices), (None, 3));
    assert!(!p("{}").expect("valid").states_max_tokens);
    assert_eq!(p("{}").expect("valid").choices, 1);
}

#[test]
fn escaped_keys_are_still_keys() {
    // `\u006dodel` is `model`: a second spelling must count as a duplicate.
    let err = p(r#"{"model":"gpt-4o-mini","\u006dodel":"o3-pro"}"#).unwrap_err();
    assert_eq!(err, ProbeError::DuplicateKey("model".into()));
    let got = p(r#"{"\u006dodel":"o3-pro"}"#).expect("valid");
    assert_eq!(got.model.as_deref(), Some("o3-pro"));
}

#[test]
fn refuses_bad_bodies_with_codes() {
    let cases = [
        ("", "invalid_json"),
        ("{", "invalid_json"),
        ("[1,2]", "invalid_json"),
        ("{\"model\":\"a\"} trailing", "invalid_json"),
        ("{\"model\":1}", "invalid_type"),
        ("{\"stream\":\"yes\"}", "invalid_type"),
        ("{\"max_tokens\":-1}", "invalid_type"),
        ("{\"a\":1,\"a\":2}", "duplicate_key"),
        ("{\"a\":[[[[[[[[[1]]]]]]]]]}", "nesting_too_deep"),
        (
            "{\"tools\":[{\"function\":{\"parameters\":{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":1}}}}}}}]}",
            "nesting_too_deep",
        ),
    ];
    for (body, code) in cases {
        let err = p(body).expect_err(body);
        assert_eq!(err.code(), code, "{body}: {err}");
    }
}

#[test]
fn very_deep_input_does_not_overflow() {
    let body = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(
        probe(body.as_bytes(), 64).unwrap_err().code(),
        "nesting_too_deep"
    );
}

#[test]
fn depth_limit_is_exact() {
    // Top object is level 1; eight levels pass with a budget of 8.
    assert!(p("{\"a\":[[[[[[1]]]]]]}").is_ok());
}

#[test]
fn conversation_in_either_shape() {
    let got = p(r#"{"model":"m","conversation":"conv_1"}"#).expect("string");
    assert_eq!(got.conversation.as_deref(), Some("conv_1"));
    let got = p(r#"{"model":"m","conversation":{"id":"conv_2","extra":[1]}}"#).expect("object");
    assert_eq!(got.conversation.as_deref(), Some("conv_2"));
    assert_eq!(
        p(r#"{"conversation":null}"#).expect("null").conversation,
        None
    );
    for bad in [r#"{"conversation":5}"#, r#"{"conversation":{"name":"x"}}"#] {
        let err = p(bad).expect_err(bad);
        assert_eq!(
            (err.code(), err.param()),
            ("invalid_type", Some("conversation")),
            "{bad}"
        );
    }
    let deep = format!(
        "{{\"conversation\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert_eq!(
        probe(deep.as_bytes(), 64).unwrap_err().code(),
        "nesting_too_deep"
    );
}
