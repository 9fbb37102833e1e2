//! Agent traces end to end: the `openai-agents` SDK's own exporter pointed
//! at `POST /v1/traces/ingest`, its spans masked and kept in the trail under
//! the right session with the model calls they timed; bad batches refused
//! with clear errors and nothing kept; a span can only link its own
//! caller's calls; `[traces] forward` sends the masked batch on with
//! Warden's key.

use serde_json::{Value, json};
use warden_store::{EventFilter, RecordFilter, RecordStore as _};
use warden_testkit::sdk;

use crate::support::*;

const SETUP: &str = r#"
[admin]
groups = ["security"]

[pii.profiles.traces]
EMAIL = "redact"

[[pii.apply]]
group = "eng"
profile = "traces"
"#;

async fn world(extra: &str) -> World {
    let clients = json!([
        {"client_id": "alice", "groups": ["eng"]},
        {"client_id": "carol", "groups": ["eng"]},
        {"client_id": "bob", "groups": ["interns"]},
        {"client_id": "sec", "groups": ["security"]},
    ]);
    World::start_with_clients(&format!("{SETUP}\n{extra}"), POLICY, Some(clients)).await
}

async fn read(w: &World, token: &str, path: &str) -> Value {
    let resp = w
        .http
        .get(w.gw.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200, "{path}");
    resp.json().await.expect("json")
}

async fn ingest(w: &World, token: &str, body: &Value, session: Option<&str>) -> reqwest::Response {
    let mut request = w
        .http
        .post(w.gw.url("/v1/traces/ingest"))
        .bearer_auth(token)
        .header("openai-beta", "traces=v1")
        .json(body);
    if let Some(s) = session {
        request = request.header("x-warden-session", s);
    }
    request.send().await.expect("ingest")
}

/// A Responses call as `token`; the response id.
async fn respond(w: &World, token: &str) -> String {
    let resp = w
        .http
        .post(w.gw.url("/v1/responses"))
        .bearer_auth(token)
        .json(&json!({"model": "gpt-4o", "input": "hello"}))
        .send()
        .await
        .expect("responses");
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("json");
    body["id"].as_str().expect("id").to_owned()
}

async fn trace_events(w: &World) -> Vec<warden_core::AuditEvent> {
    let mut events: Vec<_> =
        w.gw.store
            .list_events(&EventFilter {
                action_prefix: Some("trace.".into()),
                ..EventFilter::default()
            })
            .await
            .expect("events")
            .into_iter()
            .map(|(_, e)| e)
            .collect();
    events.reverse();
    events
}

