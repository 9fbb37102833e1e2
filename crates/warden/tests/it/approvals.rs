//! Just-in-time approval end to end, with the real OIDC provider: a call
//! policy marks as needing approval is held (nothing reaches the upstream)
//! until an approver (another identity, in an approver group) decides it
//! through the API or the CLI; denial, expiry, self-approval, quorum,
//! grants (time moved, not slept), async mode and a caller who leaves;
//! webhooks signed with HMAC.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use warden_core::approval::ApprovalState;
use warden_store::approvals::ApprovalStore as _;
use warden_store::{EventFilter, RecordStore as _};
use warden_testkit::webhook::WebhookReceiver;

use crate::support::*;

/// Interns may use o3-pro, but only with an approval; `two-keys` needs two
/// approvers for gpt-4.1; sec1, sec2 and secintern approve.
const POLICY: &str = r#"
[policy.groups.interns]
models = ["gpt-4o-mini", "o3-pro", "gpt-4.1"]
endpoints = ["chat.completions"]

[policy.groups.eng]
models = ["*"]
endpoints = ["*"]
"#;

fn setup(extra: &str) -> String {
    format!(
        r#"
[approvals]
approver_groups = ["security"]
hold = "20s"

[[approvals.rule]]
id = "interns-o3"
groups = ["interns"]
models = ["o3-pro*"]

[[approvals.rule]]
id = "two-keys"
models = ["gpt-4.1"]
quorum = 2
{extra}
"#
    )
}

async fn world(extra: &str) -> World {
    world_at(extra, Arc::new(warden_limits::SystemClock)).await
}

async fn world_at(extra: &str, clock: Arc<dyn warden_limits::Clock>) -> World {
    let clients = json!([
        {"client_id": "intern", "groups": ["interns"]},
        {"client_id": "secintern", "groups": ["interns", "security"]},
        {"client_id": "sec1", "groups": ["security"]},
        {"client_id": "sec2", "groups": ["security"]},
        {"client_id": "eng", "groups": ["eng"]},
    ]);
    World::start_with_clock(&setup(extra), POLICY, Some(clients), clock).await
}

