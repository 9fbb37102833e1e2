//! The limiter with a hand-moved clock (no sleeping), against the in-process
//! counters and against the real Redis on 127.0.0.1:6379.

use std::sync::Arc;

use warden_config::{LimitBackend, LimitRule, LimitScope, LimitsConfig, Price, PriceTable};
use warden_core::{Principal, PrincipalKind, Usage};

use crate::counters::{Adjustment, BackendError, Charge, Checked, Counters};
use crate::memory::MemoryCounters;
use crate::redis::RedisCounters;
use crate::{LimitError, LimitRequest, Limiter, ManualClock};

const T0: i64 = 1_767_225_600_000 + 10_000; // 2026-01-01T00:00:10Z

fn rule(name: &str, scope: LimitScope) -> LimitRule {
    LimitRule {
        name: name.into(),
        scope,
        group: None,
        model: None,
        requests_per_minute: None,
        tokens_per_minute: None,
        concurrent_requests: None,
        usd_micros_per_day: None,
        usd_micros_per_month: None,
    }
}

fn user(sub: &str, groups: &[&str]) -> Principal {
    Principal {
        kind: PrincipalKind::User,
        subject: sub.into(),
        issuer: Some("https://idp".into()),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        key_id: None,
        model_scope: None,
    }
}

fn prices() -> PriceTable {
    PriceTable {
        entries: vec![(
            "gpt-4o*".into(),
            Price {
                input: 2.5,
                cached_input: 1.25,
                output: 10.0,
            },
        )],
    }
}

fn limiter(rules: Vec<LimitRule>, counters: Arc<dyn Counters>, clock: Arc<ManualClock>) -> Limiter {
    let config = LimitsConfig {
        backend: LimitBackend::Memory,
        fail_open: false,
        default_max_output_tokens: 100,
        rules,
    };
    Limiter::new(&config, prices(), counters, clock)
}

const BODY: &[u8] =
    br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hello there, how are you"}]}"#;

fn req<'a>(p: &'a Principal) -> LimitRequest<'a> {
    LimitRequest {
        principal: p,
        model: Some("gpt-4o"),
        body: Some(BODY),
        max_output_tokens: Some(50),
        choices: 1,
        generates: true,
        spend_only: false,
    }
}

async fn settle_flush() {
    // Settlement runs on a spawned task; let it run.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn requests_per_minute_with_retry_after_and_recovery() {
    let clock = Arc::new(ManualClock::at(T0));
    let mut r = rule("per-user", LimitScope::Principal);
    r.requests_per_minute = Some(3);
    let l = limiter(vec![r], Arc::new(MemoryCounters::new()), clock.clone());
    let alice = user("alice", &[]);
    for i in 0..3 {
        let t = l.admit(&req(&alice)).await.expect("under the limit");
        assert_eq!(
            t.headers().requests.map(|h| h.1),
            Some(2 - i),
            "remaining counts down"
        );
        t.settle(None);
    }
    let Err(LimitError::Exceeded {
        rule,
        retry_after_ms,
        headers,
        spend,
        ..
    }) = l.admit(&req(&alice)).await
    else {
        panic!("the 4th request must be refused");
    };
    assert_eq!((rule.as_str(), spend), ("per-user", false));
    assert_eq!(headers.requests.map(|h| h.1), Some(0));
    let wait = retry_after_ms.expect("will fit later");
    // Just before the advertised time it still does not fit; at it, it does.
    clock.advance_ms(wait - 1_000);
    assert!(l.admit(&req(&alice)).await.is_err());
    clock.advance_ms(1_000);
    assert!(
        l.admit(&req(&alice)).await.is_ok(),
        "fits after Retry-After"
    );
    // Another principal has their own counter.
    assert!(l.admit(&req(&user("bob", &[]))).await.is_ok());
}

