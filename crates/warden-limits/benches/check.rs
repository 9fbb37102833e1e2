//! What a limit check costs, as ratios to a baseline measured in the same run
//! (the machine is shared and noisy; absolute numbers drift):
//!
//! - in-process: `Limiter::admit` + settle for one rule with requests and
//!   tokens per minute, against a bare `HashMap<String, u64>` increment;
//! - Redis: the same check through `RedisCounters` (one Lua round trip),
//!   against a Redis `PING` round trip on the same connection.
//!
//! Run: `cargo bench -p warden-limits` (Redis on 127.0.0.1:6379 for part 2).
#![expect(clippy::print_stdout, clippy::unwrap_used, reason = "benchmark")]

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use warden_config::{LimitBackend, LimitRule, LimitScope, LimitsConfig, PriceTable};
use warden_core::{Principal, PrincipalKind};
use warden_limits::counters::Counters;
use warden_limits::memory::MemoryCounters;
use warden_limits::redis::RedisCounters;
use warden_limits::{LimitRequest, Limiter, SystemClock};

fn limiter(counters: Arc<dyn Counters>) -> Limiter {
    let config = LimitsConfig {
        backend: LimitBackend::Memory,
        fail_open: false,
        default_max_output_tokens: 100,
        rules: vec![LimitRule {
            name: "bench".into(),
            scope: LimitScope::Principal,
            group: None,
            model: None,
            requests_per_minute: Some(u64::MAX / 4),
            tokens_per_minute: None,
            concurrent_requests: Some(u64::MAX / 4),
            usd_micros_per_day: None,
            usd_micros_per_month: None,
        }],
    };
    Limiter::new(
        &config,
        PriceTable::default(),
        counters,
        Arc::new(SystemClock),
    )
}

fn per_op_ns(n: u32, start: Instant) -> f64 {
    start.elapsed().as_nanos() as f64 / f64::from(n)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let principal = Principal {
        kind: PrincipalKind::User,
        subject: "alice".into(),
        issuer: Some("https://idp".into()),
        groups: vec!["eng".into()],
        key_id: None,
        model_scope: None,
    };
    let req = LimitRequest {
        principal: &principal,
        model: Some("gpt-4o"),
        body: None,
        max_output_tokens: None,
        choices: 1,
        generates: true,
        spend_only: false,
    };

    // In-process.
    let n = 1_000_000;
    let mut map: HashMap<String, u64> = HashMap::new();
    let start = Instant::now();
    for _ in 0..n {
        *map.entry(black_box(
            "warden:bench:rpm:user::alice:29000000".to_owned(),
        ))
        .or_default() += 1;
    }
    let baseline = per_op_ns(n, start);
    let memory = limiter(Arc::new(MemoryCounters::new()));
    let start = rt.block_on(async {
        let start = Instant::now();
        for _ in 0..n {
            let t = memory.admit(black_box(&req)).await.unwrap();
            t.settle(None);
        }
        start
    });
    let check = per_op_ns(n, start);
    println!(
        "in-process: limit check + settle {check:.0} ns/op; HashMap<String> increment {baseline:.0} ns/op; ratio {:.1}x",
        check / baseline
    );

    // The token estimate for a 1 KB chat body, against parsing it.
    let body = format!(
        r#"{{"model":"gpt-4o","messages":[{{"role":"user","content":"{}"}}]}}"#,
        "The quick brown fox jumps over the lazy dog. ".repeat(22)
    );
    warden_limits::estimate::warm_up();
    let n = 20_000;
    let start = Instant::now();
    for _ in 0..n {
        black_box(serde_json::from_slice::<serde_json::Value>(black_box(body.as_bytes())).unwrap());
    }
    let parse = per_op_ns(n, start);
    let start = Instant::now();
    for _ in 0..n {
        black_box(warden_limits::estimate::input_tokens(
            "gpt-4o",
            black_box(body.as_bytes()),
        ));
    }
    let tokens = per_op_ns(n, start);
    println!(
        "token estimate (tiktoken o200k, {} B body): {:.1} us/op; JSON parse alone {:.1} us/op; ratio {:.1}x",
        body.len(),
        tokens / 1000.0,
        parse / 1000.0,
        tokens / parse
    );

    // Redis.
    let Ok(redis) = rt.block_on(RedisCounters::connect("redis://127.0.0.1:6379")) else {
        println!("redis: not reachable on 127.0.0.1:6379, skipped");
        return;
    };
    let n = 5_000;
    let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let ping = rt.block_on(async {
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let start = Instant::now();
        for _ in 0..n {
            let _: String = redis::cmd("PING").query_async(&mut conn).await.unwrap();
        }
        per_op_ns(n, start)
    });
    let shared = limiter(Arc::new(redis));
    let check = rt.block_on(async {
        let start = Instant::now();
        for _ in 0..n {
            // Concurrency is a gauge: settle releases it, without a second
            // round trip on the caller's path (it runs on a spawned task).
            let t = shared.admit(black_box(&req)).await.unwrap();
            drop(t);
        }
        per_op_ns(n, start)
    });
    println!(
        "redis: limit check {:.1} us/op; PING {:.1} us/op; ratio {:.2}x (one round trip)",
        check / 1000.0,
        ping / 1000.0,
        check / ping
    );
}