fn chat(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

/// Sends a chat in the background; its status and body when it ends.
fn send(w: &World, token: &str, body: Value) -> tokio::task::JoinHandle<(u16, Value)> {
    let request = w
        .http
        .post(w.gw.url("/v1/chat/completions"))
        .bearer_auth(token)
        .json(&body);
    tokio::spawn(async move {
        let resp = request.send().await.expect("send");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    })
}

/// Waits until `n` approvals are pending; their ids, newest first.
async fn pending(w: &World, n: usize) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let found =
            w.gw.store
                .list_approvals(Some(ApprovalState::Pending), 100)
                .await
                .expect("list");
        if found.len() >= n {
            return found.into_iter().map(|a| a.id).collect();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} pending",
            found.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn decide(w: &World, token: &str, id: &str, verb: &str, body: Value) -> (u16, Value) {
    let resp = w
        .http
        .post(w.gw.url(&format!("/admin/v1/approvals/{id}/{verb}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("decide");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("json"))
}

async fn actions(w: &World) -> Vec<String> {
    let mut events: Vec<String> =
        w.gw.store
            .list_events(&EventFilter::default())
            .await
            .expect("events")
            .into_iter()
            .map(|(_, e)| e.action)
            .filter(|a| a.starts_with("approval.") || a.starts_with("grant."))
            .collect();
    events.reverse();
    events
}

fn upstream_calls(w: &World) -> usize {
    w.mock
        .requests()
        .iter()
        .filter(|r| r.path == "/v1/chat/completions")
        .count()
}

#[tokio::test]
async fn a_held_sdk_call_completes_once_another_identity_approves_it_through_the_cli() {
    let w = world("").await;
    let (intern, sec1) = (w.token("intern").await, w.token("sec1").await);
    // The official SDK, unchanged: its call simply waits.
    let base = w.gw.base_url();
    let token = intern.clone();
    let sdk = tokio::spawn(async move {
        warden_testkit::sdk::run(
            "chat_once.py",
            &base,
            &token,
            &[
                ("WARDEN_TEST_MODEL", "o3-pro"),
                ("WARDEN_PROMPT", "plan the migration"),
            ],
        )
        .await
        .expect("python")
    });
    let id = pending(&w, 1).await.remove(0);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        upstream_calls(&w),
        0,
        "the upstream sees nothing before approval"
    );
    assert!(!sdk.is_finished(), "the SDK call is held");

    // The approver sees what was asked, and approves with the CLI.
    let shown = w
        .http
        .get(w.gw.url(&format!("/admin/v1/approvals/{id}")))
        .bearer_auth(&sec1)
        .send()
        .await
        .expect("show");
    assert_eq!(shown.status(), 200);
    let shown: Value = shown.json().await.expect("json");
    assert_eq!(shown["summary"]["model"], "o3-pro");
    assert_eq!(shown["requester"]["subject"], "intern");
    assert!(
        shown["summary"]["excerpt"]
            .as_str()
            .is_some_and(|e| e.contains("migration"))
    );
    let url = format!(
        "http://{}",
        w.gw.base_url()
            .trim_start_matches("http://")
            .trim_end_matches("/v1")
    );
    // The gateway runs on this test's runtime: the CLI waits off it.
    let mut cli = warden_cmd();
    cli.args([
        "approvals",
        "approve",
        &id,
        "--comment",
        "ok for the migration",
        "--url",
        &url,
    ])
    .env("WARDEN_TOKEN", &sec1);
    let out = tokio::task::spawn_blocking(move || cli.output())
        .await
        .expect("join")
        .expect("warden");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("approved"));

    let run = tokio::time::timeout(Duration::from_secs(30), sdk)
        .await
        .expect("the SDK call finished")
        .expect("task");
    assert!(run.success, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(upstream_calls(&w), 1);
    assert_eq!(
        actions(&w).await,
        ["approval.request", "approval.decide", "approval.use"]
    );
    // The approval released that call only: the same call again is held
    // anew.
    let second = send(&w, &intern, chat("o3-pro", "plan the migration"));
    let again = pending(&w, 1).await.remove(0);
    assert_ne!(again, id);
    decide(&w, &sec1, &again, "deny", json!({})).await;
    assert_eq!(second.await.expect("task").0, 403);
}

#[tokio::test]
async fn denial_and_expiry_are_403_naming_the_approval() {
    let w = world("").await;
    let (intern, sec1) = (w.token("intern").await, w.token("sec1").await);
    let call = send(&w, &intern, chat("o3-pro", "drop the prod database"));
    let id = pending(&w, 1).await.remove(0);
    let (status, _) = decide(&w, &sec1, &id, "deny", json!({"comment": "not today"})).await;
    assert_eq!(status, 200);
    let (status, body) = call.await.expect("task");
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "approval_denied");
    assert_eq!(body["error"]["approval_id"], json!(id));
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("not today") && m.contains(&id))
    );
    assert_eq!(upstream_calls(&w), 0);
    // The trail says what happened: policy allowed it, the approval stage
    // refused it.
    let records = w.gw.wait_records(1).await.expect("record");
    let r = records.last().expect("record");
    assert_eq!(
        (
            r.decision,
            r.policy_decision,
            r.stage.as_deref(),
            r.reason.as_deref()
        ),
        (
            warden_core::Decision::Deny,
            Some(warden_core::Decision::Allow),
            Some("approve"),
            Some("approval_denied")
        )
    );

    let short = world_short_hold().await;
    let intern = short.token("intern").await;
    let (status, body) = send(&short, &intern, chat("o3-pro", "hi"))
        .await
        .expect("task");
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "approval_expired");
    let approvals = short.gw.store.list_approvals(None, 10).await.expect("list");
    assert_eq!(approvals[0].state, ApprovalState::Expired);
    assert_eq!(
        actions(&short).await,
        ["approval.request", "approval.expire"]
    );
    // Deciding it now is too late.
    let sec1 = short.token("sec1").await;
    let (status, body) = decide(&short, &sec1, &approvals[0].id, "approve", json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("approval_not_pending"))
    );
}

async fn world_short_hold() -> World {
    let clients = json!([
        {"client_id": "intern", "groups": ["interns"]},
        {"client_id": "sec1", "groups": ["security"]},
    ]);
    let config = setup("").replace("hold = \"20s\"", "hold = \"300ms\"");
    World::start_with_clock(
        &config,
        POLICY,
        Some(clients),
        Arc::new(warden_limits::SystemClock),
    )
    .await
}

