//! Authorization: may this principal use this endpoint on this model?
//!
//! Policy is Cedar, evaluated with the `cedar-policy` crate. The config's
//! group -> models table is compiled to Cedar ([`compile`]) and joined with any
//! raw Cedar the operator writes, so there is one language and one evaluator.
//! Default deny: a request nothing permits is refused. Pure: no I/O.
//!
//! The entity model (namespace `Warden`):
//! - principals `User`, `Workload` (OIDC) and `Key` (Warden key), each `in`
//!   its `Group`s, with attributes `subject`, `kind`, and `issuer` when known;
//! - actions: one per endpoint kind, `Action::"chat.completions"`, ...;
//! - resources: `Model::"<connection>/<model>"` (attributes `name`,
//!   `connection`) `in Connection::"<connection>"`; model-less endpoints
//!   (files, batches, ...) use the `Connection` itself;
//! - context: `endpoint`, `stream`, `tools` (set of tool types and
//!   `<type>:<name>`: `function:get_weather`, `mcp:<server label>`; lower
//!   case, however the request named them), `mcp_servers` (set of hosted MCP
//!   server URLs and `connector:<id>`), and `max_tokens` when the request
//!   sets one (the per-choice cap times `n`).
//!
//! Permits can attach obligations (masking profiles, content rules) with
//! annotations; see [`Obligations`].

mod compile;
mod engine;

pub use engine::{
    DenyReason, OBLIGATION_KEYS, Obligations, PolicyEngine, PolicyError, PolicyRequest, Resource,
    Verdict,
};
pub use warden_core::wildcard::wildcard_match;

#[cfg(test)]
mod tests;
