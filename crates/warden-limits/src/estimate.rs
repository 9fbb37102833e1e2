//! What a request will cost before it runs: input tokens counted with the
//! model's tokenizer (`tiktoken-rs`: o200k for the GPT-4o/4.1/5 and o-series
//! families, cl100k for older models and embeddings), plus the output it may
//! produce (its `max_tokens`, else a configured default), priced from the
//! config's table in micro-USD.

use std::sync::OnceLock;

use serde_json::Value;
use tiktoken_rs::CoreBPE;
use warden_config::{Price, PriceTable};
use warden_core::Usage;

/// Keys whose string values are not text the model reads.
const NOT_TEXT: [&str; 9] = [
    "model",
    "role",
    "type",
    "id",
    "call_id",
    "tool_call_id",
    "status",
    "detail",
    "format",
];

fn o200k() -> Option<&'static CoreBPE> {
    static BPE: OnceLock<Option<CoreBPE>> = OnceLock::new();
    BPE.get_or_init(|| tiktoken_rs::o200k_base().ok()).as_ref()
}

fn cl100k() -> Option<&'static CoreBPE> {
    static BPE: OnceLock<Option<CoreBPE>> = OnceLock::new();
    BPE.get_or_init(|| tiktoken_rs::cl100k_base().ok()).as_ref()
}

/// Loads the tokenizer most models use now (it takes a moment), so the first
/// request does not pay for it. cl100k, for older models, loads on first use:
/// each table costs tens of MiB.
pub fn warm_up() {
    let _ = o200k();
}

fn tokenizer(model: &str) -> Option<&'static CoreBPE> {
    let older = model.starts_with("gpt-4-")
        || model == "gpt-4"
        || model.starts_with("gpt-3.5")
        || model.starts_with("text-embedding-");
    if older { cl100k() } else { o200k() }
}

fn collect_text<'a>(v: &'a Value, key: Option<&str>, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) if key.is_none_or(|k| !NOT_TEXT.contains(&k)) => out.push(s),
        Value::Array(items) => items.iter().for_each(|i| collect_text(i, key, out)),
        Value::Object(map) => map.iter().for_each(|(k, v)| collect_text(v, Some(k), out)),
        _ => {}
    }
}

/// Input tokens of a JSON request body: every text value the model reads
/// (messages, input items, instructions, tool definitions), plus a few per
/// message for the chat template. An estimate, deliberately not an under-count.
pub fn input_tokens(model: &str, body: &[u8]) -> u64 {
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        return 0;
    };
    let mut texts = Vec::new();
    collect_text(&json, None, &mut texts);
    let Some(bpe) = tokenizer(model) else {
        // No tokenizer: about four bytes a token.
        return texts.iter().map(|t| t.len() as u64 / 4 + 1).sum();
    };
    let messages = json
        .get("messages")
        .or_else(|| json.get("input"))
        .and_then(Value::as_array)
        .map_or(1, Vec::len) as u64;
    let tokens: u64 = texts
        .iter()
        .map(|t| bpe.encode_ordinary(t).len() as u64)
        .sum();
    tokens + 4 * messages + 3
}

/// The price entry for a model: exact names, then the longest pattern.
pub fn price_of(table: &PriceTable, model: &str) -> Option<Price> {
    table
        .entries
        .iter()
        .find(|(pattern, _)| warden_core::wildcard::wildcard_match(pattern, model))
        .map(|(_, p)| *p)
}

/// Micro-USD for a usage at a price (rounded up: never under-charge).
pub fn cost_micros(price: Price, usage: &Usage) -> u64 {
    let cached = usage.cached_tokens.min(usage.input_tokens);
    let fresh = usage.input_tokens - cached;
    let micros = fresh as f64 * price.input
        + cached as f64 * price.cached_input
        + usage.output_tokens as f64 * price.output;
    micros.ceil() as u64
}

#[cfg(test)]
mod tests {
    use warden_config::{Price, PriceTable};

    use super::*;

    #[test]
    fn counts_text_not_structure() {
        let short = br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hello"}]}"#;
        let long = format!(
            r#"{{"model":"gpt-4o","messages":[{{"role":"user","content":"{}"}}]}}"#,
            "lorem ipsum ".repeat(100)
        );
        let a = input_tokens("gpt-4o", short);
        let b = input_tokens("gpt-4o", long.as_bytes());
        assert!(a > 0 && a < 15, "{a}");
        assert!(b > 190 && b < 260, "{b}");
        assert_eq!(input_tokens("gpt-4o", b"not json"), 0);
    }

    #[test]
    fn prices_round_up_and_prefer_specific_entries() {
        let table = PriceTable {
            entries: vec![
                (
                    "gpt-4o-mini".into(),
                    Price {
                        input: 0.15,
                        cached_input: 0.075,
                        output: 0.6,
                    },
                ),
                (
                    "gpt-4o*".into(),
                    Price {
                        input: 2.5,
                        cached_input: 1.25,
                        output: 10.0,
                    },
                ),
            ],
        };
        assert_eq!(price_of(&table, "gpt-4o-mini").map(|p| p.output), Some(0.6));
        assert_eq!(
            price_of(&table, "gpt-4o-2024-08-06").map(|p| p.output),
            Some(10.0)
        );
        assert_eq!(price_of(&table, "o3"), None);
        let p = price_of(&table, "gpt-4o").expect("priced");
        let usage = Usage {
            input_tokens: 1000,
            output_tokens: 100,
            total_tokens: 1100,
            cached_tokens: 400,
        };
        // 600 * 2.5 + 400 * 1.25 + 100 * 10 = 1500 + 500 + 1000 micro-USD
        assert_eq!(cost_micros(p, &usage), 3000);
        let one = Usage {
            input_tokens: 1,
            ..Usage::default()
        };
        assert_eq!(
            cost_micros(price_of(&table, "gpt-4o-mini").expect("p"), &one),
            1,
            "rounded up"
        );
    }
}