#[tokio::test]
async fn nobody_approves_their_own_call_and_a_quorum_needs_two_people() {
    let w = world("").await;
    let (secintern, sec1, sec2, eng) = (
        w.token("secintern").await,
        w.token("sec1").await,
        w.token("sec2").await,
        w.token("eng").await,
    );
    let call = send(&w, &secintern, chat("o3-pro", "hi"));
    let id = pending(&w, 1).await.remove(0);
    let (status, body) = decide(&w, &secintern, &id, "approve", json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("self_approval"))
    );
    let (status, body) = decide(&w, &eng, &id, "approve", json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("admin_forbidden")),
        "{body}"
    );
    assert_eq!(decide(&w, &sec1, &id, "approve", json!({})).await.0, 200);
    assert_eq!(call.await.expect("task").0, 200);

    // Quorum of two: one approval leaves the call held.
    let intern = w.token("intern").await;
    let call = send(&w, &intern, chat("gpt-4.1", "hi"));
    let id = pending(&w, 1).await.remove(0);
    let (status, body) = decide(&w, &sec1, &id, "approve", json!({})).await;
    assert_eq!((status, body["state"].as_str()), (200, Some("pending")));
    let (status, body) = decide(&w, &sec1, &id, "approve", json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("already_decided"))
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!call.is_finished(), "held until a second approver");
    let (status, body) = decide(&w, &sec2, &id, "approve", json!({"comment": "second"})).await;
    assert_eq!((status, body["state"].as_str()), (200, Some("approved")));
    assert_eq!(call.await.expect("task").0, 200);
    // A bad decision body is a clear 400.
    let (status, body) = decide(&w, &sec1, &id, "approve", json!({"grant": "soon"})).await;
    assert_eq!(
        (status, body["error"]["type"].as_str()),
        (400, Some("invalid_request_error"))
    );
}

#[tokio::test]
async fn a_grant_lets_the_next_calls_through_until_it_expires() {
    let clock = Arc::new(warden_limits::ManualClock::at(warden_core::now_ms()));
    let w = world_at("", clock.clone()).await;
    let (intern, sec1) = (w.token("intern").await, w.token("sec1").await);
    let call = send(&w, &intern, chat("o3-pro", "first"));
    let id = pending(&w, 1).await.remove(0);
    let (status, body) = decide(&w, &sec1, &id, "approve", json!({"grant": "60m"})).await;
    assert_eq!(status, 200);
    let grant = body["grant_id"].as_str().expect("grant").to_owned();
    assert_eq!(call.await.expect("task").0, 200);
    // Other prompts, same model and endpoint: no new approval.
    for text in ["second", "third"] {
        let (status, _) = send(&w, &intern, chat("o3-pro", text)).await.expect("task");
        assert_eq!(status, 200);
    }
    assert_eq!(
        w.gw.store
            .list_approvals(None, 10)
            .await
            .expect("list")
            .len(),
        1
    );
    // An hour and a minute later the grant is over: held again.
    clock.advance_ms(61 * 60 * 1000);
    let call = send(&w, &intern, chat("o3-pro", "later"));
    let again = pending(&w, 1).await.remove(0);
    assert_ne!(again, id);
    decide(&w, &sec1, &again, "deny", json!({})).await;
    assert_eq!(call.await.expect("task").0, 403);
    // Revoked grants end at once.
    let call = send(&w, &intern, chat("o3-pro", "x"));
    let third = pending(&w, 1).await.remove(0);
    decide(&w, &sec1, &third, "approve", json!({"grant": "2h"})).await;
    assert_eq!(call.await.expect("task").0, 200);
    let grants: Value = w
        .http
        .get(w.gw.url("/admin/v1/grants"))
        .bearer_auth(&sec1)
        .send()
        .await
        .expect("grants")
        .json()
        .await
        .expect("json");
    let active = grants["data"][0]["id"].as_str().expect("id").to_owned();
    assert_ne!(active, grant);
    let resp = w
        .http
        .post(w.gw.url(&format!("/admin/v1/grants/{active}/revoke")))
        .bearer_auth(&sec1)
        .send()
        .await
        .expect("revoke");
    assert_eq!(resp.status(), 200);
    let call = send(&w, &intern, chat("o3-pro", "y"));
    let fourth = pending(&w, 1).await.remove(0);
    decide(&w, &sec1, &fourth, "deny", json!({})).await;
    assert_eq!(call.await.expect("task").0, 403);
    let got = actions(&w).await;
    assert_eq!(
        got.iter().filter(|a| *a == "grant.use").count(),
        2,
        "{got:?}"
    );
    assert!(got.contains(&"grant.create".to_owned()) && got.contains(&"grant.revoke".to_owned()));
}

