//! Just-in-time approval: a stage between inspection and limits that holds
//! a risky call until a human approves it.
//!
//! **When.** A call needs approval when a deciding Cedar permit carries
//! `@approval("<rule>")`, or a `[[approvals.rule]]` matches it (caller's
//! groups, model, endpoint, an offered tool, an estimated cost, outside
//! working hours). The first such rule decides the quorum, the approvers
//! and the mode.
//!
//! **Bound to the call.** The approval records the hash of the exact
//! (masked) request and of the policy; only that call, by that caller,
//! under that policy, can use it, and only once. Approving one call never
//! releases another; a grant ("this person, this model and endpoint, for
//! N minutes"), which approvers may give instead, does.
//!
//! **Waiting.** `hold` (default): the request stays open (a future on the
//! connection's task: no thread, a few hundred bytes) until the approval is
//! decided, the hold time passes (`approval_expired`), or the caller goes
//! away (the approval is cancelled). Decisions made here wake the call at
//! once; those made on another replica are seen by a poller that asks the
//! store which held approvals were decided, every 250 ms. `async` (per rule, or the
//! caller's `X-Warden-Approval-Mode: async`): refused at once with 403
//! `approval_required`, the approval id and `Retry-After`; the same call
//! retried with `X-Warden-Approval: <id>` goes through once approved.
//!
//! Every step is an audit event in the step's own transaction
//! (`approval.request`, `approval.decide`, `approval.use`,
//! `approval.expire`, `approval.cancel`, `grant.create`, `grant.revoke`),
//! or queued with the call's record (`grant.use`, `approval.notify`).

pub mod api;
pub mod notify;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use sha2::{Digest as _, Sha256};
use tokio::sync::watch;
use warden_config::{ApprovalRule, ApprovalsConfig, Config};
use warden_core::approval::{Approval, ApprovalMode, ApprovalState, CallSummary, same_person};
use warden_core::{Actor, AuditEvent, EndpointKind, Principal};
use warden_limits::Clock;
use warden_policy::Obligations;
use warden_store::Store;

use crate::Gateway;
use crate::error::GatewayError;
use crate::exchange::RecordGuard;
use crate::records::RecordSink;
use notify::{Notice, Notifier};

/// How often held approvals are read back from the store (decisions made
/// on other replicas).
const POLL: Duration = Duration::from_millis(250);
/// How often pending approvals nobody holds are checked for expiry.
const SWEEP: Duration = Duration::from_secs(5);
/// The excerpt of the masked request approvers are shown.
const EXCERPT_CHARS: usize = 500;

/// The approvals stage's state, shared by the data path, the API and the
/// poller.
#[derive(Debug)]
pub struct Approvals {
    pub config: ApprovalsConfig,
    notifier: Notifier,
    /// SHA-256 of the policy and approval rules: an approval is only good
    /// under the policy it was asked under.
    policy_version: String,
    /// Held calls, by approval id: where their decision is sent.
    waiting: Mutex<HashMap<String, watch::Sender<Option<ApprovalState>>>>,
    clock: Arc<dyn Clock>,
}

