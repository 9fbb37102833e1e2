use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::mask::{Action, KINDS, Profile};

fn redact_all() -> Profile {
    Profile {
        name: "out".into(),
        actions: KINDS.iter().map(|k| (*k, Action::Redact)).collect(),
        ..Profile::default()
    }
}

fn chat_events(pieces: &[&str]) -> String {
    let mut s = String::new();
    for p in pieces {
        let chunk = json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": null}]});
        s.push_str(&format!("data: {chunk}\n\n"));
    }
    let end = json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
    s.push_str(&format!("data: {end}\n\ndata: [DONE]\n\n"));
    s
}

fn events(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).expect("event JSON"))
        .collect()
}

fn chat_text(body: &str) -> String {
    events(body)
        .iter()
        .filter_map(|v| {
            v.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
        })
        .collect()
}

fn run(rw: &mut SseRewriter, body: &str, split: &[usize]) -> String {
    let mut out = Vec::new();
    let mut at = 0;
    for &cut in split {
        let cut = cut.clamp(at, body.len());
        out.extend(rw.push(&body.as_bytes()[at..cut]));
        at = cut;
    }
    out.extend(rw.push(&body.as_bytes()[at..]));
    out.extend(rw.finish());
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn a_placeholder_split_across_events_is_restored() {
    let answer = Answer::new([("<EMAIL_1>", "jane@example.com")], None);
    let mut rw = SseRewriter::new(answer);
    let body = chat_events(&["Write to ", "<", "EMAIL", "_1", "> today"]);
    let out = run(&mut rw, &body, &[]);
    assert_eq!(chat_text(&out), "Write to jane@example.com today");
    assert!(out.trim_end().ends_with("data: [DONE]"));
    // Nothing else was held: the first event went out whole.
    assert_eq!(
        events(&out)[0]["choices"][0]["delta"]["content"],
        "Write to "
    );
}

#[test]
fn restoring_holds_back_at_most_a_placeholder() {
    let answer = Answer::new([("<EMAIL_1>", "j@x.io")], None);
    let held = |s: &str| s.len() - answer.safe_len(s);
    assert_eq!(held("plain text"), 0);
    assert_eq!(held("see <EMA"), 4);
    assert_eq!(
        held("a < b and more"),
        0,
        "a `<` followed by a space-free run is not held forever"
    );
    assert!(held(&format!("<{}", "x".repeat(40))) == 0);
}

#[test]
fn output_masking_sees_a_card_split_across_events() {
    let answer = Answer::new([], Some(redact_all().into()));
    let mut rw = SseRewriter::new(answer);
    let body = chat_events(&["Your card is 4111 ", "1111 11", "11 1111", ", thanks."]);
    let out = run(&mut rw, &body, &[]);
    assert_eq!(chat_text(&out), "Your card is [PAYMENT_CARD], thanks.");
    let digits: String = out.chars().filter(char::is_ascii_digit).collect();
    assert!(!digits.contains("4111111111111111"), "{out}");
    assert_eq!(rw.answer().findings().len(), 1);
}

#[test]
fn held_text_goes_out_in_the_finish_chunk_or_before_done() {
    let answer = Answer::new([], Some(redact_all().into()));
    let mut rw = SseRewriter::new(answer);
    // The stream ends without finish_reason: an inserted chunk carries the rest.
    let body = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"mail me at bob@example.org\"},\"finish_reason\":null}]}\n\ndata: [DONE]\n\n";
    let out = run(&mut rw, body, &[]);
    assert_eq!(chat_text(&out), "mail me at [EMAIL]");
    let done = out.find("[DONE]").expect("done");
    assert!(out[..done].contains("[EMAIL]"), "released before [DONE]");
}

#[test]
fn tool_call_arguments_are_restored_and_masked() {
    let answer = Answer::new(
        [("<EMAIL_1>", "amy@example.com")],
        Some(redact_all().into()),
    );
    let mut rw = SseRewriter::new(answer);
    let chunk = |args: &str, finish: Option<&str>| {
        json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": args}}]},
            "finish_reason": finish}]})
    };
    let mut body = String::new();
    for (a, f) in [
        ("{\"to\":\"<EMA", None),
        ("IL_1>\",\"cc\":\"eve@", None),
        ("example.net\"}", None),
        ("", Some("tool_calls")),
    ] {
        body.push_str(&format!("data: {}\n\n", chunk(a, f)));
    }
    let out = run(&mut rw, &body, &[]);
    let args: String = events(&out)
        .iter()
        .filter_map(|v| {
            v.pointer("/choices/0/delta/tool_calls/0/function/arguments")
                .and_then(Value::as_str)
        })
        .collect();
    assert_eq!(args, r#"{"to":"amy@example.com","cc":"[EMAIL]"}"#);
}

