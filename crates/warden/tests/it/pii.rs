//! Masking through the gateway: for callers a profile applies to, no raw
//! value of a masked type reaches the upstream, whatever field it sits in
//! and however the JSON escapes it; records keep what was found, never the
//! values; bodies that cannot be inspected are refused.

use serde_json::json;

use crate::support::*;

const PROFILE: &str = r#"
[pii]
hash_key_env = "WARDEN_PII_HASH_KEY"

[pii.profiles.standard]
EMAIL = "redact"
PHONE_NUMBER = "redact"
PAYMENT_CARD = "partial"
US_SSN = "redact"
IBAN = "hash"
IP_ADDRESS = "hash"
SECRET = "redact"

[[pii.apply]]
group = "eng"
profile = "standard"
"#;

const RAW: [&str; 10] = [
    "+44 20 7946 0958",
    "(415) 555-2671",
    "jane.doe@example.com",
    "ops@example.org",
    "4111 1111 1111 1111",
    "4111111111111111",
    "123-45-6789",
    "DE89370400440532013000",
    "10.20.30.40",
    "AKIAIOSFODNN7EXAMPLE",
];

fn assert_clean(mock: &MockUpstream) {
    for r in mock.requests() {
        let body = String::from_utf8_lossy(&r.body);
        let squeeze = |s: &str| -> String {
            s.chars()
                .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '+'))
                .collect()
        };
        let squeezed = squeeze(&body);
        for raw in RAW {
            let raw_squeezed = squeeze(raw);
            assert!(
                !body.contains(raw) && !squeezed.contains(&raw_squeezed),
                "{raw} reached the upstream: {body}"
            );
        }
    }
}