impl Approvals {
    pub fn new(config: &Config, clock: Arc<dyn Clock>) -> Result<Option<Arc<Approvals>>, String> {
        let Some(ap) = &config.approvals else {
            return Ok(None);
        };
        let policy_version = hex(&Sha256::digest(
            format!("{:?}\n{:?}", config.policy, ap.rules).as_bytes(),
        ));
        Ok(Some(Arc::new(Approvals {
            config: ap.clone(),
            notifier: Notifier::new(&ap.webhooks)?,
            policy_version,
            waiting: Mutex::new(HashMap::new()),
            clock,
        })))
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    fn waiting(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, watch::Sender<Option<ApprovalState>>>> {
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Wakes the call held on `id`, if this gateway holds it.
    pub fn wake(&self, id: &str, state: ApprovalState) {
        if state == ApprovalState::Pending {
            return;
        }
        if let Some(tx) = self.waiting().get(id) {
            tx.send_replace(Some(state));
        }
    }

    /// Tells the webhooks, recording each delivery's outcome.
    pub fn notify(&self, notice: Notice, approval: &Approval, sink: &RecordSink) {
        if self.notifier.is_empty() {
            return;
        }
        let (sink, id, session) = (
            sink.clone(),
            approval.id.clone(),
            approval.summary.session_id.clone(),
        );
        self.notifier
            .send(notice, approval, move |(hook, ok, tries)| {
                let mut e = AuditEvent::new("approval.notify", Actor::warden(), Some(id.clone()))
                    .with("notice", notice.as_str())
                    .with("webhook", hook.to_string())
                    .with("tries", tries.to_string());
                e.status = if ok { "ok" } else { "failed" }.into();
                e.session_id.clone_from(&session);
                drop(sink.event(e));
            });
    }

    /// Reads held approvals back every [`POLL`] and wakes those decided
    /// elsewhere; every [`SWEEP`], expires pending approvals past their
    /// time that nobody holds any more (their gateway restarted, or an
    /// async approval nobody decided). Runs for the gateway's life.
    pub fn start_poller(self: &Arc<Self>, store: Arc<dyn Store>) {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut swept = tokio::time::Instant::now();
            loop {
                tick.tick().await;
                if swept.elapsed() >= SWEEP {
                    swept = tokio::time::Instant::now();
                    me.sweep(&*store).await;
                }
                let ids: Vec<String> = me.waiting().keys().cloned().collect();
                if ids.is_empty() {
                    continue;
                }
                match store.decided_in(&ids).await {
                    Ok(found) => {
                        for (id, state) in found {
                            me.wake(&id, state);
                        }
                    }
                    Err(error) => tracing::warn!(%error, "cannot read held approvals"),
                }
            }
        });
    }
}

impl Approvals {
    /// Expires pending approvals past `expires_ms` that this gateway does
    /// not hold (a held one is expired by its own call when its hold ends).
    async fn sweep(&self, store: &dyn Store) {
        let pending = match store
            .list_approvals(Some(ApprovalState::Pending), 1000)
            .await
        {
            Ok(p) => p,
            Err(error) => {
                tracing::warn!(%error, "cannot read pending approvals");
                return;
            }
        };
        let now = self.now_ms();
        for a in pending {
            if now < a.expires_ms || self.waiting().contains_key(&a.id) {
                continue;
            }
            let Ok(Some((mut a, v))) = store.approval(&a.id).await else {
                continue;
            };
            if a.state != ApprovalState::Pending {
                continue;
            }
            a.expire(now);
            let e = step("approval.expire", Actor::warden(), &a);
            if let Err(error) = store.update_approval(&a, v, None, &[e]).await {
                tracing::warn!(%error, approval = %a.id, "cannot expire an approval");
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    warden_store::chain::hex(bytes)
}

/// The call, as the approval stage sees it.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub headers: &'a HeaderMap,
    pub method: &'a str,
    pub path: &'a str,
    pub principal: &'a Principal,
    pub obligations: &'a Obligations,
    pub endpoint: EndpointKind,
    pub model: Option<&'a str>,
    pub connection: &'a str,
    pub stream: bool,
    pub tools: &'a [String],
    pub max_output_tokens: Option<u64>,
    /// The masked JSON body, when there is one.
    pub body: Option<&'a Bytes>,
    pub session: Option<&'a str>,
}

/// Whether this call needs approval, and which rule asks: a `@approval`
/// annotation of a deciding policy first, then the first matching rule.
/// `cost` is the call's estimated cost (micro-USD), asked only when a rule
/// has `min_cost_usd`; unknown counts as reaching it. (`warden policy test`
/// asks the same.)
pub fn rule_for<'c>(
    config: &'c ApprovalsConfig,
    call: &Call<'_>,
    cost: impl Fn() -> Option<u64>,
    now_ms: i64,
) -> Option<&'c ApprovalRule> {
    if let Some(rule) = call
        .obligations
        .approval
        .iter()
        .find_map(|name| config.rule(name))
    {
        return Some(rule);
    }
    config
        .rules
        .iter()
        .find(|r| !r.policy_only && matches(r, call, &cost, now_ms))
}

fn matches(
    rule: &ApprovalRule,
    call: &Call<'_>,
    cost: &impl Fn() -> Option<u64>,
    now_ms: i64,
) -> bool {
    use warden_core::wildcard::wildcard_match;
    if let Some(groups) = &rule.groups
        && !call.principal.groups.iter().any(|g| groups.contains(g))
    {
        return false;
    }
    if let Some(models) = &rule.models {
        let Some(model) = call.model else {
            return false;
        };
        if !models.iter().any(|p| wildcard_match(p, model)) {
            return false;
        }
    }
    if let Some(endpoints) = &rule.endpoints
        && !endpoints.contains(&call.endpoint)
    {
        return false;
    }
    if let Some(tools) = &rule.tools
        && !call
            .tools
            .iter()
            .any(|t| tools.iter().any(|p| wildcard_match(p, t)))
    {
        return false;
    }
    if let Some((from, to)) = rule.outside_hours
        && within_hours(now_ms, from, to)
    {
        return false;
    }
    if let Some(min) = rule.min_cost_usd_micros {
        // An unknown price cannot show the call is cheap: it needs approval.
        return cost().is_none_or(|c| c >= min);
    }
    true
}

/// Monday to Friday, between `from` and `to` (UTC minutes of the day).
fn within_hours(now_ms: i64, from: u16, to: u16) -> bool {
    let minutes = now_ms.div_euclid(60_000);
    let days = minutes.div_euclid(1440);
    let minute = minutes.rem_euclid(1440);
    // 1970-01-01 was a Thursday: day 0 is weekday 3 (Monday = 0).
    let weekday = (days + 3).rem_euclid(7);
    weekday < 5 && minute >= i64::from(from) && minute < i64::from(to)
}

/// The estimated cost of the call in micro-USD: its input tokens (counted
/// with the model's tokenizer) and its output cap at the configured price.
pub(crate) fn estimate(gw: &Gateway, call: &Call<'_>) -> (Option<u64>, Option<u64>) {
    let (Some(model), Some(body)) = (call.model, call.body) else {
        return (None, None);
    };
    let input = warden_limits::estimate::input_tokens(model, body);
    let cost = warden_limits::estimate::price_of(&gw.config.prices, model).map(|price| {
        warden_limits::estimate::cost_micros(
            price,
            &warden_core::Usage {
                input_tokens: input,
                output_tokens: call.max_output_tokens.unwrap_or(0),
                total_tokens: input + call.max_output_tokens.unwrap_or(0),
                cached_tokens: 0,
            },
        )
    });
    (Some(input), cost)
}

/// SHA-256 of what makes the call this call: method, path, caller, body.
fn request_hash(call: &Call<'_>) -> String {
    let mut h = Sha256::new();
    for part in [
        call.method,
        call.path,
        call.principal.subject.as_str(),
        call.principal.issuer.as_deref().unwrap_or(""),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    if let Some(body) = call.body {
        h.update(body);
    }
    hex(&h.finalize())
}

/// The start of the masked request's text.
fn excerpt(call: &Call<'_>) -> String {
    let Some(body) = call.body else {
        return String::new();
    };
    let mut out = String::new();
    if let (Some(shape), Ok(mut v)) = (
        crate::inspect::shape(call.endpoint),
        serde_json::from_slice::<serde_json::Value>(body),
    ) {
        warden_pii::json::visit_texts(shape, &mut v, &mut |t, _| {
            if let Some(s) = t.as_str()
                && out.chars().count() < EXCERPT_CHARS
            {
                if !out.is_empty() {
                    out.push_str(" | ");
                }
                out.push_str(s);
            }
        });
    }
    out.chars().take(EXCERPT_CHARS).collect()
}

fn actor_of(principal: &Principal, guard: &RecordGuard) -> Actor {
    Actor {
        client_addr: guard.actor().client_addr,
        ..Actor::of(principal)
    }
}

fn store_down(error: warden_store::StoreError) -> GatewayError {
    tracing::error!(%error, "approvals: the store could not answer");
    GatewayError::StoreUnavailable
}

/// The event for one step of an approval, filed under its call's session.
pub(crate) fn step(action: &str, actor: Actor, a: &Approval) -> AuditEvent {
    let mut e = AuditEvent::new(action, actor, Some(a.id.clone()))
        .with("rule", a.rule.clone())
        .with("state", a.state.as_str())
        .with("request_id", a.summary.request_id.clone());
    e.session_id.clone_from(&a.summary.session_id);
    e
}

/// The approval stage. `Ok(())`: the call may go on (approved for it, a
/// grant covers it, or it needs no approval). `held` is told the approval
/// id while a call is held (streaming callers get keep-alives).
pub async fn gate(
    gw: &Gateway,
    call: Call<'_>,
    guard: &mut RecordGuard,
    held: Option<&watch::Sender<Option<String>>>,
) -> Result<(), GatewayError> {
    let Some(ap) = &gw.approvals else {
        return Ok(());
    };
    let now = ap.now_ms();
    // Tokenizing the body costs: only when a rule's cost condition is
    // reached, or an approval is opened, and then once.
    let estimated = std::sync::OnceLock::new();
    let estimate = || *estimated.get_or_init(|| estimate(gw, &call));
    let Some(rule) = rule_for(&ap.config, &call, || estimate().1, now) else {
        return Ok(());
    };
    let me = actor_of(call.principal, guard);
    let hash = request_hash(&call);
    // A retry carrying the approval it was given.
    if let Some(id) = call
        .headers
        .get("x-warden-approval")
        .and_then(|v| v.to_str().ok())
    {
        // Boxed, as `open` and `hold` below: the stage's state stays small
        // in every call's pipeline future, and only a call that needs
        // approval carries it.
        return Box::pin(redeem(gw, ap, id.trim(), &me, &hash, guard)).await;
    }
    // A grant an approver gave this person for this kind of call.
    if let Some(used) = granted(gw, &call, &me, &rule.id, now, guard).await? {
        drop(gw.records.event(used));
        return Ok(());
    }
    let asynchronous = rule.mode == ApprovalMode::Async
        || call
            .headers
            .get("x-warden-approval-mode")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"async"));
    let stream = call.stream;
    // Only the id is kept while the call waits: the approval, its event
    // and the caller's details are dropped first.
    let id = Box::pin(open(
        gw,
        ap,
        &call,
        rule,
        me,
        hash,
        estimate(),
        asynchronous,
        guard,
    ))
    .await?;
    if asynchronous {
        return Err(GatewayError::ApprovalRequired {
            id,
            rule: rule.id.clone(),
        });
    }
    Box::pin(hold(gw, ap, id, stream, held)).await
}

