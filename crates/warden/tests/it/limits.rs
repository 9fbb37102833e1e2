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
