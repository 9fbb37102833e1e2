//! The external analyzer (`[pii.analyzer]`) through the gateway, against a
//! fake Presidio (`warden_testkit::presidio`: a dictionary instead of NER,
//! code-point offsets as Presidio counts them): names and places never reach
//! the upstream and come back in the answer; when the analyzer fails or is
//! slow, the request is refused (closed, the default) or masked by the
//! built-in detectors alone and recorded as such (open).

use std::time::{Duration, Instant};

use serde_json::json;
use warden_testkit::presidio::FakePresidio;

use crate::support::*;

fn config(analyzer: &FakePresidio, on_error: &str, timeout_ms: u64) -> String {
    format!(
        r#"
[pii.analyzer]
url = "{}"
entities = ["PERSON", "LOCATION"]
timeout_ms = {timeout_ms}
on_error = "{on_error}"

[pii.profiles.names]
PERSON = "pseudonymize"
LOCATION = "pseudonymize"
EMAIL = "pseudonymize"

[[pii.apply]]
group = "eng"
profile = "names"
"#,
        analyzer.url()
    )
}

const RAW: [&str; 6] = [
    "Alice Martin",
    "Zoë",
    "Saldaña",
    "Paris",
    "Zürich",
    "alice@example.com",
];

fn assert_never_reached(mock: &MockUpstream) {
    for r in mock.requests() {
        let body = String::from_utf8_lossy(&r.body);
        for raw in RAW {
            assert!(!body.contains(raw), "{raw} reached the upstream: {body}");
        }
    }
}

#[tokio::test]
async fn names_and_places_are_pseudonymized_upstream_and_restored() {
    let analyzer = FakePresidio::start().await.expect("fake analyzer");
    let w = World::start(&config(&analyzer, "closed", 5000)).await;
    let alice = w.token("alice").await;

    // Chat: a system and a user message, with non-ASCII names (code-point
    // offsets) and a built-in type next to them.
    let ask = "Book Zoë Saldaña a trip to Paris; confirm to alice@example.com";
    let body = json!({"model": "gpt-4o", "messages": [
        {"role": "system", "content": "You work for Alice Martin."},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": ask}
    ]});
    let resp = w.chat(&alice, body).await;
    assert_eq!(resp.status(), 200);
    let answer: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        format!("mock reply: {ask}"),
        "the caller reads the originals"
    );
    let sent = w.mock.requests()[0].json();
    assert_eq!(sent["messages"][0]["content"], "You work for <PERSON_1>.");
    assert_eq!(
        sent["messages"][2]["content"],
        "Book <PERSON_2> a trip to <LOCATION_1>; confirm to <EMAIL_1>"
    );
    // The analyzer was asked about each non-empty text, with the settings.
    assert_eq!(
        analyzer.texts(),
        [ask, "You work for Alice Martin."],
        "every text but the empty one"
    );
    for r in analyzer.requests() {
        assert_eq!(r.entities, ["PERSON", "LOCATION"]);
        assert_eq!(r.language, "en");
        assert_eq!(r.score_threshold, Some(0.5));
    }

    // Responses API: instructions and input items.
    let resp = w
        .http
        .post(w.gw.url("/v1/responses"))
        .bearer_auth(&alice)
        .json(&json!({"model": "gpt-4o", "instructions": "Answer Alice Martin briefly.",
            "input": [{"role": "user", "content": [{"type": "input_text", "text": "Is Zürich far from Paris?"}]}]}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.expect("body");
    assert!(
        text.contains("mock reply: Is Zürich far from Paris?") && !text.contains("<LOCATION_"),
        "{text}"
    );
    let sent = w.mock.requests()[1].json();
    assert_eq!(sent["instructions"], "Answer <PERSON_1> briefly.");
    assert_eq!(
        sent["input"][0]["content"][0]["text"],
        "Is <LOCATION_1> far from <LOCATION_2>?"
    );
    assert_never_reached(&w.mock);

    // The records say what was found where, never the values.
    let records = w.gw.wait_records(2).await.expect("records");
    let f = &records[0].findings;
    let has = |kind: &str, path: &str, count: u64| {
        f.iter().any(|x| {
            x.kind == kind && x.path == path && x.action == "pseudonymize" && x.count == count
        })
    };
    assert!(has("PERSON", "messages[0].content", 1), "{f:?}");
    assert!(has("PERSON", "messages[2].content", 1), "{f:?}");
    assert!(has("LOCATION", "messages[2].content", 1), "{f:?}");
    assert!(has("EMAIL", "messages[2].content", 1), "{f:?}");
    assert!(
        records[1]
            .findings
            .iter()
            .any(|x| x.kind == "LOCATION" && x.path == "input[0].content[0].text" && x.count == 2),
        "{:?}",
        records[1].findings
    );
    let all = serde_json::to_string(&records.iter().map(|r| &r.findings).collect::<Vec<_>>())
        .expect("json");
    for raw in RAW {
        assert!(!all.contains(raw), "{raw} in a record");
    }

    // bob (interns) has no profile: the analyzer is not asked.
    let asked = analyzer.requests().len();
    let bob = w.token("bob").await;
    let mut body = chat_body("gpt-4o-mini");
    body["messages"][0]["content"] = json!("Alice Martin says hi");
    assert_eq!(w.chat(&bob, body).await.status(), 200);
    assert_eq!(analyzer.requests().len(), asked);
}

#[tokio::test]
async fn a_failing_analyzer_refuses_the_request_by_default() {
    let analyzer = FakePresidio::start().await.expect("fake analyzer");
    analyzer.fail_with(Some(500));
    let w = World::start(&config(&analyzer, "closed", 5000)).await;
    let mut body = chat_body("gpt-4o");
    body["messages"][0]["content"] = json!("Alice Martin lives in Paris");
    let resp = w.chat(&w.token("alice").await, body).await;
    assert!(resp.headers().contains_key("retry-after"));
    let err = expect_error(resp, 503, "analyzer_unavailable").await;
    assert_eq!(err["error"]["type"], "server_error");
    let message = err["error"]["message"].as_str().unwrap_or_default();
    assert!(
        !message.contains("Alice") && !message.contains("Paris"),
        "{message}"
    );
    assert_eq!(analyzer.requests().len(), 1, "it was asked");
    assert!(w.mock.requests().is_empty(), "nothing was forwarded");
    let records = w.gw.wait_records(1).await.expect("records");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].status, 503);
    assert_eq!(records[0].reason.as_deref(), Some("analyzer_unavailable"));
}