/// The `grant.use` event, when a grant covers this call.
async fn granted(
    gw: &Gateway,
    call: &Call<'_>,
    me: &Actor,
    rule: &str,
    now: i64,
    guard: &RecordGuard,
) -> Result<Option<AuditEvent>, GatewayError> {
    let grants = gw
        .store
        .active_grants(
            &call.principal.subject,
            call.principal.issuer.as_deref(),
            now,
        )
        .await
        .map_err(store_down)?;
    Ok(grants
        .iter()
        .find(|g| g.covers(me, call.endpoint.as_str(), call.model, rule, now))
        .map(|grant| {
            let mut e = AuditEvent::new("grant.use", me.clone(), Some(grant.id.clone()))
                .with("approval_id", grant.approval_id.clone())
                .with("request_id", guard.request_id());
            e.session_id = call.session.map(str::to_owned);
            e
        }))
}

/// Creates the approval for this call (stored with its event, approvers
/// notified); its id.
#[expect(
    clippy::too_many_arguments,
    reason = "the call's parts, each used once"
)]
async fn open(
    gw: &Gateway,
    ap: &Arc<Approvals>,
    call: &Call<'_>,
    rule: &ApprovalRule,
    me: Actor,
    hash: String,
    (tokens, cost): (Option<u64>, Option<u64>),
    asynchronous: bool,
    guard: &RecordGuard,
) -> Result<String, GatewayError> {
    let now = ap.now_ms();
    let (mode, wait) = if asynchronous {
        (ApprovalMode::Async, ap.config.expiry)
    } else {
        (ApprovalMode::Hold, ap.config.hold)
    };
    let approval = Approval {
        id: format!("apr_{}", ulid::Ulid::new()),
        created_ms: now,
        expires_ms: now + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX),
        state: ApprovalState::Pending,
        mode,
        requester: me.clone(),
        rule: rule.id.clone(),
        summary: CallSummary {
            method: call.method.to_owned(),
            path: call.path.to_owned(),
            endpoint: call.endpoint.as_str().to_owned(),
            model: call.model.map(str::to_owned),
            connection: Some(call.connection.to_owned()),
            stream: call.stream,
            tools: call.tools.to_vec(),
            estimated_input_tokens: tokens,
            max_output_tokens: call.max_output_tokens,
            estimated_cost_usd_micros: cost,
            excerpt: excerpt(call),
            session_id: call.session.map(str::to_owned),
            request_id: guard.request_id().to_owned(),
        },
        request_hash: hash,
        policy_version: ap.policy_version.clone(),
        quorum: rule.quorum,
        approver_groups: rule.approver_groups.clone(),
        decisions: Vec::new(),
        decided_ms: None,
        used_ms: None,
        grant_id: None,
    };
    let created = step("approval.request", me, &approval)
        .with("mode", if asynchronous { "async" } else { "hold" });
    gw.store
        .create_approval(&approval, &created)
        .await
        .map_err(store_down)?;
    ap.notify(Notice::Requested, &approval, &gw.records);
    Ok(approval.id)
}