fn responses_body(pieces: &[&str]) -> String {
    let mut s = String::new();
    let mut seq = 0;
    let mut ev = |v: Value| {
        let t = v["type"].as_str().unwrap_or_default().to_owned();
        let mut v = v;
        v["sequence_number"] = json!(seq);
        seq += 1;
        s.push_str(&format!("event: {t}\ndata: {v}\n\n"));
    };
    ev(
        json!({"type": "response.created", "response": {"id": "r", "object": "response", "output": []}}),
    );
    for p in pieces {
        ev(
            json!({"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": p}),
        );
    }
    let full: String = pieces.concat();
    ev(
        json!({"type": "response.output_text.done", "item_id": "msg_1", "output_index": 0, "content_index": 0, "text": full}),
    );
    ev(
        json!({"type": "response.completed", "response": {"id": "r", "object": "response", "output": [
        {"type": "message", "id": "msg_1", "role": "assistant", "content": [{"type": "output_text", "text": full}]}]}}),
    );
    s
}

#[test]
fn responses_stream_gets_an_inserted_delta_and_consecutive_sequence_numbers() {
    let answer = Answer::new(
        [("<PHONE_NUMBER_1>", "+44 20 7946 0958")],
        Some(redact_all().into()),
    );
    let mut rw = SseRewriter::new(answer);
    let body = responses_body(&["Call <PHONE_NUMBER_1> or ", "me at 415-555-", "2671"]);
    let out = run(&mut rw, &body, &[]);
    let evs = events(&out);
    let seqs: Vec<u64> = evs
        .iter()
        .map(|v| v["sequence_number"].as_u64().expect("seq"))
        .collect();
    assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>(), "{out}");
    let streamed: String = evs
        .iter()
        .filter(|v| v["type"] == "response.output_text.delta")
        .filter_map(|v| v["delta"].as_str())
        .collect();
    let want = "Call +44 20 7946 0958 or me at [PHONE_NUMBER]";
    assert_eq!(streamed, want);
    let done = evs
        .iter()
        .find(|v| v["type"] == "response.output_text.done")
        .expect("done");
    assert_eq!(done["text"], want);
    let completed = evs.last().expect("completed");
    assert_eq!(
        completed["response"]["output"][0]["content"][0]["text"],
        want
    );
    // The `event:` line of the inserted delta names its type.
    assert!(!out.contains(
        "event: response.output_text.done\ndata: {\"type\":\"response.output_text.delta\""
    ));
    assert!(!out.contains("415-555-2671"));
}

#[test]
fn unreadable_events_do_not_pass_unread() {
    let answer = Answer::new([], Some(redact_all().into()));
    let mut rw = SseRewriter::new(answer);
    let out = run(&mut rw, "data: {not json 4111 1111 1111 1111\n\n", &[]);
    assert!(!out.contains("4111"), "{out}");
    assert!(out.starts_with(": warden"));
}

#[test]
fn json_answers_are_masked_and_restored() {
    let mut answer = Answer::new(
        [("<EMAIL_1>", "jane@example.com")],
        Some(redact_all().into()),
    );
    let mut v = json!({"object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant",
        "content": "Hi <EMAIL_1>, your SSN 123-45-6789 is on file",
        "tool_calls": [{"id": "t", "type": "function", "function": {"name": "f", "arguments": "{\"ip\":\"10.1.2.3\"}"}}]}}]});
    answer.json_body(&mut v);
    assert_eq!(
        v["choices"][0]["message"]["content"], "Hi jane@example.com, your SSN [US_SSN] is on file",
        "the restored value is the caller's own and is not masked again"
    );
    assert_eq!(
        v["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
        "{\"ip\":\"[IP_ADDRESS]\"}"
    );
}