#[tokio::test]
async fn no_raw_value_reaches_the_upstream_in_any_field() {
    let w = World::start(PROFILE).await;
    let alice = w.token("alice").await;
    // Chat: every role, content parts, tool-call arguments, tool results, and
    // an email written with a JSON escape.
    let chat = r#"{"model":"gpt-4o","messages":[
        {"role":"system","content":"Escalate to ops\u0040example.org"},
        {"role":"user","content":[{"type":"text","text":"I am jane.doe@example.com, card 4111 1111 1111 1111"},{"type":"text","text":"call +44 20 7946 0958"}]},
        {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"lookup","arguments":"{\"ssn\":\"123-45-6789\",\"iban\":\"DE89 3704 0044 0532 0130 00\"}"}}]},
        {"role":"tool","tool_call_id":"c1","content":"login from 10.20.30.40 with AKIAIOSFODNN7EXAMPLE"}]}"#;
    for stream in [false, true] {
        let body = chat.replacen("{\"model\"", &format!("{{\"stream\":{stream},\"model\""), 1);
        let resp = w
            .http
            .post(w.gw.url("/v1/chat/completions"))
            .bearer_auth(&alice)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 200);
        let _ = resp.text().await;
    }
    // Responses API items and instructions; embeddings input.
    let resp = w
        .http
        .post(w.gw.url("/v1/responses"))
        .bearer_auth(&alice)
        .json(&json!({"model": "gpt-4o", "instructions": "mail ops@example.org",
            "input": [{"role": "user", "content": [{"type": "input_text", "text": "card 4111111111111111"}]},
                      {"type": "function_call_output", "call_id": "c", "output": "ssn 123-45-6789, phone (415) 555-2671"}]}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let resp = w
        .http
        .post(w.gw.url("/v1/embeddings"))
        .bearer_auth(&alice)
        .json(&json!({"model": "text-embedding-3-small", "input": ["jane.doe@example.com", "from 10.20.30.40"]}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    assert_eq!(w.mock.requests().len(), 4);
    assert_clean(&w.mock);
    // What the upstream got instead: placeholders, partial and keyed hashes.
    let first = w.mock.requests()[0].json();
    let sent = first["messages"][1]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(sent, "I am [EMAIL], card ****1111");
    assert!(
        first["messages"][3]["content"]
            .as_str()
            .unwrap_or_default()
            .contains("[IP_ADDRESS:")
    );

    // The record says what was found where, and holds no value.
    let records = w.gw.wait_records(4).await.expect("records");
    let f = &records[0].findings;
    assert!(
        f.iter()
            .any(|x| x.kind == "EMAIL" && x.path == "messages[0].content"),
        "{f:?}"
    );
    assert!(f.iter().any(|x| x.kind == "US_SSN" && x.path == "messages[2].tool_calls[0].function.arguments"));
    let all = serde_json::to_string(&records.iter().map(|r| &r.findings).collect::<Vec<_>>())
        .expect("json");
    for raw in RAW {
        assert!(!all.contains(raw));
    }
}

#[tokio::test]
async fn profiles_apply_by_group_and_opaque_bodies_are_refused() {
    let w = World::start(PROFILE).await;
    // bob (interns) has no profile: his text goes as written.
    let bob = w.token("bob").await;
    let mut body = chat_body("gpt-4o-mini");
    body["messages"][0]["content"] = json!("reach me at bob@example.com");
    assert_eq!(w.chat(&bob, body).await.status(), 200);
    assert!(String::from_utf8_lossy(&w.mock.requests()[0].body).contains("bob@example.com"));
    w.mock.clear();
    // alice's file upload cannot be inspected: refused, not forwarded.
    let form = reqwest::multipart::Form::new()
        .text("purpose", "batch")
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"{\"email\":\"jane.doe@example.com\"}".to_vec())
                .file_name("in.jsonl"),
        );
    let resp = w
        .http
        .post(w.gw.url("/v1/files"))
        .bearer_auth(w.token("alice").await)
        .multipart(form)
        .send()
        .await
        .expect("send");
    expect_error(resp, 400, "masking_unsupported").await;
    assert!(w.mock.requests().is_empty());
}

#[test]
fn pii_scan_cli_reports_character_spans_and_masks() {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["pii", "scan", "--mask"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let input = "{\"id\":\"a\",\"text\":\"héllo jane@example.com\"}\n{\"id\":\"b\",\"text\":\"nothing here\"}\n";
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["id"], "a");
    assert_eq!(
        lines[0]["spans"],
        json!([{"start": 6, "end": 22, "type": "EMAIL"}]),
        "character offsets"
    );
    assert_eq!(lines[0]["masked"], "héllo [EMAIL]");
    assert_eq!(lines[1]["spans"], json!([]));
}

const PSEUDONYMS: &str = r#"
[pii.profiles.reversible]
EMAIL = "pseudonymize"
PAYMENT_CARD = "pseudonymize"

[[pii.apply]]
group = "eng"
profile = "reversible"
"#;

fn sse_text(body: &str, field: &str) -> String {
    body.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .filter_map(|v| {
            v.pointer(field)
                .and_then(|t| t.as_str())
                .map(str::to_owned)
                .or_else(|| {
                    v["delta"]
                        .as_str()
                        .filter(|_| v["type"] == "response.output_text.delta")
                        .map(str::to_owned)
                })
        })
        .collect()
}

#[tokio::test]
async fn pseudonyms_go_upstream_and_originals_come_back() {
    let w = World::start(PSEUDONYMS).await;
    let alice = w.token("alice").await;
    let ask = "write to jane.doe@example.com and amy@example.com, then jane.doe@example.com again";
    let mut body = chat_body("gpt-4o");
    body["messages"][0]["content"] = json!(ask);
    // Not streamed.
    let resp = w.chat(&alice, body.clone()).await;
    assert_eq!(resp.status(), 200);
    let answer: serde_json::Value = resp.json().await.expect("json");
    let content = answer["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(
        content,
        format!("mock reply: {ask}"),
        "the caller reads the originals"
    );
    let sent = w.mock.requests()[0].json();
    assert_eq!(
        sent["messages"][0]["content"], "write to <EMAIL_1> and <EMAIL_2>, then <EMAIL_1> again",
        "the upstream saw consistent pseudonyms"
    );
    // Streamed chat.
    body["stream"] = json!(true);
    let resp = w.chat(&alice, body).await;
    let text = resp.text().await.expect("stream");
    assert_eq!(
        sse_text(&text, "/choices/0/delta/content"),
        format!("mock reply: {ask}")
    );
    assert!(text.trim_end().ends_with("data: [DONE]"));
    // Streamed Responses API.
    let resp = w
        .http
        .post(w.gw.url("/v1/responses"))
        .bearer_auth(&alice)
        .json(
            &json!({"model": "gpt-4o", "input": "card 4111 1111 1111 1111 please", "stream": true}),
        )
        .send()
        .await
        .expect("send");
    let text = resp.text().await.expect("stream");
    assert!(
        sse_text(&text, "/nothing").contains("card 4111 1111 1111 1111 please"),
        "{text}"
    );
    for r in w.mock.requests() {
        let sent = String::from_utf8_lossy(&r.body);
        assert!(
            !sent.contains("jane.doe@example.com") && !sent.contains("4111 1111"),
            "{sent}"
        );
    }
}
