//! Limits and budgets through the gateway: per-identity isolation with the
//! real IdP, OpenAI-style 429s and headers, budgets reconciled from streamed
//! usage, and two gateways sharing one limit through the real Redis.

use std::process::Command;

use futures_util::StreamExt as _;
use serde_json::json;

use crate::support::*;

const PRICES: &str = r#"
[prices."gpt-4o*"]
input = 2.5
cached_input = 1.25
output = 10.0
"#;

#[tokio::test]
async fn each_identity_has_its_own_rate_limit_with_openai_headers() {
    let w = World::start(
        "[[limits.rule]]\nname = \"per-user\"\nscope = \"principal\"\nrequests_per_minute = 2\ntokens_per_minute = 100000\n",
    )
    .await;
    let alice = w.token("alice").await;
    for remaining in ["1", "0"] {
        let resp = w.chat(&alice, chat_body("gpt-4o")).await;
        assert_eq!(resp.status(), 200);
        let h = resp.headers();
        assert_eq!(h["x-ratelimit-limit-requests"], "2");
        assert_eq!(h["x-ratelimit-remaining-requests"], remaining);
        assert_eq!(h["x-ratelimit-limit-tokens"], "100000");
        assert!(
            h.contains_key("x-ratelimit-reset-requests")
                && h.contains_key("x-ratelimit-remaining-tokens")
        );
    }
    let refused = w.chat(&alice, chat_body("gpt-4o")).await;
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=120).contains(&retry), "{retry}");
    assert_eq!(refused.headers()["x-ratelimit-remaining-requests"], "0");
    let body = expect_error(refused, 429, "rate_limit_exceeded").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("per-user")
    );
    // Another identity is not affected.
    assert_eq!(
        w.chat(&w.token("carol").await, chat_body("gpt-4o"))
            .await
            .status(),
        200
    );
    assert_eq!(
        w.mock.requests().len(),
        3,
        "the refused call never reached the upstream"
    );
    let records = w.gw.wait_records(4).await.expect("records");
    assert_eq!(records[2].reason.as_deref(), Some("rate_limit_exceeded"));
    assert_eq!(records[2].status, 429);
}

async fn stream(w: &World, token: &str, extra: &[(&str, &str)]) -> (u16, bool) {
    let mut body = chat_body("gpt-4o");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    body["max_tokens"] = json!(2000);
    let mut req = w
        .http
        .post(w.gw.url("/v1/chat/completions"))
        .bearer_auth(token)
        .json(&body);
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    let mut s = resp.bytes_stream();
    let mut broke = false;
    while let Some(chunk) = s.next().await {
        broke |= chunk.is_err();
    }
    (status, broke)
}

#[tokio::test]
async fn spend_budgets_reconcile_from_streamed_usage() {
    // Each call reserves ~20 000 micro-USD up front (2000 max output tokens at
    // $10/M) but really costs ~100. The budget holds one reservation, not two.
    let w = World::start(&format!(
        "[[limits.rule]]\nname = \"daily\"\nscope = \"principal\"\nusd_per_day = 0.03\n{PRICES}"
    ))
    .await;
    let alice = w.token("alice").await;
    assert_eq!(stream(&w, &alice, &[]).await, (200, false));
    let first = w.gw.wait_records(1).await.expect("record").remove(0);
    let usage = first.usage.expect("usage from the stream");
    let expected =
        (usage.input_tokens as f64 * 2.5 + usage.output_tokens as f64 * 10.0).ceil() as u64;
    assert_eq!(
        first.cost_usd_micros,
        Some(expected),
        "cost from reported usage"
    );
    assert!(expected < 1_000);
    // Reconciled: the second call fits only because the first gave back its estimate.
    assert_eq!(
        stream(&w, &alice, &[]).await.0,
        200,
        "estimate replaced by actual usage"
    );
    w.gw.wait_records(2).await.expect("records");
    // A cut stream reports no usage: it keeps its whole estimate...
    let (status, broke) = stream(&w, &alice, &[("x-mock-cut-after", "1")]).await;
    assert_eq!((status, broke), (200, true));
    w.gw.wait_records(3).await.expect("records");
    // ...so the next call no longer fits the day's budget.
    let mut body = chat_body("gpt-4o");
    body["max_tokens"] = json!(2000);
    expect_error(w.chat(&alice, body).await, 429, "budget_exceeded").await;
    // An unpriced model under a budget is refused, not waved through.
    expect_error(
        w.chat(&alice, chat_body("text-embedding-3-small")).await,
        403,
        "price_unknown",
    )
    .await;
}

