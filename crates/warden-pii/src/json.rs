//! Masking a request body by what its fields mean, not by its bytes: every
//! text the upstream will read, wherever the API puts it. Values written with
//! `\uXXXX` escapes are decoded by the JSON parser first, so they are caught
//! too. Everything else in the body is left as it was (with serde_json's
//! `preserve_order`, keys keep their order on re-serialization).
//!
//! | API | text fields |
//! |---|---|
//! | chat | `messages[].content` (string, or parts' `text`), `messages[].tool_calls[].function.arguments` |
//! | responses | `instructions`; `input` (string, or items: `content` string/parts' `text`, `function_call.arguments`, `function_call_output.output`) |
//! | completions, image generation | `prompt` (string or strings) |
//! | embeddings, moderations, speech | `input` (string, strings, or parts' `text`) |
//! | vector store search | `query` |

use serde_json::Value;

use crate::mask::{Action, External, Masked, Profile, Session};

/// Which request shape a body has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Chat,
    Responses,
    /// Text in one top-level field: `prompt` (completions, image
    /// generation), `input` (embeddings, moderations, speech), `query`
    /// (vector store search).
    Field(&'static str),
    /// Every string anywhere in the body, except the structural fields in
    /// [`STRUCTURAL_KEYS`] (ids, times, type tags): for bodies whose text
    /// can be anywhere, such as agent trace spans (tool inputs and outputs,
    /// generation inputs, errors, metadata).
    Everything,
}

/// Fields [`Shape::Everything`] leaves alone: they name and order things
/// and hold no free text, and masking them would break the joins built on
/// them.
pub const STRUCTURAL_KEYS: [&str; 9] = [
    "object",
    "id",
    "trace_id",
    "parent_id",
    "group_id",
    "response_id",
    "started_at",
    "ended_at",
    "type",
];

/// What was masked where: an entity type, the action, the field path and how
/// many times. Never the value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldFinding {
    pub path: String,
    pub kind: &'static str,
    pub action: Action,
    pub count: usize,
}

/// Calls `f` with every text field the upstream reads (a JSON string value)
/// and its path. The one definition of "the text" that masking and content
/// rules share.
pub fn visit_texts(shape: Shape, body: &mut Value, f: &mut dyn FnMut(&mut Value, &str)) {
    match shape {
        Shape::Chat => {
            let Some(messages) = body.get_mut("messages").and_then(Value::as_array_mut) else {
                return;
            };
            for (i, m) in messages.iter_mut().enumerate() {
                if let Some(c) = m.get_mut("content") {
                    content(c, &format!("messages[{i}].content"), f);
                }
                if let Some(calls) = m.get_mut("tool_calls").and_then(Value::as_array_mut) {
                    for (k, call) in calls.iter_mut().enumerate() {
                        if let Some(args) = call.pointer_mut("/function/arguments") {
                            text(
                                args,
                                &format!("messages[{i}].tool_calls[{k}].function.arguments"),
                                f,
                            );
                        }
                    }
                }
            }
        }
        Shape::Responses => {
            if let Some(v) = body.get_mut("instructions") {
                text(v, "instructions", f);
            }
            let Some(input) = body.get_mut("input") else {
                return;
            };
            if input.is_string() {
                text(input, "input", f);
                return;
            }
            let Some(items) = input.as_array_mut() else {
                return;
            };
            for (i, item) in items.iter_mut().enumerate() {
                let Some(obj) = item.as_object_mut() else {
                    continue;
                };
                for field in ["content", "arguments", "output"] {
                    if let Some(v) = obj.get_mut(field) {
                        content(v, &format!("input[{i}].{field}"), f);
                    }
                }
            }
        }
        Shape::Field(name) => {
            if let Some(p) = body.get_mut(name) {
                content(p, name, f);
            }
        }
        Shape::Everything => everything(body, &mut String::new(), f),
    }
}