/// Waits for the held call's decision.
async fn hold(
    gw: &Gateway,
    ap: &Arc<Approvals>,
    id: String,
    stream: bool,
    held: Option<&watch::Sender<Option<String>>>,
) -> Result<(), GatewayError> {
    let (tx, mut rx) = watch::channel(None);
    ap.waiting().insert(id.clone(), tx);
    // Dropped before a decision (the caller went away): cancelled.
    let mut cancel = CancelOnDrop {
        ap: Arc::clone(ap),
        store: Arc::clone(&gw.store),
        id: Some(id.clone()),
    };
    let held = held.filter(|_| stream);
    if let Some(held) = held {
        held.send_replace(Some(id.clone()));
    }
    // (The watch's guard is dropped within this statement: it must not
    // live across an await.)
    let state = match tokio::time::timeout(ap.config.hold, rx.wait_for(Option::is_some)).await {
        Ok(Ok(state)) => *state,
        _ => None,
    };
    cancel.id = None;
    ap.waiting().remove(&id);
    if let Some(held) = held {
        held.send_replace(None);
    }
    // Boxed: while the call waits, its state keeps no room for this part.
    Box::pin(settle(gw, ap, id, state)).await
}

/// The held call's outcome, once the wait is over: `state` is the decision
/// seen, or `None` when the hold time passed.
async fn settle(
    gw: &Gateway,
    ap: &Approvals,
    id: String,
    state: Option<ApprovalState>,
) -> Result<(), GatewayError> {
    match state {
        Some(ApprovalState::Approved) => use_it(gw, &id).await,
        Some(ApprovalState::Denied) => Err(denied(gw, &id).await),
        _ => {
            // Out of time: expired, unless a decision just landed.
            match settle_expired(gw, ap, &id).await? {
                ApprovalState::Approved => use_it(gw, &id).await,
                ApprovalState::Denied => Err(denied(gw, &id).await),
                _ => Err(GatewayError::ApprovalExpired { id }),
            }
        }
    }
}