#[tokio::test]
async fn two_gateways_share_one_limit_through_redis() {
    let mock = MockUpstream::start().await.expect("mock");
    let idp = OidcProvider::start().await.expect("idp");
    let prefix = format!("warden-it-{}-{}", std::process::id(), mock.addr().port());
    let limits = format!(
        "[limits]\nbackend = \"redis\"\nredis_url = \"redis://127.0.0.1:6379\"\nredis_prefix = \"{prefix}\"\n\n[[limits.rule]]\nname = \"shared\"\nscope = \"principal\"\nrequests_per_minute = 3\n"
    );
    let config = format!(
        "{}\n{}\n{limits}\n{POLICY}",
        idp.issuer_toml(),
        connection_toml(&mock.base_url())
    );
    let one = TestGateway::start(&config)
        .await
        .expect("gateway 1 (Redis on 127.0.0.1:6379)");
    let two = TestGateway::start(&config).await.expect("gateway 2");
    let http = http();
    let token = idp.token("alice").await.expect("token");
    let mut statuses = Vec::new();
    for i in 0..6 {
        let gw = if i % 2 == 0 { &one } else { &two };
        let resp = http
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(&token)
            .json(&chat_body("gpt-4o"))
            .send()
            .await
            .expect("send");
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(mock.requests().len(), 3);
}

#[tokio::test]
async fn usage_cli_sums_tokens_and_spend() {
    let w = World::start(PRICES).await;
    for client in ["alice", "alice", "carol"] {
        let resp = w.chat(&w.token(client).await, chat_body("gpt-4o")).await;
        assert_eq!(resp.status(), 200);
        let _ = resp.text().await;
    }
    let records = w.gw.wait_records(3).await.expect("records");
    let alice_cost: u64 = records
        .iter()
        .filter(|r| r.subject.as_deref() == Some("alice"))
        .map(|r| r.cost_usd_micros.expect("priced"))
        .sum();
    let config = cli_config(&w.gw);
    let out = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args([
            "usage", "--by", "user", "--since", "1h", "--json", "--config",
        ])
        .arg(&config)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let alice = rows
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["key"] == "alice")
        .expect("alice");
    assert_eq!(alice["requests"], 2);
    let cost = alice["cost_usd"].as_f64().expect("cost");
    assert!(
        (cost - alice_cost as f64 / 1e6).abs() < 1e-9,
        "{cost} vs {alice_cost}"
    );
}