#[tokio::test]
async fn token_reservations_are_reconciled_with_reported_usage() {
    let clock = Arc::new(ManualClock::at(T0));
    let mut r = rule("tpm", LimitScope::Principal);
    r.tokens_per_minute = Some(200);
    let counters = Arc::new(MemoryCounters::new());
    let l = limiter(vec![r], counters.clone(), clock.clone());
    let alice = user("alice", &[]);
    // Estimate: ~20 input + 50 max output = ~70 each; three fit, not four.
    let a = l.admit(&req(&alice)).await.expect("1");
    let b = l.admit(&req(&alice)).await.expect("2");
    let c = l.admit(&req(&alice)).await.expect("3");
    assert!(
        l.admit(&req(&alice)).await.is_err(),
        "estimates are reserved up front"
    );
    // The calls really used 10 tokens each: the difference is given back.
    let small = Usage {
        input_tokens: 8,
        output_tokens: 2,
        total_tokens: 10,
        cached_tokens: 0,
    };
    for t in [a, b, c] {
        t.settle(Some(&small));
    }
    settle_flush().await;
    assert!(
        l.admit(&req(&alice)).await.is_ok(),
        "room came back after reconciliation"
    );
}

#[tokio::test]
async fn concurrency_slots_are_released_on_every_path() {
    let clock = Arc::new(ManualClock::at(T0));
    let mut r = rule("conc", LimitScope::Principal);
    r.concurrent_requests = Some(2);
    let l = limiter(vec![r], Arc::new(MemoryCounters::new()), clock);
    let alice = user("alice", &[]);
    let a = l.admit(&req(&alice)).await.expect("1");
    let b = l.admit(&req(&alice)).await.expect("2");
    assert!(l.admit(&req(&alice)).await.is_err());
    drop(a); // e.g. the caller hung up
    settle_flush().await;
    let c = l.admit(&req(&alice)).await.expect("slot freed by drop");
    b.refund();
    c.settle(None);
    settle_flush().await;
    assert!(l.admit(&req(&alice)).await.is_ok());
    assert!(l.admit(&req(&alice)).await.is_ok());
}

#[tokio::test]
async fn group_budgets_are_shared_and_reset_each_day() {
    let clock = Arc::new(ManualClock::at(T0));
    let mut r = rule("interns-daily", LimitScope::Group);
    r.group = Some("interns".into());
    r.usd_micros_per_day = Some(2_000); // $0.002
    let l = limiter(vec![r], Arc::new(MemoryCounters::new()), clock.clone());
    let (bob, dan, eve) = (
        user("bob", &["interns"]),
        user("dan", &["interns"]),
        user("eve", &["eng"]),
    );
    // Each call's estimate: ~20 input * 2.5 + 50 output * 10 = ~550 micro-USD.
    let t = l.admit(&req(&bob)).await.expect("bob 1");
    let used = Usage {
        input_tokens: 20,
        output_tokens: 50,
        total_tokens: 70,
        cached_tokens: 0,
    };
    assert_eq!(t.settle(Some(&used)), Some(550));
    l.admit(&req(&dan))
        .await
        .expect("dan 1")
        .settle(Some(&used));
    l.admit(&req(&bob))
        .await
        .expect("bob 2")
        .settle(Some(&used));
    settle_flush().await;
    // 1650 spent by the group; another ~550 would pass $0.002.
    let Err(e) = l.admit(&req(&dan)).await else {
        panic!("the shared budget is spent")
    };
    assert_eq!(e.code(), "budget_exceeded");
    assert!(
        l.admit(&req(&eve)).await.is_ok(),
        "not in the group: not counted"
    );
    clock.advance_ms(24 * 3_600_000);
    assert!(l.admit(&req(&dan)).await.is_ok(), "a new UTC day");
}