/// Every string under `v` (see [`Shape::Everything`]), depth first, with
/// its path (`data[3].span_data.input`).
fn everything(v: &mut Value, path: &mut String, f: &mut dyn FnMut(&mut Value, &str)) {
    let len = path.len();
    match v {
        Value::String(_) => f(v, path),
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                use std::fmt::Write;
                let _ = write!(path, "[{i}]");
                everything(item, path, f);
                path.truncate(len);
            }
        }
        Value::Object(fields) => {
            for (key, item) in fields.iter_mut() {
                if STRUCTURAL_KEYS.contains(&key.as_str()) {
                    continue;
                }
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                everything(item, path, f);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

fn text(v: &mut Value, path: &str, f: &mut dyn FnMut(&mut Value, &str)) {
    if v.is_string() {
        f(v, path);
    }
}

/// A string, an array of strings, or an array of parts with `text`.
fn content(v: &mut Value, path: &str, f: &mut dyn FnMut(&mut Value, &str)) {
    match v {
        Value::String(_) => f(v, path),
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                match item {
                    Value::String(_) => f(item, &format!("{path}[{i}]")),
                    Value::Object(part) => {
                        if let Some(t) = part.get_mut("text") {
                            text(t, &format!("{path}[{i}].text"), f);
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

/// Masks the body in place; returns what was masked (empty: body unchanged).
pub fn mask_request(
    shape: Shape,
    body: &mut Value,
    profile: &Profile,
    session: &mut Session,
) -> Vec<FieldFinding> {
    mask_request_with(shape, body, profile, session, &mut |_, _| Vec::new())
}

/// [`mask_request`] with findings from outside merged in: `extra(i, text)`
/// gives them for the `i`-th text [`visit_texts`] visits (counting every
/// text, empty ones too), so a caller can first collect the texts with
/// `visit_texts`, have them analyzed, then mask with the answers.
pub fn mask_request_with(
    shape: Shape,
    body: &mut Value,
    profile: &Profile,
    session: &mut Session,
    extra: &mut dyn FnMut(usize, &str) -> Vec<External>,
) -> Vec<FieldFinding> {
    let mut found: Vec<FieldFinding> = Vec::new();
    let mut index = 0;
    visit_texts(shape, body, &mut |v, path| {
        let Value::String(s) = v else { return };
        let i = index;
        index += 1;
        let external = extra(i, s);
        let mut masked = Vec::new();
        let Some(new) = profile.mask_with(s, &external, session, &mut masked) else {
            return;
        };
        *s = new;
        // This field's entries are the ones appended from here on: the
        // search stays within them, not every field's.
        let from = found.len();
        for Masked { kind, action } in masked {
            match found[from..]
                .iter_mut()
                .find(|f| f.kind == kind && f.action == action)
            {
                Some(f) => f.count += 1,
                None => found.push(FieldFinding {
                    path: path.to_owned(),
                    kind,
                    action,
                    count: 1,
                }),
            }
        }
    });
    found
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::mask::KINDS;

    fn redact_all() -> Profile {
        Profile {
            name: "all".into(),
            actions: KINDS.iter().map(|k| (*k, Action::Redact)).collect(),
            hash_key: Vec::new(),
            ..Profile::default()
        }
    }

    #[test]
    fn everything_masks_every_text_but_ids_and_times() {
        let mut body = json!({"data": [
            {"object": "trace", "id": "trace_1", "group_id": "thread_bob@example.com",
             "metadata": {"owner": "bob@example.com"}},
            {"object": "trace.span", "id": "span_1", "trace_id": "trace_1", "parent_id": null,
             "started_at": "2026-11-24T10:00:00.000000+00:00",
             "span_data": {"type": "function", "name": "lookup",
                           "input": "{\"card\":\"4111 1111 1111 1111\"}",
                           "output": ["call jane@example.org", 4111]},
             "error": {"message": "no 123-45-6789", "data": null}}
        ]});
        let found = mask_request(
            Shape::Everything,
            &mut body,
            &redact_all(),
            &mut Session::default(),
        );
        let text = body.to_string();
        for raw in ["4111 1111", "jane@example.org", "123-45-6789"] {
            assert!(!text.contains(raw), "{raw} left in {text}");
        }
        assert_eq!(body["data"][0]["metadata"]["owner"], "[EMAIL]");
        // Structural fields are never rewritten: they join spans together.
        assert_eq!(body["data"][0]["group_id"], "thread_bob@example.com");
        assert_eq!(
            body["data"][1]["started_at"],
            "2026-11-24T10:00:00.000000+00:00"
        );
        let paths: Vec<&str> = found.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "data[0].metadata.owner",
                "data[1].span_data.input",
                "data[1].span_data.output[0]",
                "data[1].error.message"
            ]
        );
    }

    #[test]
    fn chat_every_role_parts_and_tool_arguments() {
        let mut body = json!({
            "model": "gpt-4o",
            "zz_unknown": {"kept": "bob@example.com"},
            "messages": [
                {"role": "system", "content": "escalate to ops@example.com"},
                {"role": "user", "content": [{"type": "text", "text": "card 4111-1111-1111-1111"}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{\"ssn\":\"123-45-6789\"}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "found jane@example.org"}
            ]
        });
        let found = mask_request(
            Shape::Chat,
            &mut body,
            &redact_all(),
            &mut Session::default(),
        );
        let text = body.to_string();
        for raw in [
            "ops@example.com",
            "4111-1111-1111-1111",
            "123-45-6789",
            "jane@example.org",
        ] {
            assert!(!text.contains(raw), "{raw} left in {text}");
        }
        assert_eq!(
            body["zz_unknown"]["kept"], "bob@example.com",
            "only text fields are touched"
        );
        assert_eq!(
            body["messages"][2]["tool_calls"][0]["function"]["arguments"],
            "{\"ssn\":\"[US_SSN]\"}"
        );
        let paths: Vec<&str> = found.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "messages[0].content",
                "messages[1].content[0].text",
                "messages[2].tool_calls[0].function.arguments",
                "messages[3].content"
            ]
        );
        // Key order survives.
        let keys: Vec<&String> = body
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys, ["model", "zz_unknown", "messages"]);
    }

    #[test]
    fn external_findings_are_asked_per_text_in_visit_order() {
        let mut body = json!({
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": ""},
                {"role": "user", "content": [{"type": "text", "text": "I am Zoë Saldaña"}, {"type": "text", "text": "from Paris, mail zoe@example.com"}]}
            ]
        });
        let mut texts = Vec::new();
        visit_texts(Shape::Chat, &mut body.clone(), &mut |v, _| {
            texts.push(v.as_str().unwrap_or_default().to_owned());
        });
        let mut profile = redact_all();
        profile.actions.insert("PERSON", Action::Pseudonymize);
        profile.actions.insert("LOCATION", Action::Redact);
        let mut asked = Vec::new();
        let found = mask_request_with(
            Shape::Chat,
            &mut body,
            &profile,
            &mut Session::default(),
            &mut |i, text| {
                assert_eq!(text, texts[i], "the same order as visit_texts");
                asked.push(i);
                // Code points, as an analyzer counts them.
                match i {
                    1 => External::from_code_points(text, [(5, 16, "PERSON")]),
                    2 => External::from_code_points(text, [(5, 10, "LOCATION")]),
                    _ => Vec::new(),
                }
            },
        );
        assert_eq!(asked, [0, 1, 2], "empty texts count too");
        assert_eq!(body["messages"][1]["content"][0]["text"], "I am <PERSON_1>");
        assert_eq!(
            body["messages"][1]["content"][1]["text"],
            "from [LOCATION], mail [EMAIL]"
        );
        let kinds: Vec<(&str, &str)> = found.iter().map(|f| (f.path.as_str(), f.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("messages[1].content[0].text", "PERSON"),
                ("messages[1].content[1].text", "LOCATION"),
                ("messages[1].content[1].text", "EMAIL"),
            ]
        );
    }

    #[test]
    fn escaped_values_are_masked() {
        let raw = r#"{"model":"m","input":"write to bob\u0040example.com"}"#;
        let mut body: Value = serde_json::from_str(raw).unwrap_or_default();
        let found = mask_request(
            Shape::Field("input"),
            &mut body,
            &redact_all(),
            &mut Session::default(),
        );
        assert_eq!(found.len(), 1);
        assert_eq!(body["input"], "write to [EMAIL]");
    }

    #[test]
    fn responses_items_and_instructions() {
        let mut body = json!({
            "model": "gpt-4o",
            "instructions": "reply to amy@example.com",
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "ip 10.1.2.3"}]},
                {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{\"card\":\"4111111111111111\"}"},
                {"type": "function_call_output", "call_id": "c", "output": "owner bob@example.com"}
            ]
        });
        let found = mask_request(
            Shape::Responses,
            &mut body,
            &redact_all(),
            &mut Session::default(),
        );
        assert_eq!(found.len(), 4);
        let text = body.to_string();
        for raw in [
            "amy@example.com",
            "10.1.2.3",
            "4111111111111111",
            "bob@example.com",
        ] {
            assert!(!text.contains(raw), "{raw} left in {text}");
        }
    }
}