/// The denial, with the denier's comment.
async fn denied(gw: &Gateway, id: &str) -> GatewayError {
    let comment = gw
        .store
        .approval(id)
        .await
        .ok()
        .flatten()
        .and_then(|(a, _)| a.decisions.into_iter().rev().find(|d| !d.approve))
        .and_then(|d| d.comment);
    GatewayError::ApprovalDenied {
        id: id.to_owned(),
        comment,
    }
}

/// Marks a pending approval expired; its state after.
async fn settle_expired(
    gw: &Gateway,
    ap: &Approvals,
    id: &str,
) -> Result<ApprovalState, GatewayError> {
    for _ in 0..3 {
        let Some((mut a, v)) = gw.store.approval(id).await.map_err(store_down)? else {
            return Err(GatewayError::ApprovalNotFound(id.to_owned()));
        };
        if a.state != ApprovalState::Pending {
            return Ok(a.state);
        }
        a.expire(ap.now_ms());
        let e = step("approval.expire", Actor::warden(), &a);
        if gw
            .store
            .update_approval(&a, v, None, &[e])
            .await
            .map_err(store_down)?
        {
            ap.notify(Notice::Decided, &a, &gw.records);
            return Ok(a.state);
        }
    }
    Err(GatewayError::StoreUnavailable)
}