#[tokio::test]
async fn on_error_open_masks_with_the_built_in_detectors_and_records_it() {
    let analyzer = FakePresidio::start().await.expect("fake analyzer");
    analyzer.fail_with(Some(500));
    let w = World::start(&config(&analyzer, "open", 5000)).await;
    let mut body = chat_body("gpt-4o");
    body["messages"][0]["content"] = json!("Alice Martin is alice@example.com");
    let resp = w.chat(&w.token("alice").await, body).await;
    assert_eq!(resp.status(), 200);
    let answer: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "mock reply: Alice Martin is alice@example.com"
    );
    // The email is still masked; the name, which only the analyzer finds,
    // goes as written: that is what `open` allows.
    let sent = w.mock.requests()[0].json();
    assert_eq!(sent["messages"][0]["content"], "Alice Martin is <EMAIL_1>");
    let records = w.gw.wait_records(1).await.expect("records");
    let f = &records[0].findings;
    assert!(
        f.iter()
            .any(|x| x.kind == "EMAIL" && x.action == "pseudonymize"),
        "{f:?}"
    );
    assert!(
        f.iter().any(|x| x.kind == "ANALYZER_UNAVAILABLE"
            && x.action == "skipped"
            && x.path.is_empty()
            && x.count == 0),
        "{f:?}"
    );
    // Once it answers again, names are masked again and the record says nothing of it.
    analyzer.fail_with(None);
    let mut body = chat_body("gpt-4o");
    body["messages"][0]["content"] = json!("Alice Martin again");
    assert_eq!(w.chat(&w.token("alice").await, body).await.status(), 200);
    assert_eq!(
        w.mock.requests()[1].json()["messages"][0]["content"],
        "<PERSON_1> again"
    );
    let records = w.gw.wait_records(2).await.expect("records");
    assert!(
        !records[1]
            .findings
            .iter()
            .any(|x| x.kind == "ANALYZER_UNAVAILABLE"),
        "{:?}",
        records[1].findings
    );
}

#[tokio::test]
async fn a_slow_analyzer_is_cut_off_at_the_timeout() {
    let analyzer = FakePresidio::start().await.expect("fake analyzer");
    analyzer.delay(Duration::from_secs(30));
    let w = World::start(&config(&analyzer, "closed", 300)).await;
    let token = w.token("alice").await;
    let mut body = chat_body("gpt-4o");
    body["messages"][0]["content"] = json!("Alice Martin lives in Paris");
    let started = Instant::now();
    let resp = w.chat(&token, body).await;
    expect_error(resp, 503, "analyzer_unavailable").await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered after {:?}",
        started.elapsed()
    );
    assert!(w.mock.requests().is_empty(), "nothing was forwarded");
}