#[tokio::test]
async fn async_mode_answers_at_once_and_the_retry_goes_through_once_approved() {
    let w = world("").await;
    let (intern, sec1) = (w.token("intern").await, w.token("sec1").await);
    let body = chat("o3-pro", "summarise the incident");
    let post = |headers: &[(&str, &str)], body: &Value| {
        let mut r = w
            .http
            .post(w.gw.url("/v1/chat/completions"))
            .bearer_auth(&intern)
            .json(body);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.send()
    };
    let resp = post(&[("x-warden-approval-mode", "async")], &body)
        .await
        .expect("send");
    assert_eq!(
        resp.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"30"[..])
    );
    let err = expect_error(resp, 403, "approval_required").await;
    let id = err["error"]["approval_id"].as_str().expect("id").to_owned();
    let with = [("x-warden-approval", id.as_str())];
    expect_error(
        post(&with, &body).await.expect("send"),
        403,
        "approval_pending",
    )
    .await;
    assert_eq!(decide(&w, &sec1, &id, "approve", json!({})).await.0, 200);
    // Another call cannot ride on it.
    expect_error(
        post(&with, &chat("o3-pro", "something else"))
            .await
            .expect("send"),
        403,
        "approval_mismatch",
    )
    .await;
    assert_eq!(post(&with, &body).await.expect("send").status(), 200);
    expect_error(
        post(&with, &body).await.expect("send"),
        403,
        "approval_used",
    )
    .await;
    expect_error(
        post(&[("x-warden-approval", "apr_nope")], &body)
            .await
            .expect("send"),
        404,
        "approval_not_found",
    )
    .await;
    assert_eq!(upstream_calls(&w), 1);
}

