//! `warden policy test`: one decision, the policies that made it, and for
//! an allowed call what the later stages will do to it (`plan.rs`). Deciding
//! needs no secret, so one missing here is a warning unless `--strict`.

use std::path::Path;

use anyhow::Context as _;
use serde_json::json;
use warden_core::{EndpointKind, Principal, PrincipalKind};
use warden_policy::{DenyReason, PolicyEngine, PolicyRequest, Resource};

use crate::cli::PolicyCommand;
use crate::cmd::plan::{self, Plan};
use crate::cmd::{load_config, load_config_lenient};

#[expect(clippy::print_stdout, reason = "the command's output")]
pub fn run(config: Option<&Path>, command: PolicyCommand) -> anyhow::Result<()> {
    let PolicyCommand::Test {
        sub,
        groups,
        model,
        endpoint,
        kind,
        issuer,
        stream,
        tools,
        max_tokens,
        json,
        strict,
    } = command;
    let config = if strict {
        load_config(config)?
    } else {
        load_config_lenient(config)?
    };
    let engine = PolicyEngine::new(&config.policy)?;
    let endpoint = EndpointKind::parse(&endpoint)
        .with_context(|| format!("unknown endpoint kind `{endpoint}`"))?;
    let kind = match kind.as_str() {
        "user" => PrincipalKind::User,
        "workload" => PrincipalKind::Workload,
        "key" => PrincipalKind::Key,
        other => anyhow::bail!("unknown principal kind `{other}` (user, workload, key)"),
    };
    let principal = Principal {
        kind,
        subject: sub.clone(),
        issuer,
        groups: groups.into_iter().filter(|g| !g.is_empty()).collect(),
        key_id: (kind == PrincipalKind::Key).then(|| sub.clone()),
        model_scope: None,
    };
    let (connection, resource) = match &model {
        Some(m) => {
            let c = config
                .connection_for_model(m)
                .with_context(|| format!("no connection serves the model `{m}`"))?;
            (c.name.clone(), Some(m.as_str()))
        }
        None => {
            let c = config
                .default_connection()
                .context("no connection configured")?;
            (c.name.clone(), None)
        }
    };
    // Folded as the gateway folds a request's tools.
    let tools = warden_core::tools::Tools::from_entries(&tools);
    let verdict = engine.authorize(&PolicyRequest {
        principal: &principal,
        endpoint,
        resource: match resource {
            Some(name) => Resource::Model {
                connection: &connection,
                name,
            },
            None => Resource::Connection(&connection),
        },
        stream,
        tools: &tools.names,
        mcp_servers: &[],
        max_tokens,
    });
    let reason = match &verdict.deny {
        None => "permitted".to_owned(),
        Some(DenyReason::NotPermitted) => "no policy permits this (default deny)".to_owned(),
        Some(DenyReason::OutsideKeyScope) => "outside the key's model scope".to_owned(),
        Some(DenyReason::Forbidden { policy_id, message }) => match message {
            Some(m) => format!("forbidden by {policy_id}: {m}"),
            None => format!("forbidden by {policy_id}"),
        },
    };
    let decision = if verdict.allowed { "ALLOW" } else { "DENY" };
    // A refused call goes no further: nothing else happens to it.
    let plan = verdict.allowed.then(|| {
        Plan::new(
            &config,
            plan::Asked {
                principal: &principal,
                obligations: &verdict.obligations,
                endpoint,
                model: model.as_deref(),
                connection: &connection,
                stream,
                tools: &tools,
                max_tokens,
            },
        )
    });
    if json {
        println!(
            "{}",
            json!({"decision": decision.to_lowercase(), "policies": verdict.policy_ids,
                   "reason": reason, "connection": connection,
                   "obligations": {"mask": verdict.obligations.mask,
                                   "mask_output": verdict.obligations.mask_output,
                                   "content_rules": verdict.obligations.content_rules,
                                   "approval": verdict.obligations.approval},
                   "then": plan.as_ref().map(Plan::to_json)})
        );
    } else {
        println!("{decision}  {reason}");
        println!("connection: {connection}");
        if verdict.policy_ids.is_empty() {
            println!("policies:   (none)");
        } else {
            println!("policies:   {}", verdict.policy_ids.join(", "));
        }
        let o = &verdict.obligations;
        for (name, list) in [
            ("mask:       ", &o.mask),
            ("mask_output:", &o.mask_output),
            ("rules:      ", &o.content_rules),
        ] {
            if !list.is_empty() {
                println!("{name} {}", list.join(", "));
            }
        }
        for line in plan.iter().flat_map(Plan::lines) {
            println!("{line}");
        }
    }
    Ok(())
}
