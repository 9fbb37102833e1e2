//! Warden's integration tests: one binary, a module per capability, each
//! driving a real gateway (in-process on port 0, or the `warden` binary)
//! against real parts: the `oidc-provider` OpenID provider, SQLite, the
//! official Python SDKs. Only the model API is mocked.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers report failure by panicking"
)]

mod admin;
mod analyzer;
mod approvals;
mod audit;
mod cli;
mod content;
mod crash;
mod datapath;
mod identity;
mod keys;
mod limits;
mod objects;
mod ops;
mod pii;
mod policy;
mod recording;
mod records;
mod responses;
mod sdk;
mod siem;
mod support;
mod traces;
