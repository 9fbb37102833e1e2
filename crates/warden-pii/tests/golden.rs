//! Golden files for body masking: for each action and each request shape, the
//! masked body as it would go upstream and what was recorded about it (field
//! path, entity type, action, count). A change to detection, to a placeholder
//! format or to which fields count as text shows up as a snapshot diff to
//! review, not as a silent change in what the upstream reads.
//!
//! Every input value is synthetic; each test also checks that no raw value
//! from its input reaches its snapshot, since a snapshot is a file anyone can
//! read. Update after an intended change with
//! `INSTA_UPDATE=always cargo test -p warden-pii --test golden`, then read
//! every changed `.snap` before committing it.
#![expect(
    clippy::expect_used,
    reason = "test helpers: a panic is how a test reports failure"
)]

use std::fmt::Write as _;

use serde_json::{Value, json};
use warden_pii::json::{FieldFinding, Shape, mask_request};
use warden_pii::mask::{Action, KINDS, Profile, Session};

const ACTIONS: [Action; 4] = [
    Action::Redact,
    Action::Partial,
    Action::Hash,
    Action::Pseudonymize,
];

/// The values the bodies below carry, each of which must be masked.
const RAW: &[&str] = &[
    "ops.lead@example.com",
    "jane.doe@example.co.uk",
    "bob@example.org",
    "amy@example.net",
    "4111 1111 1111 1111",
    "5555-5555-5555-4444",
    "10.0.12.7",
    "2001:db8::8a2e:370:7334",
    "123-45-6789",
    "DE89 3704 0044 0532 0130 00",
    "GB82WEST12345698765432",
    "+44 20 7946 0958",
    "AKIAIOSFODNN7EXAMPLE",
];

fn profile(action: Action) -> Profile {
    Profile {
        name: action.as_str().into(),
        actions: KINDS.iter().map(|k| (*k, action)).collect(),
        hash_key: b"golden-fixed-key".to_vec(),
        ..Profile::default()
    }
}

/// The masked body, pretty-printed, then the findings, one per line.
fn masked(shape: Shape, body: &Value, action: Action) -> String {
    let mut body = body.clone();
    let found = mask_request(shape, &mut body, &profile(action), &mut Session::default());
    let mut out = serde_json::to_string_pretty(&body).expect("a Value serializes");
    out.push_str("\n\nfindings (path, kind, action, count):\n");
    for FieldFinding {
        path,
        kind,
        action,
        count,
    } in &found
    {
        writeln!(out, "{path}  {kind}  {}  {count}", action.as_str()).expect("String write");
    }
    for raw in RAW {
        assert!(!out.contains(raw), "{raw} left in:\n{out}");
    }
    out
}

fn check(name: &str, shape: Shape, body: &Value) {
    for action in ACTIONS {
        let snapshot = masked(shape, body, action);
        insta::assert_snapshot!(format!("{name}-{}", action.as_str()), snapshot);
    }
}

#[test]
fn chat_completions() {
    let body = json!({
        "model": "gpt-4o",
        "temperature": 0.2,
        "messages": [
            {"role": "system", "content": "Escalate to ops.lead@example.com when unsure."},
            {"role": "user", "content": [
                {"type": "text", "text": "Refund card 4111 1111 1111 1111 for jane.doe@example.co.uk, seen from 10.0.12.7."},
                {"type": "image_url", "image_url": {"url": "https://example.com/receipt.png"}}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [{
                "id": "call_1",
                "type": "function",
                "function": {
                    "name": "lookup_customer",
                    "arguments": "{\"ssn\":\"123-45-6789\",\"iban\":\"DE89 3704 0044 0532 0130 00\"}"
                }
            }]},
            {"role": "tool", "tool_call_id": "call_1", "content": "Customer jane.doe@example.co.uk, phone +44 20 7946 0958, card 5555-5555-5555-4444."},
            {"role": "user", "content": "Also check 2001:db8::8a2e:370:7334 and key AKIAIOSFODNN7EXAMPLE."}
        ]
    });
    check("chat", Shape::Chat, &body);
}

#[test]
fn responses_string_input() {
    let body = json!({
        "model": "gpt-4o",
        "instructions": "Reply to bob@example.org only.",
        "input": "My IBAN is GB82WEST12345698765432 and my SSN 123-45-6789; mail bob@example.org.",
        "store": false
    });
    check("responses_string", Shape::Responses, &body);
}

#[test]
fn responses_items() {
    let body = json!({
        "model": "gpt-4o",
        "instructions": "The account owner is amy@example.net.",
        "input": [
            {"role": "user", "content": [
                {"type": "input_text", "text": "Card 4111 1111 1111 1111, from 10.0.12.7."},
                {"type": "input_image", "image_url": "https://example.com/id.png"}
            ]},
            {"type": "function_call", "call_id": "fc_1", "name": "charge",
             "arguments": "{\"card\":\"5555-5555-5555-4444\",\"email\":\"amy@example.net\"}"},
            {"type": "function_call_output", "call_id": "fc_1",
             "output": "Charged; receipt sent to amy@example.net, IBAN DE89 3704 0044 0532 0130 00."},
            {"role": "user", "content": "Call me on +44 20 7946 0958."}
        ]
    });
    check("responses_items", Shape::Responses, &body);
}

#[test]
fn embeddings_strings() {
    let body = json!({
        "model": "text-embedding-3-small",
        "input": [
            "Ticket from jane.doe@example.co.uk about card 4111 1111 1111 1111.",
            "No personal data in this one.",
            "SSN 123-45-6789 and host 10.0.12.7."
        ],
        "encoding_format": "float"
    });
    check("embeddings", Shape::Field("input"), &body);
}

#[test]
fn unicode_escaped_emails() {
    // The JSON parser decodes `\u0040` before detection sees the text.
    let raw = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"Write to bob\u0040example.org and amy\u0040example.net, cc bob\u0040example.org."}]}"#;
    assert!(!raw.contains('@'), "the input is escaped");
    let body: Value = serde_json::from_str(raw).expect("JSON");
    check("escaped", Shape::Chat, &body);
}
