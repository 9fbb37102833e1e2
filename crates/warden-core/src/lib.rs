//! Domain types shared by every stage of Warden's pipeline.
//!
//! This crate is pure: no I/O, no async, no configuration parsing. It names the
//! things the other crates exchange (who is calling, which endpoint, what was
//! decided, what gets recorded) so that identity, policy, the store and the data
//! path agree on them without depending on one another.

pub mod approval;
pub mod endpoint;
pub mod event;
pub mod principal;
pub mod record;
pub mod text;
pub mod tools;
pub mod wildcard;

pub use endpoint::EndpointKind;
pub use event::{Actor, AuditEvent};
pub use principal::{Principal, PrincipalKind};
pub use record::{Decision, FindingSummary, Outcome, RequestRecord, Usage};

/// Unix time in milliseconds (0 before 1970, saturating far in the future).
pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
