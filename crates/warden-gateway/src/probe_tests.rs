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
        got.tools,
        [
            "function",
            "function:get_weather",
            "computer_use_preview",
            "function",
            "function:lookup"
        ]
    );
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
