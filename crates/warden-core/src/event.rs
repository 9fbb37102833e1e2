//! Audit events that are not model calls: a key issued or revoked, the
//! server started or stopped with a given configuration, a checkpoint
//! signed, an approval decided. They share the request records' hash chain
//! (one sequence, one tree), so one `warden audit verify` covers both.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Who did it. The CLI run on the host names the operator `os:<user>`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub subject: Option<String>,
    pub issuer: Option<String>,
    pub groups: Vec<String>,
    pub key_id: Option<String>,
    pub client_addr: Option<String>,
}

impl Actor {
    /// An authenticated principal, as events name it (no client address).
    pub fn of(p: &crate::Principal) -> Actor {
        Actor {
            subject: Some(p.subject.clone()),
            issuer: p.issuer.clone(),
            groups: p.groups.clone(),
            key_id: p.key_id.clone(),
            client_addr: None,
        }
    }

    /// Warden itself (start, stop, signed checkpoints).
    pub fn warden() -> Actor {
        Actor {
            subject: Some("warden".into()),
            ..Actor::default()
        }
    }
}

/// One event. `action` is a dotted name (`key.create`, `key.revoke`,
/// `server.start`, `server.stop`, `approval.decide`, ...); `detail` holds
/// the action's own fields, never a secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub event_id: String,
    pub time_ms: i64,
    pub action: String,
    pub actor: Actor,
    pub target: Option<String>,
    /// `ok`, or why it was refused.
    pub status: String,
    pub detail: BTreeMap<String, String>,
    /// The session the event belongs to (agent trace spans, approvals).
    /// Left out of the encoding when absent, so events written before the
    /// field existed hash as they did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The Responses API object the event is about (a trace's `response`
    /// span names the model call it timed): what joins a call to the
    /// session of the trace that made it. Left out of the encoding when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
}

impl AuditEvent {
    pub fn new(action: &str, actor: Actor, target: Option<String>) -> AuditEvent {
        AuditEvent {
            event_id: format!("evt_{}", ulid::Ulid::new()),
            time_ms: crate::now_ms(),
            action: action.to_owned(),
            actor,
            target,
            status: "ok".into(),
            detail: BTreeMap::new(),
            session_id: None,
            response_id: None,
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<String>) -> AuditEvent {
        self.detail.insert(key.to_owned(), value.into());
        self
    }
}

impl AuditEvent {
    /// See [`crate::record::scrub_nul`].
    pub fn scrub_nul(&mut self) {
        use crate::record::scrub_nul;
        for s in [&mut self.event_id, &mut self.action, &mut self.status] {
            scrub_nul(s);
        }
        for s in [
            &mut self.target,
            &mut self.session_id,
            &mut self.response_id,
            &mut self.actor.subject,
            &mut self.actor.issuer,
            &mut self.actor.key_id,
            &mut self.actor.client_addr,
        ]
        .into_iter()
        .flatten()
        {
            scrub_nul(s);
        }
        self.actor.groups.iter_mut().for_each(scrub_nul);
        if self
            .detail
            .iter()
            .any(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            self.detail = std::mem::take(&mut self.detail)
                .into_iter()
                .map(|(mut k, mut v)| {
                    scrub_nul(&mut k);
                    scrub_nul(&mut v);
                    (k, v)
                })
                .collect();
        }
    }
}
