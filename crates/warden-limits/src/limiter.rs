use std::sync::Arc;

use warden_config::{LimitRule, LimitScope, LimitsConfig, Price, PriceTable};
use warden_core::wildcard::wildcard_match;
use warden_core::{Principal, PrincipalKind, Usage};

use crate::clock::Clock;
use crate::counters::{Adjustment, Charge, Counters, Reading};
use crate::estimate;
use crate::window::Window;

/// What the limiter needs to know about a request.
#[derive(Debug, Clone, Copy)]
pub struct LimitRequest<'a> {
    pub principal: &'a Principal,
    pub model: Option<&'a str>,
    /// The JSON body, for the token estimate.
    pub body: Option<&'a [u8]>,
    /// The request's own cap on each choice's output tokens.
    pub max_output_tokens: Option<u64>,
    /// How many outputs the call generates (`n`, `best_of`; at least 1):
    /// multiplies the output estimate.
    pub choices: u64,
    /// Whether the endpoint generates output tokens (not embeddings).
    pub generates: bool,
    /// Reserve spend only (a batch line: it runs later, so it takes no
    /// request, token or concurrency slot now).
    pub spend_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Metric {
    Requests,
    Tokens,
    Concurrent,
    SpendDay,
    SpendMonth,
}

impl Metric {
    fn as_str(self) -> &'static str {
        match self {
            Metric::Requests => "rpm",
            Metric::Tokens => "tpm",
            Metric::Concurrent => "conc",
            Metric::SpendDay => "usd_day",
            Metric::SpendMonth => "usd_month",
        }
    }

    fn window(self) -> Window {
        match self {
            Metric::Requests | Metric::Tokens => Window::SlidingMinute,
            Metric::Concurrent => Window::Gauge,
            Metric::SpendDay => Window::Day,
            Metric::SpendMonth => Window::Month,
        }
    }

    fn describe(self, limit: u64) -> String {
        match self {
            Metric::Requests => format!("{limit} requests per minute"),
            Metric::Tokens => format!("{limit} tokens per minute"),
            Metric::Concurrent => format!("{limit} concurrent requests"),
            Metric::SpendDay => format!("${:.2} per day", limit as f64 / 1e6),
            Metric::SpendMonth => format!("${:.2} per month", limit as f64 / 1e6),
        }
    }
}

/// OpenAI-style `x-ratelimit-*` values for the tightest requests and tokens
/// limits that applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateHeaders {
    /// (limit, remaining, reset in ms)
    pub requests: Option<(u64, u64, i64)>,
    pub tokens: Option<(u64, u64, i64)>,
}

impl RateHeaders {
    /// Header name/value pairs, as OpenAI sends them.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::with_capacity(6);
        if let Some((limit, remaining, reset)) = self.requests {
            out.push(("x-ratelimit-limit-requests", limit.to_string()));
            out.push(("x-ratelimit-remaining-requests", remaining.to_string()));
            out.push(("x-ratelimit-reset-requests", duration(reset)));
        }
        if let Some((limit, remaining, reset)) = self.tokens {
            out.push(("x-ratelimit-limit-tokens", limit.to_string()));
            out.push(("x-ratelimit-remaining-tokens", remaining.to_string()));
            out.push(("x-ratelimit-reset-tokens", duration(reset)));
        }
        out
    }

    fn consider(&mut self, metric: Metric, limit: u64, remaining: u64, reset: i64) {
        let slot = match metric {
            Metric::Requests => &mut self.requests,
            Metric::Tokens => &mut self.tokens,
            _ => return,
        };
        if slot.is_none_or(|(_, r, _)| remaining < r) {
            *slot = Some((limit, remaining, reset));
        }
    }
}

