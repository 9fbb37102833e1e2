//! What the gateway's stages after policy do to a call Cedar allowed, for
//! `warden policy test`: the content rules that apply, the masking profiles
//! (request and answer), whether a human must approve it, and the limit
//! rules that count it, in the order the pipeline runs them.
//!
//! Nothing is decided here: each choice is made by the function the
//! gateway itself calls (`warden_gateway::inspect::rules_of`,
//! `request_profile_of`, `output_profile_of`,
//! `warden_gateway::approvals::rule_for`, `warden_limits::rule_applies`),
//! so the answer cannot drift from what serving does. This module only
//! says it.

use serde_json::{Value, json};
use warden_config::{ApprovalRule, ApprovalsConfig, Config, ContentRule, LimitRule, LimitScope};
use warden_core::approval::ApprovalMode;
use warden_core::tools::Tools;
use warden_core::{EndpointKind, Principal};
use warden_gateway::approvals::{Call, rule_for};
use warden_gateway::inspect::{
    Cap, check_cap, check_tools, output_profile_of, request_profile_of, rules_of,
};
use warden_policy::Obligations;

/// The call as `policy test` was told it.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    pub principal: &'a Principal,
    pub obligations: &'a Obligations,
    pub endpoint: EndpointKind,
    pub model: Option<&'a str>,
    pub connection: &'a str,
    pub stream: bool,
    pub tools: &'a Tools,
    pub max_tokens: Option<u64>,
}

/// The later stages' choices for one call.
#[derive(Debug)]
pub struct Plan<'c> {
    pub content_rules: Vec<&'c ContentRule>,
    /// What the content rules do to the call as asked: a refusal (the
    /// gateway's own message), else the cap a rule writes into a call that
    /// states none.
    pub content_verdict: Option<String>,
    pub mask: Option<String>,
    pub mask_output: Option<String>,
    /// The approval rule that asks, by the call's estimated cost: from each
    /// cost (micro-USD) on, until the next. One step when cost decides
    /// nothing, or when the cost is unknown (no price, no model).
    pub approval: Vec<(u64, Option<&'c ApprovalRule>)>,
    /// The cost is estimated (the model has a price); else a `min_cost_usd`
    /// rule counts as reached.
    pub priced: bool,
    /// An approval rule has `outside_hours`: the answer is for now.
    pub timed: bool,
    pub limits: Vec<&'c LimitRule>,
    /// A budget applies and the model has no price: refused `price_unknown`.
    pub price_unknown: bool,
}