#[test]
fn text_outside_choices_and_output_is_masked_too() {
    let mut answer = Answer::new([], Some(redact_all().into()));
    let mut v =
        json!({"text": "call 415-555-2671", "segments": [{"id": 0, "text": "ssn 123-45-6789"}]});
    answer.json_body(&mut v);
    assert_eq!(v["text"], "call [PHONE_NUMBER]");
    assert_eq!(v["segments"][0]["text"], "ssn [US_SSN]");
    // A vector store search page and a stored chat completion's messages.
    let mut v = json!({"object": "list", "data": [
        {"file_id": "file-1", "content": [{"type": "text", "text": "ip 10.1.2.3"}]},
        {"type": "text", "text": "ssn 123-45-6789"},
        {"id": "m1", "role": "assistant", "content": "ip 10.9.8.7"}]});
    answer.json_body(&mut v);
    assert_eq!(v["data"][0]["content"][0]["text"], "ip [IP_ADDRESS]");
    assert_eq!(v["data"][1]["text"], "ssn [US_SSN]");
    assert_eq!(v["data"][2]["content"], "ip [IP_ADDRESS]");
    assert_eq!(v["data"][0]["file_id"], "file-1", "ids are left alone");
}

proptest! {
    /// However the bytes are split, the caller reads the same text: what
    /// restoring and masking the whole answer at once gives.
    #[test]
    fn any_split_gives_the_same_text(
        splits in proptest::collection::vec(0usize..400, 0..12),
        mask in any::<bool>(),
    ) {
        let pieces = ["Dear <EMAIL_1>", ", card 4111 1111 ", "1111 1111 and <", "EMAIL_2> ", "from 10.0.", "0.7 ok"];
        let body = chat_events(&pieces);
        let make = || Answer::new(
            [("<EMAIL_1>", "a@x.io"), ("<EMAIL_2>", "b@y.io")],
            mask.then(|| redact_all().into()),
        );
        let mut sorted = splits.clone();
        sorted.sort_unstable();
        let mut rw = SseRewriter::new(make());
        let out = run(&mut rw, &body, &sorted);
        let whole = make().text(&pieces.concat());
        prop_assert_eq!(chat_text(&out), whole);
    }
}

#[test]
fn placeholders_written_with_json_escapes_are_restored_too() {
    let answer = Answer::new([("<EMAIL_1>", "jane@example.com")], None);
    let mut rw = SseRewriter::new(answer);
    let body = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi \\u003cEMAIL_1\\u003e\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
    let out = run(&mut rw, body, &[]);
    assert_eq!(chat_text(&out), "hi jane@example.com");
}

#[test]
fn restored_values_with_json_specials_stay_valid_json() {
    let answer = Answer::new([("<SECRET_1>", "a\"b\\c <EMAIL_1>")], None);
    let mut rw = SseRewriter::new(answer);
    let out = run(
        &mut rw,
        &chat_events(&["key <SECRET_1>", " and <EMAIL_1>"]),
        &[],
    );
    // Every event still parses, and the value is restored once, verbatim: the
    // placeholder-looking text inside it is not restored again.
    assert_eq!(chat_text(&out), "key a\"b\\c <EMAIL_1> and <EMAIL_1>");
}

/// Found by the `restore_stream` fuzz target: a `<` followed by multi-byte
/// characters near the placeholder length panicked on a char boundary.
#[test]
fn a_less_than_sign_before_multibyte_text_is_not_a_panic() {
    let mut answer = Answer::new([("<EMAIL_1>", "j@x.io")], None);
    let text = format!("<{}K and <EMAIL_1>", "é".repeat(15));
    assert_eq!(
        answer.text(&text),
        format!("<{}K and j@x.io", "é".repeat(15))
    );
    for n in 0..40 {
        let text = format!("<{}{}", "a".repeat(n), "ü".repeat(20));
        assert_eq!(answer.text(&text), text);
    }
}

/// Found by the `restore_stream` fuzz target: a value found only by trying
/// a shorter prefix of a longer digit run (then `3399900000 00807`, a phone;
/// here a card and its CVV) was released in a piece that ended before the
/// rest of the run, and that piece alone did not show it: the text left
/// unmasked.
#[test]
fn a_value_that_depends_on_the_text_after_it_is_masked_in_streams_too() {
    let text = "ref 4111 1111 1111 1111 123: done, and here is a good deal more text, \
                enough to push the hold window well past it. The end.";
    let whole = Answer::new([], Some(redact_all().into())).text(text);
    assert!(whole.contains("[PAYMENT_CARD]"), "{whole}");
    // One character a delta: every length of held text occurs, so the cut
    // falls between `3399900000` and `00807` at some point.
    let pieces: Vec<String> = text.chars().map(String::from).collect();
    let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
    let mut rw = SseRewriter::new(Answer::new([], Some(redact_all().into())));
    let out = run(&mut rw, &chat_events(&pieces), &[]);
    assert_eq!(chat_text(&out), whole);
}