/// OpenAI's duration format: `20ms`, `1s`, `6m0s`.
fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = (ms + 999) / 1000;
    if secs < 60 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{}m{}s", secs / 60, secs % 60)
    } else {
        format!("{}h{}m{}s", secs / 3600, secs / 60 % 60, secs % 60)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error("{}", exceeded_message(.rule, .what, .retry_after_ms))]
    Exceeded {
        rule: String,
        what: String,
        spend: bool,
        retry_after_ms: Option<i64>,
        headers: Box<RateHeaders>,
    },
    #[error("no price is configured for the model `{0}`, and a spend budget applies to this call")]
    PriceUnknown(String),
    #[error("rate limits cannot be checked right now; try again shortly")]
    Unavailable,
}

fn exceeded_message(rule: &str, what: &str, retry: &Option<i64>) -> String {
    match retry {
        Some(ms) => format!(
            "limit `{rule}` reached ({what}); retry in {}",
            duration(*ms)
        ),
        None => format!("this request alone exceeds the limit `{rule}` ({what})"),
    }
}

impl LimitError {
    pub fn code(&self) -> &'static str {
        match self {
            LimitError::Exceeded { spend: true, .. } => "budget_exceeded",
            LimitError::Exceeded { spend: false, .. } => "rate_limit_exceeded",
            LimitError::PriceUnknown(_) => "price_unknown",
            LimitError::Unavailable => "limits_unavailable",
        }
    }
}

/// A pending reservation; settle it when the call ends.
#[derive(Debug)]
pub struct Ticket {
    counters: Arc<dyn Counters>,
    headers: RateHeaders,
    /// Token buckets reserved, with the estimate put in each.
    tokens: Vec<(String, u64)>,
    /// Spend buckets reserved, with the estimated cost put in each.
    spend: Vec<(String, u64)>,
    concurrency: Vec<String>,
    price: Option<Price>,
    done: bool,
    /// The upstream answered with a success status: from here on, work
    /// may have been done, so a call that ends without usage keeps its
    /// estimates. Until then (never sent, connect error, timeout, an error
    /// status, the caller gone first) the reservation is given back.
    answered: bool,
}

impl Ticket {
    pub fn headers(&self) -> &RateHeaders {
        &self.headers
    }

    /// The upstream answered with a success status (see `answered`).
    pub fn answered(&mut self) {
        self.answered = true;
    }

    /// The call ended. With the upstream's usage, estimates become actuals;
    /// without, the estimates stay when the upstream answered with success
    /// (a cut stream: work was done) and are given back when it did not (an
    /// error answer: no work). Returns the actual cost.
    pub fn settle(mut self, usage: Option<&Usage>) -> Option<u64> {
        if usage.is_none() && !self.answered {
            self.refund();
            return None;
        }
        let mut adjustments = self.release();
        let cost = usage.and_then(|u| self.price.map(|p| estimate::cost_micros(p, u)));
        if let Some(u) = usage {
            for (key, reserved) in &self.tokens {
                adjustments.push(delta(key, u.total_tokens, *reserved));
            }
            if let Some(cost) = cost {
                for (key, reserved) in &self.spend {
                    adjustments.push(delta(key, cost, *reserved));
                }
            }
        }
        self.apply(adjustments);
        cost
    }

    /// The call never reached the upstream: give back tokens and spend.
    pub fn refund(mut self) {
        let mut adjustments = self.release();
        for (key, reserved) in self.tokens.iter().chain(&self.spend) {
            adjustments.push(delta(key, 0, *reserved));
        }
        self.apply(adjustments);
    }

    fn release(&mut self) -> Vec<Adjustment> {
        self.done = true;
        self.concurrency
            .drain(..)
            .map(|key| Adjustment { key, delta: -1 })
            .collect()
    }

    fn apply(&self, adjustments: Vec<Adjustment>) {
        if adjustments.iter().all(|a| a.delta == 0) || self.counters.adjust_now(&adjustments) {
            return;
        }
        let counters = Arc::clone(&self.counters);
        // Off the response path: the caller is not kept waiting for it.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = counters.adjust(&adjustments).await {
                    tracing::warn!(error = %e, "could not settle a rate-limit reservation");
                }
            });
        }
    }
}

