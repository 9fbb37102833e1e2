//! Approvals and grants (see `warden_core::approval`), kept so they
//! survive restarts and are shared by replicas. Every change appends its
//! audit events in the change's own transaction: an approval never changes
//! without its record in the trail.
//!
//! Each approval carries a version; a change names the version it was made
//! from and is refused (`Ok(false)`) when someone else changed it first, so
//! two approvers deciding at once never overwrite each other.

use async_trait::async_trait;
use warden_core::AuditEvent;
use warden_core::approval::{Approval, ApprovalState, Grant};

use crate::StoreError;

#[async_trait]
pub trait ApprovalStore: Send + Sync + std::fmt::Debug {
    /// Creates the approval (version 1) and appends `event`.
    async fn create_approval(&self, a: &Approval, event: &AuditEvent) -> Result<(), StoreError>;
    /// The approval and its version.
    async fn approval(&self, id: &str) -> Result<Option<(Approval, i64)>, StoreError>;
    /// Which of these approvals (a gateway's held calls) are no longer
    /// pending, and their states: one light query, whatever the number
    /// held.
    async fn decided_in(&self, ids: &[String]) -> Result<Vec<(String, ApprovalState)>, StoreError>;
    /// Newest first, optionally in one state.
    async fn list_approvals(
        &self,
        state: Option<ApprovalState>,
        limit: u32,
    ) -> Result<Vec<Approval>, StoreError>;
    /// Replaces approval `a.id` if it is still at `version`, inserts
    /// `grant`, and appends `events`, in one transaction; `false` (and
    /// nothing done) when it changed since it was read.
    async fn update_approval(
        &self,
        a: &Approval,
        version: i64,
        grant: Option<&Grant>,
        events: &[AuditEvent],
    ) -> Result<bool, StoreError>;
    /// Grants of this person (subject and issuer) not revoked and not
    /// expired at `now_ms`.
    async fn active_grants(
        &self,
        subject: &str,
        issuer: Option<&str>,
        now_ms: i64,
    ) -> Result<Vec<Grant>, StoreError>;
    async fn grant(&self, id: &str) -> Result<Option<Grant>, StoreError>;
    /// Newest first.
    async fn list_grants(&self, limit: u32) -> Result<Vec<Grant>, StoreError>;
    /// Revokes an unrevoked grant at `at_ms`, appending `event`; `false`
    /// when there is no such grant or it already was.
    async fn revoke_grant(
        &self,
        id: &str,
        at_ms: i64,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    column: &str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}
