//! Evaluating one request against the compiled policy set.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid, Policy,
    PolicyId, PolicySet, Request, RestrictedExpression,
};
use warden_config::PolicyConfig;
use warden_core::{EndpointKind, Principal};

use crate::compile;
use warden_core::wildcard::wildcard_match;

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{origin}: Cedar does not parse: {message}")]
    Parse { origin: String, message: String },
    #[error("{origin}: policy id `{id}` is used twice")]
    DuplicateId { origin: String, id: String },
    #[error("{origin}: templates are not supported; write static policies")]
    Template { origin: String },
}

/// What is being accessed.
#[derive(Debug, Clone, Copy)]
pub enum Resource<'a> {
    /// A model served by a connection.
    Model { connection: &'a str, name: &'a str },
    /// A connection as a whole (files, batches, vector stores, ...).
    Connection(&'a str),
}

/// Everything policy may look at.
#[derive(Debug, Clone)]
pub struct PolicyRequest<'a> {
    pub principal: &'a Principal,
    pub endpoint: EndpointKind,
    pub resource: Resource<'a>,
    pub stream: bool,
    /// Tool types and `<type>:<name>` entries (`warden_core::tools`).
    pub tools: &'a [String],
    /// Hosted MCP servers: URLs, and `connector:<id>` for connectors.
    pub mcp_servers: &'a [String],
    /// Output tokens the call may produce (per-choice cap times choices).
    pub max_tokens: Option<u64>,
}

/// Why a request was refused. Never carries policy text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DenyReason {
    /// Nothing permits it (default deny).
    NotPermitted,
    /// A `forbid` matched; its `@reason` annotation, if any, is the message.
    Forbidden {
        policy_id: String,
        message: Option<String>,
    },
    /// A Warden key's model scope does not cover the model.
    OutsideKeyScope,
}

/// The decision and the policies that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    pub policy_ids: Vec<String>,
    pub deny: Option<DenyReason>,
    /// What the permits that allowed it attach (empty when refused).
    pub obligations: Obligations,
}

/// Obligations: annotations on the `permit` policies that allowed a request,
/// which the later stages must carry out.
///
/// - `@mask("<profile>")`: mask the request with this `[pii]` profile;
/// - `@mask_output("<profile>")`: mask the model's answer with it;
/// - `@content_rules("<id>, <id>")`: also check these `[[content.rule]]`s;
/// - `@approval("<id>")`: the call waits for the approval this
///   `[[approvals.rule]]` asks for.
///
/// Names are checked against the config when the gateway starts, so a typo
/// cannot silently switch masking off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Obligations {
    pub mask: Vec<String>,
    pub mask_output: Vec<String>,
    pub content_rules: Vec<String>,
    /// `[[approvals.rule]]` ids: the call needs a human's approval first.
    pub approval: Vec<String>,
}

/// The annotation keys that carry obligations.
pub const OBLIGATION_KEYS: [&str; 4] = ["mask", "mask_output", "content_rules", "approval"];

fn split_names(value: &str) -> impl Iterator<Item = String> + '_ {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The compiled policy set.
#[derive(Debug)]
pub struct PolicyEngine {
    policies: PolicySet,
    authorizer: Authorizer,
}

fn type_name(name: &str) -> EntityTypeName {
    // Only called with the fixed names below, all valid Cedar type names.
    EntityTypeName::from_str(name).unwrap_or_else(|_| unreachable!("valid type name {name}"))
}

fn uid(ty: &str, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(type_name(ty), EntityId::new(id))
}

fn string(s: &str) -> RestrictedExpression {
    RestrictedExpression::new_string(s.to_owned())
}

impl PolicyEngine {
    /// Compiles the group table and every raw Cedar source into one set.
    pub fn new(config: &PolicyConfig) -> Result<PolicyEngine, PolicyError> {
        let mut policies = PolicySet::new();
        let table = compile::group_table(&config.groups);
        add_source(&mut policies, "policy.groups", &table)?;
        for source in &config.cedar {
            add_source(&mut policies, &source.origin, &source.text)?;
        }
        Ok(PolicyEngine {
            policies,
            authorizer: Authorizer::new(),
        })
    }

    /// Every `(policy id, annotation value)` for an obligation key, so the
    /// gateway can check at start-up that each names something configured.
    pub fn obligation_names(&self, key: &str) -> Vec<(String, String)> {
        self.policies
            .policies()
            .filter_map(|p| {
                let value = p.annotation(key)?;
                Some(
                    split_names(value)
                        .map(|name| (p.id().to_string(), name))
                        .collect::<Vec<_>>(),
                )
            })
            .flatten()
            .collect()
    }

    /// The obligations of the policies that decided (in policy id order,
    /// each name once).
    fn obligations(&self, policy_ids: &[String]) -> Obligations {
        let mut out = Obligations::default();
        for id in policy_ids {
            let pid = PolicyId::new(id);
            for (key, list) in [
                ("mask", &mut out.mask),
                ("mask_output", &mut out.mask_output),
                ("content_rules", &mut out.content_rules),
                ("approval", &mut out.approval),
            ] {
                if let Some(value) = self.policies.annotation(&pid, key) {
                    for name in split_names(value) {
                        if !list.contains(&name) {
                            list.push(name);
                        }
                    }
                }
            }
        }
        out
    }

    pub fn policy_count(&self) -> usize {
        self.policies.policies().count()
    }