/// Marks an approved approval used by its call (once).
async fn use_it(gw: &Gateway, id: &str) -> Result<(), GatewayError> {
    for _ in 0..3 {
        let Some((mut a, v)) = gw.store.approval(id).await.map_err(store_down)? else {
            return Err(GatewayError::ApprovalNotFound(id.to_owned()));
        };
        if a.used_ms.is_some() {
            return Err(GatewayError::ApprovalUsed { id: id.to_owned() });
        }
        a.used_ms = Some(gw.approvals.as_ref().map_or(0, |ap| ap.now_ms()));
        let e = step("approval.use", a.requester.clone(), &a);
        if gw
            .store
            .update_approval(&a, v, None, &[e])
            .await
            .map_err(store_down)?
        {
            return Ok(());
        }
    }
    Err(GatewayError::StoreUnavailable)
}

/// A retry with `X-Warden-Approval: <id>`: only the call it was given
/// for, by its caller, under the same policy, approved and not used.
async fn redeem(
    gw: &Gateway,
    ap: &Arc<Approvals>,
    id: &str,
    me: &Actor,
    hash: &str,
    _guard: &mut RecordGuard,
) -> Result<(), GatewayError> {
    let id: String = id.chars().take(64).collect();
    let Some((a, _)) = gw.store.approval(&id).await.map_err(store_down)? else {
        return Err(GatewayError::ApprovalNotFound(id));
    };
    if !same_person(&a.requester, me)
        || a.request_hash != hash
        || a.policy_version != ap.policy_version
    {
        return Err(GatewayError::ApprovalMismatch { id });
    }
    let now = ap.now_ms();
    match a.state {
        ApprovalState::Pending if now < a.expires_ms => Err(GatewayError::ApprovalPending { id }),
        ApprovalState::Pending => {
            settle_expired(gw, ap, &id).await?;
            Err(GatewayError::ApprovalExpired { id })
        }
        ApprovalState::Denied => Err(denied(gw, &id).await),
        ApprovalState::Expired | ApprovalState::Cancelled => {
            Err(GatewayError::ApprovalExpired { id })
        }
        ApprovalState::Approved if a.used_ms.is_some() => Err(GatewayError::ApprovalUsed { id }),
        ApprovalState::Approved if now >= a.expires_ms => Err(GatewayError::ApprovalExpired { id }),
        ApprovalState::Approved => use_it(gw, &id).await,
    }
}

/// Cancels a held approval whose caller went away (the future holding it
/// was dropped before a decision).
struct CancelOnDrop {
    ap: Arc<Approvals>,
    store: Arc<dyn Store>,
    id: Option<String>,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else {
            return;
        };
        self.ap.waiting().remove(&id);
        let (ap, store) = (Arc::clone(&self.ap), Arc::clone(&self.store));
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            for _ in 0..3 {
                let Ok(Some((mut a, v))) = store.approval(&id).await else {
                    return;
                };
                if a.state != ApprovalState::Pending {
                    return;
                }
                a.state = ApprovalState::Cancelled;
                a.decided_ms = Some(ap.now_ms());
                let e = step("approval.cancel", a.requester.clone(), &a);
                match store.update_approval(&a, v, None, &[e]).await {
                    Ok(true) => return,
                    Ok(false) => {}
                    Err(error) => {
                        tracing::warn!(%error, approval = %id, "cannot cancel a held approval");
                        return;
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn working_hours_are_monday_to_friday_utc() {
        // 2026-11-24 was a Tuesday.
        let tuesday_10 = 1_795_514_400_000; // 2026-11-24T10:00:00Z
        let (nine, six) = (9 * 60, 18 * 60);
        assert!(within_hours(tuesday_10, nine, six));
        assert!(
            !within_hours(tuesday_10 + 9 * 3_600_000, nine, six),
            "19:00"
        );
        assert!(
            !within_hours(tuesday_10 - 2 * 3_600_000, nine, six),
            "08:00"
        );
        let saturday_10 = tuesday_10 + 4 * 86_400_000;
        assert!(!within_hours(saturday_10, nine, six));
    }
}
