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

/// Values the detectors used to let through (issue 15): phones written the
/// way people in Germany, France, Japan or Brazil write them, with `00` or
/// `(0)`, a bare SSN next to the word, an AWS secret key in an assignment.
const LEAKED_BEFORE: [&str; 11] = [
    "030 12345678",
    "01 42 68 53 00",
    "03-1234-5678",
    "(11) 91234-5678",
    "0049 30 1234567",
    "+44 (0)20 7946 0958",
    "234567890",
    "345678901",
    "456789012",
    "567890123",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
];

#[tokio::test]
async fn national_phones_of_every_region_and_bare_ssns_in_context_never_reach_the_upstream() {
    let w = World::start(PROFILE).await;
    let alice = w.token("alice").await;
    let chat = json!({"model": "gpt-4o", "messages": [
        {"role": "system", "content": "Büro Berlin: 030 12345678, Paris 01 42 68 53 00"},
        {"role": "user", "content": [
            {"type": "text", "text": "Tokyo office 03-1234-5678, São Paulo (11) 91234-5678"},
            {"type": "text", "text": "from abroad 0049 30 1234567 or +44 (0)20 7946 0958. SSN:"},
            {"type": "text", "text": "456789012"}]},
        {"role": "user", "content": "and my wife's social security number is"},
        {"role": "user", "content": "567890123"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
            "function": {"name": "lookup", "arguments": "{\"ssn\": \"234567890\"}"}}]},
        {"role": "tool", "tool_call_id": "c1",
         "content": "SSN 345678901\nexport AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}]});
    for stream in [false, true] {
        let mut body = chat.clone();
        body["stream"] = json!(stream);
        let resp = w
            .http
            .post(w.gw.url("/v1/chat/completions"))
            .bearer_auth(&alice)
            .json(&body)
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 200);
        let _ = resp.text().await;
    }
    let resp = w
        .http
        .post(w.gw.url("/v1/responses"))
        .bearer_auth(&alice)
        .json(&json!({"model": "gpt-4o", "instructions": "Berlin desk: 030 12345678",
            "input": [{"role": "user", "content": [{"type": "input_text", "text": "my ssn is 234567890"}]},
                      {"type": "function_call_output", "call_id": "c", "output": "Tel. 03-1234-5678"}]}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let resp = w
        .http
        .post(w.gw.url("/v1/embeddings"))
        .bearer_auth(&alice)
        .json(&json!({"model": "text-embedding-3-small",
            "input": ["Paris 01 42 68 53 00", "social security number 345678901"]}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    assert_eq!(w.mock.requests().len(), 4);
    let squeeze = |s: &str| -> String {
        s.chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '+' | '.'))
            .collect()
    };
    for r in w.mock.requests() {
        let body = String::from_utf8_lossy(&r.body);
        let squeezed = squeeze(&body);
        for raw in LEAKED_BEFORE {
            assert!(
                !body.contains(raw) && !squeezed.contains(&squeeze(raw)),
                "{raw} reached the upstream: {body}"
            );
        }
    }
    let records = w.gw.wait_records(4).await.expect("records");
    let f = &records[0].findings;
    let count = |kind: &str| -> u64 { f.iter().filter(|x| x.kind == kind).map(|x| x.count).sum() };
    assert_eq!(count("PHONE_NUMBER"), 6, "{f:?}");
    // Two of them split from their words across content parts or messages.
    assert_eq!(count("US_SSN"), 4, "{f:?}");
    assert_eq!(count("SECRET"), 1, "{f:?}");
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
    // alice's JSON Lines upload is masked line by line before it goes on.
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
    assert_eq!(resp.status(), 200);
    let sent = String::from_utf8_lossy(&w.mock.requests()[0].body).into_owned();
    assert!(!sent.contains("jane.doe@example.com"), "{sent}");
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

/// Interns are masked by a Cedar obligation (no `[[pii.apply]]` names them),
/// and the model's answers to them are masked too; eng gets output masking
/// from the group table only.
const OBLIGATIONS: &str = r#"
[pii.profiles.strict]
EMAIL = "pseudonymize"
PHONE_NUMBER = "redact"

[pii.profiles.cards]
PAYMENT_CARD = "redact"
IP_ADDRESS = "pseudonymize"

[[pii.apply]]
group = "eng"
output_profile = "cards"

[[content.rule]]
id = "no-falcon"
groups = []
deny_terms = ["Project Falcon"]
"#;

const OBLIGATION_POLICY: &str = r#"
[policy.groups.eng]
models = ["gpt-4o*"]
endpoints = ["*"]

[policy]
cedar = '''
@id("interns-masked")
@mask("strict")
@mask_output("cards")
@content_rules("no-falcon")
permit (principal in Warden::Group::"interns", action, resource in Warden::Connection::"mock");
'''
"#;

#[tokio::test]
async fn policies_attach_profiles_and_answers_are_masked() {
    let w = World::start_with_policy(OBLIGATIONS, OBLIGATION_POLICY).await;
    let bob = w.token("bob").await; // interns
    let alice = w.token("alice").await; // eng

    // The obligation's content rule refuses, naming the rule; nothing is sent.
    let mut body = chat_body("gpt-4o-mini");
    body["messages"][0]["content"] = json!("status of project falcon?");
    let err = expect_error(w.chat(&bob, body).await, 403, "content_blocked").await;
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("no-falcon")
    );
    assert!(w.mock.requests().is_empty());
    // The same words from eng pass: the rule applies only where attached.
    let mut body = chat_body("gpt-4o");
    body["messages"][0]["content"] = json!("status of project falcon?");
    assert_eq!(w.chat(&alice, body).await.status(), 200);

    // Interns: the request is masked by the obligation's profile; the echo
    // comes back with the pseudonym restored and the card (which `strict`
    // does not mask on the way in) masked on the way out, streamed or not.
    let ask = "mail jane.doe@example.com re card 4111 1111 1111 1111 from 10.9.8.7, call +44 20 7946 0958";
    let want = "mock reply: mail jane.doe@example.com re card [PAYMENT_CARD] from [IP_ADDRESS], call [PHONE_NUMBER]"; // pseudonymize redacts in answers
    for stream in [false, true] {
        w.mock.clear();
        let mut body = chat_body("gpt-4o-mini");
        body["messages"][0]["content"] = json!(ask);
        body["stream"] = json!(stream);
        let resp = w.chat(&bob, body).await;
        assert_eq!(resp.status(), 200);
        let text = resp.text().await.expect("body");
        let got = if stream {
            sse_text(&text, "/choices/0/delta/content")
        } else {
            let v: serde_json::Value = serde_json::from_str(&text).expect("json");
            v["choices"][0]["message"]["content"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(got, want, "stream={stream}: {text}");
        assert!(!text.contains("4111"), "{text}");
        let sent = String::from_utf8_lossy(&w.mock.requests()[0].body).into_owned();
        assert!(
            sent.contains("<EMAIL_1>") && !sent.contains("jane.doe"),
            "{sent}"
        );
        assert!(!sent.contains("7946"), "{sent}");
        assert!(
            sent.contains("4111 1111 1111 1111"),
            "strict does not mask cards: {sent}"
        );
    }

    // Eng: output masking from the group table, Responses API streamed.
    let resp = w
        .http
        .post(w.gw.url("/v1/responses"))
        .bearer_auth(&alice)
        .json(&json!({"model": "gpt-4o", "input": "repeat 5555 5555 5555 4444 please", "stream": true}))
        .send()
        .await
        .expect("send");
    let text = resp.text().await.expect("stream");
    assert_eq!(
        sse_text(&text, "/nothing"),
        "mock reply: repeat [PAYMENT_CARD] please",
        "{text}"
    );
    // (Not just "5555": a Unix timestamp in the events can contain it.)
    assert!(
        !text.contains("5555 5555") && !text.contains("5555555555554444"),
        "{text}"
    );
    let seqs: Vec<u64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .filter_map(|v| v["sequence_number"].as_u64())
        .collect();
    assert_eq!(
        seqs,
        (0..seqs.len() as u64).collect::<Vec<_>>(),
        "sequence numbers stay consecutive"
    );

    // Records: the answer's findings, path `output`, never a value.
    let records = w.gw.wait_records(5).await.expect("records");
    let out: Vec<_> = records
        .iter()
        .flat_map(|r| r.findings.iter())
        .filter(|f| f.path == "output")
        .collect();
    assert!(
        out.iter()
            .any(|f| f.kind == "PAYMENT_CARD" && f.action == "redact"),
        "{out:?}"
    );
    let all = serde_json::to_string(&records.iter().map(|r| &r.findings).collect::<Vec<_>>())
        .expect("json");
    assert!(!all.contains("4111") && !all.contains("5555"));
}

#[tokio::test]
async fn an_obligation_naming_an_unknown_profile_stops_start_up() {
    let idp = OidcProvider::start().await.expect("idp");
    let mock = MockUpstream::start().await.expect("mock");
    let config = format!(
        "{}\n{}\n{OBLIGATIONS}\n{}",
        idp.issuer_toml(),
        connection_toml(&mock.base_url()),
        OBLIGATION_POLICY.replace("@mask(\"strict\")", "@mask(\"strikt\")")
    );
    let err = TestGateway::start(&config)
        .await
        .expect_err("must not start");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("strikt") && msg.contains("interns-masked"),
        "{msg}"
    );
}

/// Answers whose text is outside `choices` / `output` are masked too: a
/// transcription's text and segments, and a stored file's content (read as
/// text whatever type the upstream gives it).
#[tokio::test]
async fn transcriptions_and_file_content_get_output_masking() {
    let w = World::start_with_policy(
        r#"
[pii.profiles.answers]
EMAIL = "redact"

[[pii.apply]]
group = "eng"
output_profile = "answers"

[objects]
admin_groups = ["eng"]
"#,
        r#"
[policy.groups.eng]
models = ["gpt-4o*", "whisper-1"]
endpoints = ["*"]
"#,
    )
    .await;
    let alice = w.token("alice").await;
    let form = reqwest::multipart::Form::new()
        .text("model", "whisper-1")
        .text("prompt", "write to jane.doe@example.com")
        .part(
            "file",
            reqwest::multipart::Part::bytes(vec![0u8; 64]).file_name("a.wav"),
        );
    let resp = w
        .http
        .post(w.gw.url("/v1/audio/transcriptions"))
        .bearer_auth(&alice)
        .multipart(form)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(v["text"], "transcript: write to [EMAIL]");
    assert_eq!(v["segments"][0]["text"], "transcript: write to [EMAIL]");
    // A file the upstream holds (here put there directly; alice sees it as
    // an objects admin), served as octet-stream: still read and masked.
    let id = file_at_upstream(&w, "{\"answer\":\"mail amy@example.com\"}\n").await;
    let resp = w
        .http
        .get(w.gw.url(&format!("/v1/files/{id}/content")))
        .bearer_auth(&alice)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.expect("body");
    assert!(text.contains("[EMAIL]") && !text.contains("amy@"), "{text}");
    let records = w.gw.wait_records(2).await.expect("records");
    assert!(
        records.iter().all(|r| r
            .findings
            .iter()
            .any(|f| f.kind == "EMAIL" && f.path == "output")),
        "{records:?}"
    );
}