#[tokio::test]
async fn a_caller_who_leaves_cancels_the_approval() {
    let w = world("").await;
    let intern = w.token("intern").await;
    // The caller leaves once its call is held (not after a fixed time,
    // which a loaded machine may need just to reach the hold).
    let call = send(&w, &intern, chat("o3-pro", "hi"));
    pending(&w, 1).await;
    call.abort();
    assert!(
        call.await.is_err_and(|e| e.is_cancelled()),
        "the client gave up"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let all = w.gw.store.list_approvals(None, 10).await.expect("list");
        if all
            .first()
            .is_some_and(|a| a.state == ApprovalState::Cancelled)
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{all:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(actions(&w).await, ["approval.request", "approval.cancel"]);
    assert_eq!(upstream_calls(&w), 0);
    let records = w.gw.wait_records(1).await.expect("record");
    let r = records.last().expect("record");
    assert_eq!(
        (r.decision, r.policy_decision, r.stage.as_deref(), r.status),
        (
            warden_core::Decision::Deny,
            Some(warden_core::Decision::Allow),
            Some("approve"),
            499
        ),
        "a cancelled approval does not read allow"
    );
}

#[tokio::test]
async fn webhooks_are_signed_and_slack_gets_a_message() {
    let generic = WebhookReceiver::start().await.expect("receiver");
    let slack = WebhookReceiver::start().await.expect("receiver");
    let w = world(&format!(
        "[[approvals.webhook]]\nurl = \"{}\"\nsecret_env = \"WARDEN_TEST_WEBHOOK_SECRET\"\n\n[[approvals.webhook]]\nurl = \"{}\"\nformat = \"slack\"\n",
        generic.url(),
        slack.url()
    ))
    .await;
    let (intern, sec1) = (w.token("intern").await, w.token("sec1").await);
    let call = send(&w, &intern, chat("o3-pro", "hi"));
    let id = pending(&w, 1).await.remove(0);
    let requested = generic
        .wait_for(Duration::from_secs(10), |d| {
            d.headers
                .get("x-warden-event")
                .is_some_and(|v| v == "approval.requested")
        })
        .await
        .expect("requested");
    let body: Value = serde_json::from_slice(&requested.body).expect("json");
    assert_eq!(body["approval"]["id"], json!(id));
    // The signature: HMAC-SHA256 over "<timestamp>." + body, with the secret.
    use hmac::Mac as _;
    let ts = requested.headers["x-warden-timestamp"]
        .to_str()
        .expect("ts");
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).expect("key");
    mac.update(format!("{ts}.").as_bytes());
    mac.update(&requested.body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        requested.headers["x-warden-signature"]
            .to_str()
            .expect("sig"),
        format!("v1={expected}")
    );
    let now = warden_core::now_ms() / 1000;
    assert!(
        (now - ts.parse::<i64>().expect("secs")).abs() < 60,
        "a fresh timestamp"
    );
    let message = slack
        .wait_for(Duration::from_secs(10), |_| true)
        .await
        .expect("slack");
    let message: Value = serde_json::from_slice(&message.body).expect("json");
    assert!(
        message["text"]
            .as_str()
            .is_some_and(|t| t.contains("o3-pro"))
    );
    assert!(message["blocks"].is_array());
    decide(&w, &sec1, &id, "approve", json!({})).await;
    assert_eq!(call.await.expect("task").0, 200);
    generic
        .wait_for(Duration::from_secs(10), |d| {
            d.headers
                .get("x-warden-event")
                .is_some_and(|v| v == "approval.decided")
        })
        .await
        .expect("decided");
    // Each delivery is in the trail.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while actions(&w)
        .await
        .iter()
        .filter(|a| *a == "approval.notify")
        .count()
        < 4
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            actions(&w).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn held_streams_get_keepalives_then_the_answer_or_the_error_in_band() {
    // (The 15 s default is held by the config tests.)
    let w = World::start_with_clock(
        &setup("").replace("hold = \"20s\"", "hold = \"20s\"\nkeepalive = \"100ms\""),
        POLICY,
        Some(json!([
            {"client_id": "intern", "groups": ["interns"]},
            {"client_id": "sec1", "groups": ["security"]},
        ])),
        Arc::new(warden_limits::SystemClock),
    )
    .await;
    let (intern, sec1) = (w.token("intern").await, w.token("sec1").await);
    let mut body = chat("o3-pro", "stream it");
    body["stream"] = json!(true);
    let resp = w
        .http
        .post(w.gw.url("/v1/chat/completions"))
        .bearer_auth(&intern)
        .json(&body)
        .send()
        .await
        .expect("send");
    // The answer starts while the call is held.
    assert_eq!(resp.status(), 200);
    let id = resp.headers()["x-warden-approval"]
        .to_str()
        .expect("id")
        .to_owned();
    let mut stream = resp.bytes_stream();
    use futures_util::StreamExt as _;
    let mut seen = String::new();
    while seen.matches(": warden: waiting for approval").count() < 3 {
        let chunk = stream.next().await.expect("more").expect("chunk");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains(&id));
    assert_eq!(upstream_calls(&w), 0);
    decide(&w, &sec1, &id, "deny", json!({"comment": "no"})).await;
    while let Some(chunk) = stream.next().await {
        seen.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
    }
    let data = seen
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("a data event");
    let error: Value = serde_json::from_str(data).expect("json");
    assert_eq!(error["error"]["code"], "approval_denied");
    assert_eq!(error["error"]["approval_id"], json!(id));

    // The official SDK streams through the keep-alives once approved.
    let base = w.gw.base_url();
    let token = intern.clone();
    let sdk = tokio::spawn(async move {
        warden_testkit::sdk::run(
            "chat_once.py",
            &base,
            &token,
            &[("WARDEN_TEST_MODEL", "o3-pro"), ("WARDEN_STREAM", "1")],
        )
        .await
        .expect("python")
    });
    let id = pending(&w, 1).await.remove(0);
    tokio::time::sleep(Duration::from_millis(400)).await;
    decide(&w, &sec1, &id, "approve", json!({})).await;
    let run = tokio::time::timeout(Duration::from_secs(30), sdk)
        .await
        .expect("finished")
        .expect("task");
    assert!(run.success, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.summary().expect("summary")["text"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
}

#[tokio::test]
async fn policy_cost_and_tools_decide_which_calls_need_approval() {
    let config = r#"
[prices."gpt-4o*"]
input = 2.5
output = 10.0

[policy.groups.eng]
models = ["*"]
endpoints = ["*"]

[policy]
cedar = '''
@id("o1-needs-review")
@approval("review")
permit (principal in Warden::Group::"eng", action, resource == Warden::Model::"mock/o1-pro");
'''

[approvals]
approver_groups = ["security"]

[[approvals.rule]]
id = "review"
policy_only = true

[[approvals.rule]]
id = "expensive"
min_cost_usd = 1.0

[[approvals.rule]]
id = "computer-use"
tools = ["computer_use*"]
mode = "async"
"#;
    let w = World::start_with_clients(
        config,
        "",
        Some(json!([{"client_id": "eng", "groups": ["eng"]}])),
    )
    .await;
    let eng = w.token("eng").await;
    let post = |body: Value| {
        w.http
            .post(w.gw.url("/v1/chat/completions"))
            .bearer_auth(&eng)
            .header("x-warden-approval-mode", "async")
            .json(&body)
            .send()
    };
    // Cheap, no tools, a model without the annotation: straight through.
    let mut cheap = chat("gpt-4o", "hi");
    cheap["max_tokens"] = json!(10);
    let resp = post(cheap).await.expect("send");
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    // The Cedar permit that allowed it asks for approval.
    let err = expect_error(
        post(chat("o1-pro", "hi")).await.expect("send"),
        403,
        "approval_required",
    )
    .await;
    assert!(
        err["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("`review`"))
    );
    // 200,000 output tokens at $10 per million: $2 estimated.
    let mut dear = chat("gpt-4o", "hi");
    dear["max_tokens"] = json!(200_000);
    let err = expect_error(post(dear).await.expect("send"), 403, "approval_required").await;
    assert!(
        err["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("`expensive`"))
    );
    // A call offering the computer-use tool.
    let mut tools = chat("gpt-4o", "hi");
    tools["max_tokens"] = json!(10);
    tools["tools"] =
        json!([{"type": "computer_use_preview", "display_width": 1024, "display_height": 768}]);
    let err = expect_error(post(tools).await.expect("send"), 403, "approval_required").await;
    assert!(
        err["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("`computer-use`"))
    );
    let approvals = w.gw.store.list_approvals(None, 10).await.expect("list");
    let expensive = approvals
        .iter()
        .find(|a| a.rule == "expensive")
        .expect("expensive");
    assert_eq!(
        expensive
            .summary
            .estimated_cost_usd_micros
            .map(|c| c >= 2_000_000),
        Some(true)
    );
    assert!(
        expensive
            .summary
            .estimated_input_tokens
            .is_some_and(|t| t > 0)
    );
    assert_eq!(upstream_calls(&w), 1);
}

#[tokio::test]
async fn an_approval_annotation_naming_no_rule_stops_start_up() {
    let config = r#"
[policy]
cedar = '''
@id("p")
@approval("nope")
permit (principal, action, resource);
'''
[approvals]
approver_groups = ["security"]
"#;
    let err = TestGateway::start(&format!("{config}\n[[connection]]\nname = \"x\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodels = [\"*\"]\n[keys]\nenabled = true\n"))
        .await
        .expect_err("refused");
    let text = format!("{err:#}");
    assert!(
        text.contains("@approval(\"nope\")") && text.contains("[[approvals.rule]]"),
        "{text}"
    );
}

#[tokio::test]
async fn an_approval_nobody_holds_or_decides_expires_on_its_own() {
    let clock = Arc::new(warden_limits::ManualClock::at(warden_core::now_ms()));
    let w = world_at("", clock.clone()).await;
    let intern = w.token("intern").await;
    let resp = w
        .http
        .post(w.gw.url("/v1/chat/completions"))
        .bearer_auth(&intern)
        .header("x-warden-approval-mode", "async")
        .json(&chat("o3-pro", "later"))
        .send()
        .await
        .expect("send");
    let err = expect_error(resp, 403, "approval_required").await;
    let id = err["error"]["approval_id"].as_str().expect("id").to_owned();
    // An hour (the default expiry) and a minute pass with no decision.
    clock.advance_ms(61 * 60 * 1000);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (a, _) =
            w.gw.store
                .approval(&id)
                .await
                .expect("read")
                .expect("found");
        if a.state == ApprovalState::Expired {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {:?}",
            a.state
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(actions(&w).await, ["approval.request", "approval.expire"]);
}

/// Two `warden serve` replicas on one PostgreSQL schema: a call held on one
/// is released by an approval made through the other (the holder's poller
/// reads the decision from the store), and a denial made there fails the
/// call here with the denier's comment. Nothing reaches the upstream before
/// approval.
#[tokio::test]
async fn an_approval_made_on_another_replica_releases_the_held_call() {
    let pg = PgSchema::create().await;
    let ServeSetup {
        mock,
        dir: _dir,
        config,
    } = ServeSetup::new(
        r#"postgres_url_env = "WARDEN_TEST_PG""#,
        r#"[keys]
enabled = true
[policy.groups.agents]
models = ["*"]
[approvals]
approver_groups = ["security"]
hold = "30s"
[[approvals.rule]]
id = "o3"
models = ["o3-pro"]"#,
    )
    .await;
    let env = [("WARDEN_TEST_PG", pg.url.as_str())];
    let agent = create_key(&config, "agent", &["--group", "agents"], &env);
    let approver = create_key(&config, "sec", &["--group", "security"], &env);
    let holder = Served::start_with_env(&config, &env);
    let other = Served::start_with_env(&config, &env);
    let http = http();
    let call = |body: Value| {
        let (http, url, agent) = (
            http.clone(),
            format!("http://{}/v1/chat/completions", holder.addr),
            agent.clone(),
        );
        tokio::spawn(async move {
            let resp = http
                .post(url)
                .bearer_auth(agent)
                .json(&body)
                .send()
                .await
                .expect("call");
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.expect("json"))
        })
    };
    // The replica that holds nothing lists the approval from the store.
    let pending = || async {
        for _ in 0..100 {
            let list: Value = http
                .get(format!(
                    "http://{}/admin/v1/approvals?state=pending",
                    other.addr
                ))
                .bearer_auth(&approver)
                .send()
                .await
                .expect("list")
                .json()
                .await
                .expect("json");
            if let Some(id) = list["data"][0]["id"].as_str() {
                return id.to_owned();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no pending approval");
    };
    let decide = |id: String, verb: &'static str, body: Value| {
        let (http, approver, addr) = (http.clone(), approver.clone(), other.addr.clone());
        async move {
            let resp = http
                .post(format!("http://{addr}/admin/v1/approvals/{id}/{verb}"))
                .bearer_auth(approver)
                .json(&body)
                .send()
                .await
                .expect("decide");
            assert_eq!(
                resp.status(),
                200,
                "{}",
                resp.text().await.unwrap_or_default()
            );
        }
    };

    let held = call(chat_body("o3-pro"));
    let id = pending().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!held.is_finished(), "the call waits for a decision");
    assert!(
        mock.requests().is_empty(),
        "nothing went upstream before approval"
    );
    decide(id, "approve", json!({})).await;
    let (status, answer) = tokio::time::timeout(Duration::from_secs(10), held)
        .await
        .expect("released within the poller's period")
        .expect("task");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["object"], "chat.completion");
    assert_eq!(mock.requests().len(), 1);

    let held = call(chat_body("o3-pro"));
    let id = pending().await;
    decide(id.clone(), "deny", json!({"comment": "not for this"})).await;
    let (status, error) = tokio::time::timeout(Duration::from_secs(10), held)
        .await
        .expect("denied within the poller's period")
        .expect("task");
    assert_eq!(status, 403, "{error}");
    assert_eq!(error["error"]["code"], "approval_denied");
    assert_eq!(error["error"]["approval_id"], id.as_str());
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("not for this")),
        "{error}"
    );
    assert_eq!(
        mock.requests().len(),
        1,
        "the denied call never went upstream"
    );
    drop((holder, other));
    pg.drop().await;
}