/// The config of a gateway with a dead connection (`gpt-4o-dead`), the mock
/// with a short first-byte timeout, and `limits`.
fn failing_world_config(idp: &OidcProvider, mock: &MockUpstream, limits: &str) -> String {
    format!(
        "{}
[[connection]]
name = \"dead\"
base_url = \"http://127.0.0.1:1/v1\"
api_key_env = \"MOCK_UPSTREAM_KEY\"
models = [\"gpt-4o-dead\"]

[[connection]]
name = \"mock\"
base_url = \"{}\"
api_key_env = \"MOCK_UPSTREAM_KEY\"
models = [\"*\"]
default = true
idle_timeout = \"2s\"
first_byte_timeout = \"1s\"

{limits}
{PRICES}
{POLICY}",
        idp.issuer_toml(),
        mock.base_url()
    )
}

/// A call the upstream never served costs nothing, on every path: connect
/// error, first-byte timeout, 400, 500, and a caller gone before the
/// upstream answered. Each is followed by a call that fits the budget only
/// if nothing was left charged.
#[tokio::test]
async fn budgets_refund_calls_the_upstream_never_served() {
    let mock = MockUpstream::start().await.expect("mock");
    let idp = OidcProvider::start().await.expect("idp");
    // One reservation (~20,000 micro-USD: 2000 output tokens at $10/M) fits
    // at a time; a phantom one would block the next call.
    let config = failing_world_config(
        &idp,
        &mock,
        "[[limits.rule]]\nname = \"daily\"\nscope = \"principal\"\nusd_per_day = 0.025\n",
    );
    let gw = TestGateway::start(&config).await.expect("gateway");
    let http = http();
    let alice = idp.token("alice").await.expect("token");
    let call = |model: &str, headers: &[(&str, &str)]| {
        let mut body = chat_body(model);
        body["max_tokens"] = json!(2000);
        let mut req = http
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(&alice)
            .json(&body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req
    };
    let mut records = 0;
    /// A model, the mock's failure headers, and the status the caller sees
    /// (`None`: the caller leaves before the answer).
    type Failure<'a> = (&'a str, &'a [(&'a str, &'a str)], Option<u16>);
    let failures: [Failure<'_>; 5] = [
        ("gpt-4o-dead", &[], Some(502)),
        ("gpt-4o", &[("x-mock-delay-ms", "2500")], Some(504)),
        ("gpt-4o", &[("x-mock-status", "400")], Some(400)),
        ("gpt-4o", &[("x-mock-status", "500")], Some(500)),
        ("gpt-4o", &[("x-mock-delay-ms", "800")], None), // the caller leaves first
    ];
    for (model, headers, status) in failures {
        match status {
            Some(status) => {
                let resp = call(model, headers).send().await.expect("send");
                assert_eq!(resp.status().as_u16(), status, "{model} {headers:?}");
                let _ = resp.text().await;
            }
            None => {
                let gone = call(model, headers)
                    .timeout(std::time::Duration::from_millis(150))
                    .send()
                    .await;
                assert!(gone.is_err(), "the caller gave up first");
            }
        }
        records += 1;
        gw.wait_records(records)
            .await
            .expect("record of the failure");
        let resp = call("gpt-4o", &[]).send().await.expect("send");
        assert_eq!(
            resp.status(),
            200,
            "after {model} {headers:?}: {}",
            resp.text().await.unwrap_or_default()
        );
        records += 1;
        gw.wait_records(records).await.expect("record");
    }
    let all = gw.wait_records(records).await.expect("records");
    for r in all.iter().filter(|r| r.status != 200) {
        assert_eq!(r.cost_usd_micros, None, "{r:?}");
    }
}

/// A streamed chat whose caller did not ask for usage is still charged its
/// real usage; the caller does not receive the usage chunk.
#[tokio::test]
async fn streamed_chat_without_include_usage_is_charged_its_real_usage() {
    let w = World::start(&format!(
        "[[limits.rule]]\nname = \"daily\"\nscope = \"principal\"\nusd_per_day = 0.03\n{PRICES}"
    ))
    .await;
    let alice = w.token("alice").await;
    let mut body = chat_body("gpt-4o");
    body["stream"] = json!(true);
    body["max_tokens"] = json!(2000);
    for _ in 0..3 {
        // Three calls of ~20,000 reserved each fit $0.03 only if each was
        // reconciled down to its real cost.
        let resp = w.chat(&alice, body.clone()).await;
        assert_eq!(resp.status(), 200);
        let text = resp.text().await.expect("stream");
        for data in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
            if data == "[DONE]" {
                continue;
            }
            let v: serde_json::Value = serde_json::from_str(data).expect("json event");
            assert!(
                !v["choices"].as_array().is_some_and(Vec::is_empty),
                "the caller did not ask for the usage chunk: {data}"
            );
        }
        assert!(text.contains("[DONE]"));
    }
    let sent = w.mock.requests()[0].json();
    assert_eq!(sent["stream_options"]["include_usage"], true);
    let records = w.gw.wait_records(3).await.expect("records");
    for r in &records {
        let usage = r.usage.as_ref().expect("real usage recorded");
        let cost = (usage.input_tokens as f64 * 2.5 + usage.output_tokens as f64 * 10.0).ceil();
        assert_eq!(r.cost_usd_micros, Some(cost as u64));
    }
    // A caller that asked keeps its usage chunk.
    body["stream_options"] = json!({"include_usage": true});
    let text = w.chat(&alice, body).await.text().await.expect("stream");
    assert!(text.contains("\"choices\":[]"), "{text}");
}

fn redis_cli(args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", "6379"])
        .args(args)
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// 32 calls at once through two replicas sharing a budget on Redis that
/// fits 10 reservations, a quarter of them failing upstream: no more than
/// the budget is ever reserved, and once the dust settles the counter holds
/// exactly the reconciled cost of the calls that were served.
#[tokio::test]
async fn concurrent_budget_holds_across_replicas_and_leaves_no_phantom_charge() {
    let mock = MockUpstream::start().await.expect("mock");
    let idp = OidcProvider::start().await.expect("idp");
    let prefix = format!(
        "warden-it-budget-{}-{}",
        std::process::id(),
        mock.addr().port()
    );
    // ~10,023 micro-USD reserved per call (1000 output tokens): 10 fit.
    let limits = format!(
        "[limits]\nbackend = \"redis\"\nredis_url = \"redis://127.0.0.1:6379\"\nredis_prefix = \"{prefix}\"\n\n[[limits.rule]]\nname = \"daily\"\nscope = \"principal\"\nusd_per_day = 0.1005\n"
    );
    let config = failing_world_config(&idp, &mock, &limits);
    let one = TestGateway::start(&config).await.expect("gateway 1");
    let two = TestGateway::start(&config).await.expect("gateway 2");
    let http = http();
    let alice = idp.token("alice").await.expect("token");
    let calls = (0..32).map(|i| {
        let gw = if i % 2 == 0 { &one } else { &two };
        let mut body = chat_body("gpt-4o");
        body["max_tokens"] = json!(1000);
        let mut req = http
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(&alice)
            .header("x-mock-delay-ms", "300")
            .json(&body);
        if i % 4 == 3 {
            req = req.header("x-mock-status", "500");
        }
        async move {
            let resp = req.send().await.expect("send");
            let status = resp.status().as_u16();
            let _ = resp.text().await;
            status
        }
    });
    let statuses = futures_util::future::join_all(calls).await;
    let served = statuses.iter().filter(|s| **s == 200).count();
    let failed = statuses.iter().filter(|s| **s == 500).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(served + failed + refused, 32, "{statuses:?}");
    // The budget bound: all 32 arrive within the 300 ms the upstream takes,
    // so only 10 reservations fit (more only if a failure was refunded
    // first).
    assert!(served >= 1 && refused >= 1, "{statuses:?}");
    let a = one.wait_records(16).await.expect("records 1");
    let b = two.wait_records(16).await.expect("records 2");
    let spent: u64 = a
        .iter()
        .chain(&b)
        .filter(|r| r.status == 200)
        .map(|r| r.cost_usd_micros.expect("priced"))
        .sum();
    // Settlement is off the response path: give it a moment.
    let keys = redis_cli(&["--scan", "--pattern", &format!("{prefix}:daily:usd_day:*")]);
    let key = keys.lines().next().expect("the spend counter").to_owned();
    let mut counter = 0;
    for _ in 0..50 {
        counter = redis_cli(&["GET", &key]).parse::<u64>().unwrap_or(0);
        if counter == spent {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(counter, spent, "no phantom charge: {statuses:?}");
    assert!(spent <= 100_500);
    let _ = redis_cli(&["DEL", &key]);
}

/// The record of a call Cedar allowed and limits refused reads deny, keeps
/// the policy decision apart, names the stage, and keeps the caller's own
/// request id.
#[tokio::test]
async fn a_refusal_after_policy_is_recorded_as_what_happened() {
    let w = World::start(
        "[[limits.rule]]\nname = \"one\"\nscope = \"principal\"\nrequests_per_minute = 1\n",
    )
    .await;
    let alice = w.token("alice").await;
    let send = |id: &'static str| {
        w.http
            .post(w.gw.url("/v1/chat/completions"))
            .bearer_auth(&alice)
            .header("x-request-id", id)
            .json(&chat_body("gpt-4o"))
            .send()
    };
    assert_eq!(send("mine-1").await.expect("send").status(), 200);
    expect_error(
        send("mine-2").await.expect("send"),
        429,
        "rate_limit_exceeded",
    )
    .await;
    // Not a visible-ASCII id: not kept.
    let resp = w
        .http
        .post(w.gw.url("/v1/chat/completions"))
        .bearer_auth(&alice)
        .header("x-request-id", "has space")
        .json(&chat_body("gpt-4o"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 429);
    let records = w.gw.wait_records(3).await.expect("records");
    let (ok, limited, odd) = (&records[0], &records[1], &records[2]);
    use warden_core::Decision::{Allow, Deny};
    assert_eq!(
        (ok.decision, ok.policy_decision, ok.stage.as_deref()),
        (Allow, Some(Allow), None)
    );
    assert_eq!(ok.client_request_id.as_deref(), Some("mine-1"));
    assert_eq!(
        (
            limited.decision,
            limited.policy_decision,
            limited.stage.as_deref()
        ),
        (Deny, Some(Allow), Some("limits"))
    );
    assert_eq!(limited.client_request_id.as_deref(), Some("mine-2"));
    assert_eq!(odd.client_request_id, None);
    // Refused by Cedar: the stage is authorize.
    let bob = w.token("bob").await; // interns: not gpt-4o
    expect_error(
        w.chat(&bob, chat_body("gpt-4o")).await,
        403,
        "model_not_allowed",
    )
    .await;
    let records = w.gw.wait_records(4).await.expect("records");
    let denied = &records[3];
    assert_eq!(
        (
            denied.decision,
            denied.policy_decision,
            denied.stage.as_deref()
        ),
        (Deny, Some(Deny), Some("authorize"))
    );
}