impl<'c> Plan<'c> {
    pub fn new(config: &'c Config, asked: Asked<'_>) -> Plan<'c> {
        let Asked {
            principal,
            obligations,
            ..
        } = asked;
        let headers = http::HeaderMap::new();
        let call = Call {
            headers: &headers,
            method: "POST",
            path: "",
            principal,
            obligations,
            endpoint: asked.endpoint,
            model: asked.model,
            connection: asked.connection,
            stream: asked.stream,
            tools: &asked.tools.names,
            max_output_tokens: asked.max_tokens,
            body: None,
            session: None,
        };
        let priced = asked
            .model
            .is_some_and(|m| warden_limits::estimate::price_of(&config.prices, m).is_some());
        let approval = match &config.approvals {
            None => vec![(0, None)],
            Some(ap) => approval_steps(ap, &call, priced),
        };
        let limits: Vec<&LimitRule> = config
            .limits
            .rules
            .iter()
            .filter(|r| warden_limits::rule_applies(r, principal, asked.model))
            .collect();
        let price_unknown = asked.model.is_some_and(|m| {
            limits.iter().any(|r| r.needs_spend())
                && warden_limits::estimate::price_of(&config.prices, m).is_none()
        });
        let content_rules = rules_of(config, principal, obligations);
        let content_verdict = match check_tools(&content_rules, asked.tools) {
            Err(refused) => Some(format!("refused: {refused}")),
            Ok(()) => match check_cap(&content_rules, asked.max_tokens, 1) {
                Err(e) => Some(format!(
                    "refused: content rule `{}` allows at most {} output tokens",
                    e.rule, e.cap
                )),
                Ok(Cap::None) => None,
                Ok(Cap::Within { cap, rule }) => {
                    Some(format!("within the output cap of {cap} (rule `{rule}`)"))
                }
                Ok(Cap::Unstated { cap, rule, .. }) => Some(format!(
                    "no cap asked: rule `{rule}` sets {cap} output tokens (divided among n choices)"
                )),
            },
        };
        Plan {
            content_rules,
            content_verdict,
            mask: request_profile_of(config, principal, obligations).map(|p| p.name.clone()),
            mask_output: output_profile_of(config, principal, obligations).map(|p| p.name.clone()),
            timed: config
                .approvals
                .as_ref()
                .is_some_and(|ap| ap.rules.iter().any(|r| r.outside_hours.is_some())),
            approval,
            priced,
            limits,
            price_unknown,
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "content_rules": self.content_rules.iter()
                .map(|r| json!({"id": r.id, "checks": checks(r)}))
                .collect::<Vec<_>>(),
            "content_verdict": self.content_verdict,
            "mask": self.mask,
            "mask_output": self.mask_output,
            "approval": self.approval.iter().map(|(from, rule)| json!({
                "from_cost_usd": usd(*from),
                "rule": rule.map(|r| json!({
                    "id": r.id, "quorum": r.quorum, "approver_groups": r.approver_groups,
                    "mode": mode(r.mode), "min_cost_usd": r.min_cost_usd_micros.map(usd),
                })),
            })).collect::<Vec<_>>(),
            "cost_estimated": self.priced,
            "approval_depends_on_time": self.timed,
            "limits": self.limits.iter()
                .map(|r| json!({"rule": r.name, "scope": scope(r.scope), "limits": caps(r)}))
                .collect::<Vec<_>>(),
            "price_unknown": self.price_unknown,
        })
    }

    /// The text lines, after the Cedar verdict.
    pub fn lines(&self) -> Vec<String> {
        let rules = if self.content_rules.is_empty() {
            "none".to_owned()
        } else {
            self.content_rules
                .iter()
                .map(|r| format!("{} ({})", r.id, checks(r).join("; ")))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let approval = match self.approval.as_slice() {
            [(_, rule)] => {
                let mut text = required(*rule);
                if !self.priced && rule.is_some_and(|r| r.min_cost_usd_micros.is_some()) {
                    text.push_str(
                        " (the call's cost is unknown: no price for the model, so it counts as \
                         reaching min_cost_usd)",
                    );
                }
                text
            }
            steps => {
                let parts: Vec<String> = steps
                    .iter()
                    .enumerate()
                    .map(|(i, (from, rule))| match steps.get(i + 1) {
                        Some((next, _)) if i == 0 => {
                            format!("under ${:.2}: {}", usd(*next), required(*rule))
                        }
                        _ => format!("from ${:.2}: {}", usd(*from), required(*rule)),
                    })
                    .collect();
                format!(
                    "by the call's estimated cost (prompt and max output tokens at the \
                     model's price): {}",
                    parts.join("; ")
                )
            }
        };
        let limits = if self.limits.is_empty() {
            "none".to_owned()
        } else {
            self.limits
                .iter()
                .map(|r| {
                    format!(
                        "{} (per {}: {})",
                        r.name,
                        scope(r.scope),
                        caps(r).join(", ")
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut lines = vec![format!("content:    {rules}")];
        if let Some(verdict) = &self.content_verdict {
            lines.push(format!("            {verdict}"));
        }
        lines.extend([
            format!(
                "masking:    request {}, answer {}",
                self.mask.as_deref().unwrap_or("none"),
                self.mask_output.as_deref().unwrap_or("none")
            ),
            format!(
                "approval:   {approval}{}",
                if self.timed {
                    " (at the current time: a rule has outside_hours)"
                } else {
                    ""
                }
            ),
            format!("limits:     {limits}"),
        ]);
        if self.price_unknown {
            lines.push(
                "            a spend budget applies and the model has no [prices] entry: \
                 refused (403 price_unknown)"
                    .to_owned(),
            );
        }
        lines
    }
}

/// The approval rule for each range of estimated cost. `rule_for` is asked
/// at no cost and at each rule's `min_cost_usd`; only changes are kept.
/// Without a price the gateway's estimate is unknown, and so is it here.
fn approval_steps<'c>(
    ap: &'c ApprovalsConfig,
    call: &Call<'_>,
    priced: bool,
) -> Vec<(u64, Option<&'c ApprovalRule>)> {
    let now = warden_core::now_ms();
    if !priced {
        return vec![(0, rule_for(ap, call, || None, now))];
    }
    let mut costs: Vec<u64> = ap
        .rules
        .iter()
        .filter_map(|r| r.min_cost_usd_micros)
        .collect();
    costs.sort_unstable();
    costs.dedup();
    let mut steps = vec![(0, rule_for(ap, call, || Some(0), now))];
    for cost in costs {
        let rule = rule_for(ap, call, || Some(cost), now);
        if steps.last().map(|(_, r)| r.map(|r| &r.id)) != Some(rule.map(|r| &r.id)) {
            steps.push((cost, rule));
        }
    }
    steps
}

fn required(rule: Option<&ApprovalRule>) -> String {
    match rule {
        None => "not required".to_owned(),
        Some(r) => format!(
            "required by rule {} ({}, quorum {}, approvers: {})",
            r.id,
            mode(r.mode),
            r.quorum,
            r.approver_groups.join(", ")
        ),
    }
}

/// What a content rule refuses.
fn checks(rule: &ContentRule) -> Vec<String> {
    let mut out = Vec::new();
    if rule.reads_text() {
        out.push("denied terms or patterns in the text".to_owned());
    }
    if !rule.deny_tools.is_empty() {
        out.push(format!("denies tools {}", rule.deny_tools.join(", ")));
    }
    if let Some(allowed) = &rule.allow_tools {
        out.push(format!("allows only tools {}", allowed.join(", ")));
    }
    if let Some(types) = &rule.allow_tool_types {
        out.push(format!("allows only tool types {}", types.join(", ")));
    }
    if !rule.allow_mcp_servers.is_empty() {
        out.push(format!(
            "allows {} hosted MCP server(s)",
            rule.allow_mcp_servers.len()
        ));
    }
    if let Some(cap) = rule.max_output_tokens {
        out.push(format!("at most {cap} output tokens"));
    }
    out
}

fn caps(rule: &LimitRule) -> Vec<String> {
    [
        rule.requests_per_minute
            .map(|n| format!("{n} requests/min")),
        rule.tokens_per_minute.map(|n| format!("{n} tokens/min")),
        rule.concurrent_requests.map(|n| format!("{n} concurrent")),
        rule.usd_micros_per_day
            .map(|n| format!("${:.2}/day", usd(n))),
        rule.usd_micros_per_month
            .map(|n| format!("${:.2}/month", usd(n))),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn scope(scope: LimitScope) -> &'static str {
    match scope {
        LimitScope::Principal => "principal",
        LimitScope::Key => "key",
        LimitScope::Group => "group",
        LimitScope::Model => "model",
        LimitScope::Global => "global",
    }
}

fn mode(mode: ApprovalMode) -> &'static str {
    match mode {
        ApprovalMode::Hold => "hold",
        ApprovalMode::Async => "async",
    }
}

#[expect(
    clippy::cast_precision_loss,
    reason = "micro-USD amounts shown with two decimals"
)]
fn usd(micros: u64) -> f64 {
    micros as f64 / 1e6
}