fn delta(key: &str, actual: u64, reserved: u64) -> Adjustment {
    let d = i128::from(actual) - i128::from(reserved);
    Adjustment {
        key: key.to_owned(),
        delta: i64::try_from(d).unwrap_or(0),
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // Neither settled nor refunded: free the slot; keep the estimates
        // only if the upstream took the call on (a caller gone mid-answer),
        // else nothing happened that costs anything.
        let mut adjustments = self.release();
        if !self.answered {
            for (key, reserved) in self.tokens.iter().chain(&self.spend) {
                adjustments.push(delta(key, 0, *reserved));
            }
        }
        self.apply(adjustments);
    }
}

/// Whether `rule` counts a call by `principal` to `model`: its group, its
/// model pattern, and for `key` scope a Warden key. (`warden policy test`
/// asks the same.)
pub fn rule_applies(rule: &LimitRule, principal: &Principal, model: Option<&str>) -> bool {
    let group_ok = rule
        .group
        .as_ref()
        .is_none_or(|g| principal.groups.iter().any(|pg| pg == g));
    let model_ok = rule
        .model
        .as_ref()
        .is_none_or(|m| model.is_some_and(|model| wildcard_match(m, model)));
    let scope_ok = rule.scope != LimitScope::Key || principal.kind == PrincipalKind::Key;
    group_ok && model_ok && scope_ok
}

#[derive(Debug)]
pub struct Limiter {
    rules: Vec<LimitRule>,
    prices: PriceTable,
    counters: Arc<dyn Counters>,
    clock: Arc<dyn Clock>,
    prefix: String,
    fail_open: bool,
    default_max_output: u64,
}

impl Limiter {
    pub fn new(
        config: &LimitsConfig,
        prices: PriceTable,
        counters: Arc<dyn Counters>,
        clock: Arc<dyn Clock>,
    ) -> Limiter {
        let prefix = match &config.backend {
            warden_config::LimitBackend::Redis { prefix, .. } => prefix.clone(),
            warden_config::LimitBackend::Memory => "warden".into(),
        };
        if config.rules.iter().any(LimitRule::needs_tokens) {
            estimate::warm_up();
        }
        Limiter {
            rules: config.rules.clone(),
            prices,
            counters,
            clock,
            prefix,
            fail_open: config.fail_open,
            default_max_output: config.default_max_output_tokens,
        }
    }

    fn applies(rule: &LimitRule, req: &LimitRequest<'_>) -> bool {
        rule_applies(rule, req.principal, req.model)
    }

    fn scope_id(rule: &LimitRule, req: &LimitRequest<'_>) -> String {
        let p = req.principal;
        match rule.scope {
            LimitScope::Principal => format!(
                "{}:{}:{}",
                p.kind.as_str(),
                p.issuer.as_deref().unwrap_or(""),
                p.entity_id()
            ),
            LimitScope::Key => p.key_id.clone().unwrap_or_default(),
            LimitScope::Group => rule.group.clone().unwrap_or_default(),
            LimitScope::Model => req.model.unwrap_or("").to_owned(),
            LimitScope::Global => "all".to_owned(),
        }
    }

