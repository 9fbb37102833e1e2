//! The model's answer, streamed as chat SSE in any pieces and any byte
//! chunks, must read (concatenated `delta.content`) the same as restoring and
//! masking the whole text at once: what `SseRewriter` promises.
//!
//! Input layout: one byte `n`, then `n` piece lengths (one byte each; a zero
//! is an empty delta), then one byte choosing output masking on (odd) or off,
//! then the text. In the text, the bytes 0x01 to 0x07 stand for the
//! placeholders below, so the fuzzer reaches them without having to guess
//! their spelling; every other byte is itself. The SSE bytes are fed to the
//! rewriter in chunks of the same lengths, so event and chunk boundaries fall
//! differently.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use warden_pii::mask::{Action, KINDS, Profile};
use warden_pii::stream::{Answer, SseRewriter};

const PAIRS: &[(&str, &str)] = &[
    ("<EMAIL_1>", "jane@example.com"),
    ("<EMAIL_12>", "bob@example.org"),
    ("<PAYMENT_CARD_3>", "4111 1111 1111 1111"),
    // A value with JSON specials and text that looks like a placeholder: it
    // must come out verbatim and never be restored a second time.
    ("<SECRET_1>", "a\"b\\c <EMAIL_1> <x"),
    ("<IP_ADDRESS_2>", "<EMAIL_12>"),
    // 32 bytes, the longest restoring looks for, and 33, which it never
    // restores: either way the two paths must agree.
    ("<PAYMENT_CARD_12345678901234567>", "long"),
    ("<PAYMENT_CARD_123456789012345678>", "too long"),
];

fn answer(mask: bool) -> Answer {
    let output = mask.then(|| {
        std::sync::Arc::new(Profile {
            name: "out".into(),
            actions: KINDS.iter().map(|k| (*k, Action::Redact)).collect(),
            ..Profile::default()
        })
    });
    Answer::new(PAIRS.iter().copied(), output)
}

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n % 64).min(rest.len());
    let (sizes, rest) = rest.split_at(n);
    let Some((&mode, raw)) = rest.split_first() else {
        return;
    };
    let Ok(text) = String::from_utf8(expand(raw)) else {
        return;
    };
    let mask = mode & 1 == 1;
    let expected = answer(mask).text(&text);

    // Pieces of the text (at char boundaries) become content deltas.
    let mut sse = String::new();
    let mut at = 0;
    let chunk = |content: &str, finish: Value| {
        let v = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}]});
        format!("data: {v}\n\n")
    };
    for size in sizes {
        let mut end = (at + usize::from(*size)).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        sse.push_str(&chunk(&text[at..end], Value::Null));
        at = end;
    }
    sse.push_str(&chunk(&text[at..], json!("stop")));
    sse.push_str("data: [DONE]\n\n");

    let mut rw = SseRewriter::new(answer(mask));
    let mut out = Vec::new();
    let bytes = sse.as_bytes();
    let mut at = 0;
    for size in sizes.iter().rev() {
        let end = (at + usize::from(*size) * 3).min(bytes.len());
        out.extend(rw.push(&bytes[at..end]));
        at = end;
    }
    out.extend(rw.push(&bytes[at..]));
    out.extend(rw.finish());
    let out = String::from_utf8(out).expect("UTF-8 out");
    let streamed: String = out
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str::<Value>(d).expect("every event is JSON"))
        .filter_map(|v| v["choices"][0]["delta"]["content"].as_str().map(str::to_owned))
        .collect();
    assert!(
        streamed == expected,
        "pieces {sizes:?}, mask {mask}, text {text:?}:\n streamed {streamed:?}\n whole    {expected:?}"
    );
});

fn expand(raw: &[u8]) -> Vec<u8> {
    let mut text = Vec::with_capacity(raw.len() * 2);
    for &b in raw {
        match PAIRS.get(usize::from(b).wrapping_sub(1)) {
            Some((placeholder, _)) => text.extend_from_slice(placeholder.as_bytes()),
            _ => text.push(b),
        }
    }
    text
}