#[tokio::test]
async fn agents_sdk_traces_land_in_their_session_with_the_calls_they_timed() {
    let w = world("").await;
    let (alice, sec) = (w.token("alice").await, w.token("sec").await);
    let run = sdk::run(
        "agents_traced.py",
        &w.gw.base_url(),
        &alice,
        &[("WARDEN_TRACE_GROUP", "thread-42")],
    )
    .await
    .expect("python");
    assert!(run.success, "{}\n{}", run.stdout, run.stderr);
    let summary = run.summary().expect("summary");
    let trace_id = summary["trace_id"].as_str().expect("trace id");
    let responses: Vec<&str> = summary["response_ids"]
        .as_array()
        .expect("ids")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(responses.len(), 4);

    // The session, as the admin API shows it: the four model calls (joined
    // by their response spans, none sent a session) and the trace.
    let session = read(&w, &sec, "/admin/v1/sessions/thread-42").await;
    let calls = session["calls"].as_array().expect("calls");
    let mut called: Vec<&str> = calls
        .iter()
        .filter_map(|c| c["response_id"].as_str())
        .collect();
    called.sort_unstable();
    let mut expected = responses.clone();
    expected.sort_unstable();
    assert_eq!(called, expected, "{session:#}");
    assert!(calls.iter().all(|c| c["subject"] == "alice"));
    let events: Vec<&Value> = session["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| &e["event"])
        .collect();
    let start = events
        .iter()
        .find(|e| e["action"] == "trace.start")
        .expect("trace.start");
    assert_eq!(start["target"], trace_id);
    assert_eq!(start["detail"]["group_id"], "thread-42");
    assert_eq!(start["detail"]["workflow_name"], "weather workflow");
    let kinds = |t: &str| {
        events
            .iter()
            .filter(|e| e["action"] == "trace.span" && e["detail"]["type"] == t)
            .count()
    };
    assert_eq!(
        (kinds("agent"), kinds("response"), kinds("function")),
        (2, 4, 2)
    );
    let linked: Vec<&str> = events
        .iter()
        .filter_map(|e| e["response_id"].as_str())
        .collect();
    assert_eq!(linked.len(), 4, "every response span joined its call");
    for e in &events {
        assert_eq!(e["session_id"], "thread-42");
        assert_eq!(e["actor"]["subject"], "alice");
        assert_eq!(e["target"], trace_id);
    }
    // The tool's output was masked before it was kept.
    let all = serde_json::to_string(&events).expect("json");
    assert!(!all.contains("forecaster@example.com"), "{all}");
    let function = events
        .iter()
        .find(|e| e["detail"]["type"] == "function")
        .expect("function span");
    assert!(
        function["detail"]["data"]
            .as_str()
            .is_some_and(|d| d.contains("[EMAIL]") && d.contains("sunny in")),
        "{function:#}"
    );
    assert!(
        function["detail"]["started_ms"]
            .as_str()
            .and_then(|t| t.parse::<i64>().ok())
            .is_some_and(|t| t > 1_700_000_000_000),
        "the SDK's start time, as Unix ms: {function:#}"
    );

    // The sessions list counts the joined calls.
    let sessions = read(&w, &sec, "/admin/v1/sessions").await;
    let row = sessions["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|s| s["id"] == "thread-42")
        .expect("listed");
    assert_eq!(row["calls"], 4);

    // The CLI shows the same timeline: calls and spans, oldest first.
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("w.toml");
    std::fs::write(
        &config,
        format!(
            "[[connection]]\nname = \"x\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodels = [\"*\"]\n[store]\nsqlite = {:?}\n",
            w.gw.db_path().display().to_string()
        ),
    )
    .expect("config");
    let out = warden_cmd()
        .args(["sessions", "show", "thread-42", "--json", "--config"])
        .arg(&config)
        .output()
        .expect("warden");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let count = |kind: &str| lines.iter().filter(|l| l["kind"] == kind).count();
    assert_eq!((count("call"), count("event")), (4, events.len()));
    let times: Vec<i64> = lines.iter().filter_map(|l| l["time_ms"].as_i64()).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "oldest first: {times:?}"
    );

    // Neither the token nor the traces went anywhere else.
    assert_never_sent(&w.mock, &alice);
    assert!(
        w.mock
            .requests()
            .iter()
            .all(|r| r.path != "/v1/traces/ingest")
    );
    let verdict = warden_store::trail::verify(&*w.gw.store, None)
        .await
        .expect("verify");
    assert!(
        matches!(verdict, warden_store::chain::Verdict::Intact { .. }),
        "{verdict:?}"
    );
}

#[tokio::test]
async fn spans_link_only_their_callers_calls_and_are_forwarded_masked() {
    let w = world("[traces]\nforward = \"mock\"\n").await;
    let (alice, carol) = (w.token("alice").await, w.token("carol").await);
    let mine = respond(&w, &alice).await;
    let theirs = respond(&w, &carol).await;
    let batch = json!({"data": [
        {"object": "trace", "id": "trace_a1", "workflow_name": "wf", "group_id": "grp-1",
         "metadata": {"note": "ping alice@example.com"}},
        {"object": "trace.span", "id": "span_1", "trace_id": "trace_a1", "parent_id": null,
         "started_at": "2026-11-24T10:00:00+00:00", "ended_at": "2026-11-24T10:00:01+00:00",
         "span_data": {"type": "response", "response_id": mine}, "error": null},
        {"object": "trace.span", "id": "span_2", "trace_id": "trace_a1", "parent_id": null,
         "started_at": null, "ended_at": null,
         "span_data": {"type": "response", "response_id": theirs}, "error": null},
        {"object": "trace.span", "id": "span_3", "trace_id": "trace_a1", "parent_id": "span_1",
         "span_data": {"type": "function", "name": "lookup", "input": "{}",
                       "output": "mail bob@example.com"},
         "error": {"message": "failed for bob@example.com", "data": null}}
    ]});
    let resp = ingest(&w, &alice, &batch, None).await;
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.expect("json");
    assert_eq!(answer["accepted"], 4);
    assert_eq!(answer["sessions"], json!({"trace_a1": "grp-1"}));

    let events = trace_events(&w).await;
    assert_eq!(events.len(), 4);
    assert_eq!(events[1].response_id.as_deref(), Some(mine.as_str()));
    assert_eq!(
        events[2].response_id, None,
        "carol's call is not alice's to link"
    );
    assert_eq!(
        events[2].detail["response_id"], theirs,
        "but the span says what it named"
    );
    assert_eq!(events[3].status, "error");
    let kept = serde_json::to_string(&events).expect("json");
    assert!(!kept.contains("@example.com"), "{kept}");
    let calls =
        w.gw.store
            .list_records(&RecordFilter {
                session_id: Some("grp-1".into()),
                ..RecordFilter::default()
            })
            .await
            .expect("records");
    let ids: Vec<Option<&str>> = calls.iter().map(|r| r.response_id.as_deref()).collect();
    assert_eq!(ids, [Some(mine.as_str())]);

    // A later batch of the same trace joins the same session; a session
    // header decides for a new trace.
    let later = json!({"data": [{"object": "trace.span", "id": "span_4", "trace_id": "trace_a1",
        "span_data": {"type": "custom", "name": "late"}}]});
    let answer: Value = ingest(&w, &alice, &later, None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(answer["sessions"], json!({"trace_a1": "grp-1"}));
    let headed = json!({"data": [{"object": "trace", "id": "trace_b", "group_id": "grp-2"}]});
    let answer: Value = ingest(&w, &alice, &headed, Some("run-9"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(answer["sessions"], json!({"trace_b": "run-9"}));

    // Forwarded on with Warden's key, masked, never with alice's token.
    let forwarded = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            let seen: Vec<_> = w
                .mock
                .requests()
                .into_iter()
                .filter(|r| r.path == "/v1/traces/ingest")
                .collect();
            if seen.len() >= 3 {
                return seen;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("three batches forwarded");
    for r in &forwarded {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {UPSTREAM_KEY}").as_str())
        );
        assert_eq!(r.header("openai-beta"), Some("traces=v1"));
        let body = String::from_utf8_lossy(&r.body);
        assert!(!body.contains("@example.com"), "{body}");
    }
    assert_never_sent(&w.mock, &alice);
}

#[tokio::test]
async fn bad_batches_are_refused_and_nothing_is_kept() {
    let w = world("").await;
    let (alice, bob) = (w.token("alice").await, w.token("bob").await);
    let span = |trace: Value| json!({"object": "trace.span", "id": "span_1", "trace_id": trace});
    let too_many: Vec<Value> = (0..1001).map(|_| span(json!("trace_1"))).collect();
    let cases = [
        (json!({"items": []}), "the body must be"),
        (json!({"data": 5}), "the body must be"),
        (json!({"data": [5]}), "data[0] must be an object"),
        (
            json!({"data": [{"object": "run", "id": "x"}]}),
            "data[0].object",
        ),
        (json!({"data": [{"object": "trace"}]}), "data[0].id"),
        (json!({"data": [span(json!(null))]}), "data[0].trace_id"),
        (
            json!({"data": [span(json!("has space"))]}),
            "data[0].trace_id",
        ),
        (
            json!({"data": [span(json!("x".repeat(129)))]}),
            "data[0].trace_id",
        ),
        (json!({"data": too_many}), "at most 1000"),
        (
            json!({"data": [{"object": "trace", "id": "t", "group_id": 7}]}),
            "data[0].group_id",
        ),
    ];
    for (body, says) in &cases {
        let err = expect_error(
            ingest(&w, &alice, body, None).await,
            400,
            "invalid_trace_batch",
        )
        .await;
        let message = err["error"]["message"].as_str().expect("message");
        assert!(message.contains(says), "{body}: {message}");
        assert_eq!(err["error"]["param"], "data");
    }
    let raw = w
        .http
        .post(w.gw.url("/v1/traces/ingest"))
        .bearer_auth(&alice)
        .header("content-type", "application/json")
        .body("{\"data\": [")
        .send()
        .await
        .expect("send");
    expect_error(raw, 400, "invalid_json").await;
    let anonymous = w
        .http
        .post(w.gw.url("/v1/traces/ingest"))
        .json(&json!({"data": []}))
        .send()
        .await
        .expect("send");
    expect_error(anonymous, 401, "missing_token").await;
    // Interns may only chat: traces are an endpoint policy decides on.
    expect_error(
        ingest(&w, &bob, &json!({"data": []}), None).await,
        403,
        "policy_denied",
    )
    .await;
    assert!(trace_events(&w).await.is_empty(), "nothing kept");
    // Every refusal is a record like any other call's.
    let records = w.gw.wait_records(cases.len() + 3).await.expect("records");
    let refused = records
        .iter()
        .filter(|r| r.endpoint == "traces" && r.status >= 400)
        .count();
    assert_eq!(refused, cases.len() + 3);
}
