//! Throughput of the detector and of body masking on OpenAI chat-completions
//! bodies of 1 KB and 32 KB, with and without personal data, each measured
//! against baselines in the same group and the same run (the machine is
//! shared, so only ratios between lines of one run mean anything):
//!
//! - `byte_pass`: count the `@` bytes, the floor for anything that reads
//!   every byte;
//! - `serde_roundtrip`: `serde_json::from_slice` then `to_vec` of the same
//!   body, the floor for a masker that parses the JSON to know which strings
//!   are text.
//!
//! `scan` runs the detector over the raw body text; `mask_request` parses the
//! body, masks every text field with a profile that redacts every entity type
//! and serializes it again, which is what the gateway pays per request.
//!
//! Run: `cargo bench -p warden-pii` (add `-- --warm-up-time 1
//! --measurement-time 3` for a quicker pass).
#![expect(
    clippy::expect_used,
    reason = "benchmark set-up: a failure is a bug in the benchmark"
)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use warden_pii::json::{Shape, mask_request};
use warden_pii::mask::{Action, KINDS, Profile, Session};

const CLEAN: &str = "Please summarise the quarterly report and list the three biggest risks, \
                     with owners and dates, in a short table. ";
const DIRTY: &str = "Contact jane.doe@example.com or +44 20 7946 0958, card 4111 1111 1111 1111, \
                     from 10.0.12.7, IBAN DE89 3704 0044 0532 0130 00, SSN 123-45-6789. ";
/// Filler that pads a body to its exact size: plain words, no JSON escapes.
const PAD: &str = "the quick brown fox jumps over the lazy dog ";

/// One user turn and an assistant reply; every fourth turn, starting with the
/// first (so the 1 KB body has one too), also a tool call with JSON arguments
/// and its result.
fn turn(i: usize, pii: bool) -> Vec<Value> {
    let says = if pii { DIRTY } else { CLEAN };
    let mut out = vec![
        json!({"role": "user", "content": format!("Turn {i}. {says}{CLEAN}")}),
        json!({"role": "assistant", "content": format!("Noted. {CLEAN}")}),
    ];
    if i.is_multiple_of(4) {
        let args = if pii {
            json!({"customer": "bob.smith@example.org", "card": "5555 5555 5555 4444", "ip": "192.168.1.20"})
        } else {
            json!({"customer": "the usual account", "report": "q3", "limit": 3})
        };
        out.push(json!({
            "role": "assistant",
            "content": null,
            "tool_calls": [{
                "id": format!("call_{i}"),
                "type": "function",
                "function": {"name": "lookup_customer", "arguments": args.to_string()}
            }]
        }));
        out.push(json!({"role": "tool", "tool_call_id": format!("call_{i}"), "content": format!("Found. {says}")}));
    }
    out
}

/// A chat-completions body of exactly `size` bytes once serialized.
fn chat_body(size: usize, pii: bool) -> Vec<u8> {
    let mut messages = vec![json!({"role": "system", "content": "You are a careful analyst."})];
    let body =
        |messages: &[Value]| json!({"model": "gpt-4o", "temperature": 0.2, "messages": messages});
    let mut i = 0;
    loop {
        let mut next = messages.clone();
        next.extend(turn(i, pii));
        next.push(json!({"role": "user", "content": ""}));
        if body(&next).to_string().len() > size {
            break;
        }
        messages = next;
        messages.pop();
        i += 1;
    }
    // The last user message takes whatever is left.
    messages.push(json!({"role": "user", "content": ""}));
    let short = size - body(&messages).to_string().len();
    let pad: String = PAD.chars().cycle().take(short).collect();
    if let Some(last) = messages.last_mut() {
        last["content"] = Value::String(pad);
    }
    let out = body(&messages).to_string().into_bytes();
    assert_eq!(out.len(), size, "body size");
    out
}

fn redact_all() -> Profile {
    Profile {
        name: "bench".into(),
        actions: KINDS.iter().map(|k| (*k, Action::Redact)).collect(),
        ..Profile::default()
    }
}

fn byte_pass(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'@').count()
}

fn serde_roundtrip(bytes: &[u8]) -> Vec<u8> {
    let v: Value = serde_json::from_slice(bytes).expect("bench body is JSON");
    serde_json::to_vec(&v).expect("a Value serializes")
}

fn mask_body(bytes: &[u8], profile: &Profile) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(bytes).expect("bench body is JSON");
    let found = mask_request(Shape::Chat, &mut v, profile, &mut Session::default());
    black_box(found);
    serde_json::to_vec(&v).expect("a Value serializes")
}

/// (label, body) for every size and content mix.
fn bodies() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (size, name) in [(1024, "1KB"), (32 * 1024, "32KB")] {
        for pii in [false, true] {
            let body = chat_body(size, pii);
            let text = std::str::from_utf8(&body).expect("UTF-8");
            let found = warden_pii::scan(text).len();
            // A clean body that produced findings would measure the wrong thing.
            assert_eq!(found == 0, !pii, "{name} pii={pii}: {found} findings");
            let label = format!("{name}/{}", if pii { "pii" } else { "clean" });
            out.push((label, body));
        }
    }
    out
}

fn scan(c: &mut Criterion) {
    let mut group = c.benchmark_group("scan");
    for (label, body) in bodies() {
        group.throughput(Throughput::Bytes(body.len() as u64));
        let text = String::from_utf8(body).expect("UTF-8");
        group.bench_with_input(BenchmarkId::new("warden", &label), &text, |b, t| {
            b.iter(|| warden_pii::scan(black_box(t)));
        });
        group.bench_with_input(BenchmarkId::new("byte_pass", &label), &text, |b, t| {
            b.iter(|| byte_pass(black_box(t.as_bytes())));
        });
    }
    group.finish();
}

fn mask(c: &mut Criterion) {
    let profile = redact_all();
    let mut group = c.benchmark_group("mask_request");
    for (label, body) in bodies() {
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::new("warden", &label), &body, |b, body| {
            b.iter(|| mask_body(black_box(body), &profile));
        });
        group.bench_with_input(
            BenchmarkId::new("serde_roundtrip", &label),
            &body,
            |b, body| b.iter(|| serde_roundtrip(black_box(body))),
        );
        group.bench_with_input(BenchmarkId::new("byte_pass", &label), &body, |b, body| {
            b.iter(|| byte_pass(black_box(body)));
        });
    }
    group.finish();
}

criterion_group!(benches, scan, mask);
criterion_main!(benches);