    /// Reserves what the request needs under every rule that applies, or
    /// says which limit it hit.
    pub async fn admit(&self, req: &LimitRequest<'_>) -> Result<Ticket, LimitError> {
        let rules: Vec<&LimitRule> = self
            .rules
            .iter()
            .filter(|r| Self::applies(r, req))
            .collect();
        let price = req.model.and_then(|m| estimate::price_of(&self.prices, m));
        let empty = Ticket {
            counters: Arc::clone(&self.counters),
            headers: RateHeaders::default(),
            tokens: Vec::new(),
            spend: Vec::new(),
            concurrency: Vec::new(),
            price,
            done: false,
            answered: false,
        };
        if rules.is_empty() {
            return Ok(empty);
        }
        let (tokens, cost) = self.estimate(&rules, req, price)?;
        let now = self.clock.now_ms();
        let mut charges = Vec::new();
        let mut meta = Vec::new();
        for rule in &rules {
            let scope = Self::scope_id(rule, req);
            let metrics = [
                (Metric::Requests, rule.requests_per_minute, 1),
                (Metric::Tokens, rule.tokens_per_minute, tokens),
                (Metric::Concurrent, rule.concurrent_requests, 1),
                (Metric::SpendDay, rule.usd_micros_per_day, cost),
                (Metric::SpendMonth, rule.usd_micros_per_month, cost),
            ];
            for (metric, limit, amount) in metrics {
                let Some(limit) = limit else { continue };
                if req.spend_only && !matches!(metric, Metric::SpendDay | Metric::SpendMonth) {
                    continue;
                }
                let window = metric.window();
                charges.push(Charge {
                    key: format!("{}:{}:{}:{scope}", self.prefix, rule.name, metric.as_str()),
                    window,
                    position: window.position(now),
                    limit,
                    amount,
                });
                meta.push((rule.name.as_str(), metric));
            }
        }
        let checked = match self.counters.check_and_reserve(&charges).await {
            Ok(c) => c,
            Err(e) if self.fail_open => {
                tracing::warn!(error = %e, "limit backend down; admitting (on_backend_error = allow)");
                return Ok(empty);
            }
            Err(e) => {
                tracing::error!(error = %e, "limit backend down; refusing (fail closed)");
                return Err(LimitError::Unavailable);
            }
        };
        let mut headers = RateHeaders::default();
        for ((charge, reading), (_, metric)) in charges.iter().zip(&checked.readings).zip(&meta) {
            let Reading { current, previous } = *reading;
            let after = charge.window.count(charge.position, current, previous)
                + if checked.denied.is_none() {
                    charge.amount
                } else {
                    0
                };
            let reset = charge
                .window
                .reset_ms(charge.position, current + charge.amount, previous);
            headers.consider(
                *metric,
                charge.limit,
                charge.limit.saturating_sub(after),
                reset,
            );
        }
        if let Some(i) = checked.denied {
            let (rule, metric) = meta[i];
            let c = &charges[i];
            let r = checked.readings.get(i).copied().unwrap_or_default();
            return Err(LimitError::Exceeded {
                rule: rule.to_owned(),
                what: metric.describe(c.limit),
                spend: matches!(metric, Metric::SpendDay | Metric::SpendMonth),
                retry_after_ms: c
                    .window
                    .retry_after_ms(c.position, r.current, r.previous, c.amount, c.limit),
                headers: Box::new(headers),
            });
        }
        let mut ticket = empty;
        ticket.headers = headers;
        for (charge, (_, metric)) in charges.iter().zip(&meta) {
            match metric {
                Metric::Tokens => ticket.tokens.push((charge.bucket_key(), charge.amount)),
                Metric::SpendDay | Metric::SpendMonth => {
                    ticket.spend.push((charge.bucket_key(), charge.amount));
                }
                Metric::Concurrent => ticket.concurrency.push(charge.bucket_key()),
                Metric::Requests => {}
            }
        }
        Ok(ticket)
    }

    /// Estimated total tokens and cost (micro-USD), computed only when a
    /// rule counts them.
    fn estimate(
        &self,
        rules: &[&LimitRule],
        req: &LimitRequest<'_>,
        price: Option<Price>,
    ) -> Result<(u64, u64), LimitError> {
        if !rules.iter().any(|r| r.needs_tokens()) {
            return Ok((0, 0));
        }
        let (Some(model), Some(body)) = (req.model, req.body) else {
            return Ok((0, 0)); // model-less calls (files, batches) carry no tokens
        };
        let input = estimate::input_tokens(model, body);
        let output = if req.generates {
            req.max_output_tokens
                .unwrap_or(self.default_max_output)
                .saturating_mul(req.choices.max(1))
        } else {
            0
        };
        let usage = Usage {
            input_tokens: input,
            output_tokens: output,
            total_tokens: input + output,
            cached_tokens: 0,
        };
        let cost = match (price, rules.iter().any(|r| r.needs_spend())) {
            (Some(p), _) => estimate::cost_micros(p, &usage),
            (None, false) => 0,
            (None, true) => return Err(LimitError::PriceUnknown(model.to_owned())),
        };
        Ok((usage.total_tokens, cost))
    }
}