    pub fn authorize(&self, req: &PolicyRequest<'_>) -> Verdict {
        if let (Some(scope), Resource::Model { name, .. }) =
            (&req.principal.model_scope, req.resource)
            && !scope.iter().any(|p| wildcard_match(p, name))
        {
            return Verdict {
                allowed: false,
                policy_ids: Vec::new(),
                deny: Some(DenyReason::OutsideKeyScope),
                obligations: Obligations::default(),
            };
        }
        let Some((request, entities)) = build(req) else {
            // Cannot build the request (an attribute Cedar rejects): refuse.
            return Verdict {
                allowed: false,
                policy_ids: Vec::new(),
                deny: Some(DenyReason::NotPermitted),
                obligations: Obligations::default(),
            };
        };
        let response = self
            .authorizer
            .is_authorized(&request, &self.policies, &entities);
        let mut policy_ids: Vec<String> = response
            .diagnostics()
            .reason()
            .map(ToString::to_string)
            .collect();
        policy_ids.sort();
        // Evaluation errors (a policy reading an attribute that is absent)
        // make that policy not apply, which can only narrow what is permitted:
        // the default deny still holds, so nothing here fails open.
        match response.decision() {
            Decision::Allow => Verdict {
                allowed: true,
                obligations: self.obligations(&policy_ids),
                policy_ids,
                deny: None,
            },
            Decision::Deny => {
                let deny = match policy_ids.first() {
                    None => DenyReason::NotPermitted,
                    Some(id) => DenyReason::Forbidden {
                        policy_id: id.clone(),
                        message: self
                            .policies
                            .annotation(&PolicyId::new(id), "reason")
                            .map(str::to_owned),
                    },
                };
                Verdict {
                    allowed: false,
                    policy_ids,
                    deny: Some(deny),
                    obligations: Obligations::default(),
                }
            }
        }
    }
}

fn add_source(set: &mut PolicySet, origin: &str, text: &str) -> Result<(), PolicyError> {
    let parsed = PolicySet::from_str(text).map_err(|e| PolicyError::Parse {
        origin: origin.to_owned(),
        message: format!("{e:?}")
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned(),
    })?;
    if parsed.templates().next().is_some() {
        return Err(PolicyError::Template {
            origin: origin.to_owned(),
        });
    }
    let mut policies: Vec<&Policy> = parsed.policies().collect();
    policies.sort_by_key(|p| p.id().to_string());
    for (n, policy) in policies.into_iter().enumerate() {
        let id = policy
            .annotation("id")
            .map_or_else(|| format!("{origin}#{n}"), str::to_owned);
        set.add(policy.new_id(PolicyId::new(&id)))
            .map_err(|_| PolicyError::DuplicateId {
                origin: origin.to_owned(),
                id,
            })?;
    }
    Ok(())
}

fn build(req: &PolicyRequest<'_>) -> Option<(Request, Entities)> {
    let p = req.principal;
    let groups: HashSet<EntityUid> = p.groups.iter().map(|g| uid("Warden::Group", g)).collect();
    let mut attrs = HashMap::from([
        ("subject".to_owned(), string(&p.subject)),
        ("kind".to_owned(), string(p.kind.as_str())),
    ]);
    if let Some(iss) = &p.issuer {
        attrs.insert("issuer".to_owned(), string(iss));
    }
    let principal_uid = uid(&format!("Warden::{}", p.kind.cedar_type()), p.entity_id());
    let mut entities: Vec<Entity> = groups
        .iter()
        .map(|g| Entity::new_no_attrs(g.clone(), HashSet::new()))
        .collect();
    entities.push(Entity::new(principal_uid.clone(), attrs, groups).ok()?);

    let resource_uid = match req.resource {
        Resource::Model { connection, name } => {
            let conn = uid("Warden::Connection", connection);
            let model = uid("Warden::Model", &format!("{connection}/{name}"));
            let attrs = HashMap::from([
                ("name".to_owned(), string(name)),
                ("connection".to_owned(), string(connection)),
            ]);
            entities.push(Entity::new(model.clone(), attrs, HashSet::from([conn.clone()])).ok()?);
            entities.push(connection_entity(conn)?);
            model
        }
        Resource::Connection(connection) => {
            let conn = uid("Warden::Connection", connection);
            entities.push(connection_entity(conn.clone())?);
            conn
        }
    };
    let mut context = vec![
        ("endpoint".to_owned(), string(req.endpoint.as_str())),
        (
            "stream".to_owned(),
            RestrictedExpression::new_bool(req.stream),
        ),
        (
            "tools".to_owned(),
            RestrictedExpression::new_set(req.tools.iter().map(|t| string(t))),
        ),
        (
            "mcp_servers".to_owned(),
            RestrictedExpression::new_set(req.mcp_servers.iter().map(|t| string(t))),
        ),
    ];
    if let Some(max) = req.max_tokens {
        context.push((
            "max_tokens".to_owned(),
            RestrictedExpression::new_long(i64::try_from(max).unwrap_or(i64::MAX)),
        ));
    }
    let request = Request::new(
        principal_uid,
        uid("Warden::Action", req.endpoint.as_str()),
        resource_uid,
        Context::from_pairs(context).ok()?,
        None,
    )
    .ok()?;
    Some((request, Entities::from_entities(entities, None).ok()?))
}

fn connection_entity(conn: EntityUid) -> Option<Entity> {
    let name = conn.id().unescaped().to_owned();
    Entity::new(
        conn,
        HashMap::from([("name".to_owned(), string(&name))]),
        HashSet::new(),
    )
    .ok()
}