#[tokio::test]
async fn unknown_prices_and_dead_backends_fail_closed() {
    let clock = Arc::new(ManualClock::at(T0));
    let mut r = rule("budget", LimitScope::Principal);
    r.usd_micros_per_month = Some(1_000_000);
    let l = limiter(
        vec![r.clone()],
        Arc::new(MemoryCounters::new()),
        clock.clone(),
    );
    let alice = user("alice", &[]);
    let mut o3 = req(&alice);
    o3.model = Some("o3-pro");
    let Err(e) = l.admit(&o3).await else {
        panic!("unpriced model under a budget")
    };
    assert_eq!(e.code(), "price_unknown");

    #[derive(Debug)]
    struct Down;
    #[async_trait::async_trait]
    impl Counters for Down {
        async fn check_and_reserve(&self, _: &[Charge]) -> Result<Checked, BackendError> {
            Err(BackendError("connection refused".into()))
        }
        async fn adjust(&self, _: &[Adjustment]) -> Result<(), BackendError> {
            Err(BackendError("connection refused".into()))
        }
    }
    let closed = limiter(vec![r.clone()], Arc::new(Down), clock.clone());
    assert_eq!(
        closed.admit(&req(&alice)).await.err().map(|e| e.code()),
        Some("limits_unavailable")
    );
    let config = LimitsConfig {
        backend: LimitBackend::Memory,
        fail_open: true,
        default_max_output_tokens: 100,
        rules: vec![r],
    };
    let open = Limiter::new(&config, prices(), Arc::new(Down), clock);
    assert!(
        open.admit(&req(&alice)).await.is_ok(),
        "on_backend_error = allow"
    );
}

/// Two limiters (two replicas) sharing counters in the real Redis.
#[tokio::test]
async fn replicas_share_one_limit_through_redis() {
    let url = "redis://127.0.0.1:6379";
    let a = RedisCounters::connect(url)
        .await
        .expect("Redis on 127.0.0.1:6379 (.ci/run starts it)");
    let b = RedisCounters::connect(url).await.expect("redis");
    // A unique prefix per run keeps parallel tests apart.
    let prefix = format!("warden-test-{}-{}", std::process::id(), T0);
    let config = |fail_open| LimitsConfig {
        backend: LimitBackend::Redis {
            url: url.into(),
            prefix: prefix.clone(),
        },
        fail_open,
        default_max_output_tokens: 100,
        rules: vec![{
            let mut r = rule("shared", LimitScope::Principal);
            r.requests_per_minute = Some(5);
            r.concurrent_requests = Some(100);
            r
        }],
    };
    let clock = Arc::new(ManualClock::at(T0));
    let one = Limiter::new(&config(false), prices(), Arc::new(a), clock.clone());
    let two = Limiter::new(&config(false), prices(), Arc::new(b), clock.clone());
    let alice = user("alice", &[]);
    let mut admitted = 0;
    for i in 0..10 {
        let l = if i % 2 == 0 { &one } else { &two };
        if let Ok(t) = l.admit(&req(&alice)).await {
            admitted += 1;
            t.settle(None);
        }
    }
    assert_eq!(admitted, 5, "five in total across both replicas");
    clock.advance_ms(120_000);
    assert!(one.admit(&req(&alice)).await.is_ok(), "a new window");
}

/// A call the upstream never took on costs nothing, however it ends; one it
/// answered keeps its estimate when no usage comes (a cut stream).
#[tokio::test]
async fn only_answered_calls_keep_their_estimates() {
    let clock = Arc::new(ManualClock::at(T0));
    let mut r = rule("daily", LimitScope::Principal);
    r.usd_micros_per_day = Some(1_000); // one ~550 reservation at a time
    let l = limiter(vec![r], Arc::new(MemoryCounters::new()), clock);
    let alice = user("alice", &[]);
    // Never answered: dropped (connect error, timeout, caller gone first)...
    drop(l.admit(&req(&alice)).await.expect("1"));
    settle_flush().await;
    // ... or settled without usage (an error status): both given back.
    l.admit(&req(&alice)).await.expect("2").settle(None);
    settle_flush().await;
    let mut t = l.admit(&req(&alice)).await.expect("3: nothing was charged");
    t.answered();
    t.settle(None); // answered, no usage: the estimate stays
    settle_flush().await;
    assert!(
        l.admit(&req(&alice)).await.is_err(),
        "the answered call kept its estimate"
    );
    let mut budget = rule("daily2", LimitScope::Principal);
    budget.usd_micros_per_day = Some(1_000);
    let l = limiter(
        vec![budget],
        Arc::new(MemoryCounters::new()),
        Arc::new(ManualClock::at(T0)),
    );
    let mut t = l.admit(&req(&alice)).await.expect("a");
    t.answered();
    drop(t); // the caller left mid-answer: the work was done
    settle_flush().await;
    assert!(l.admit(&req(&alice)).await.is_err());
}
