//! Just-in-time approval: the objects and the rules of deciding them.
//!
//! An [`Approval`] is created when policy says a call needs a human; it is
//! bound to that exact call (the hash of its masked request and the policy
//! version) and is used at most once, unless an approver turned it into a
//! [`Grant`] ("this principal, these models and endpoints, for N minutes").
//! [`Approval::decide`] is the one place the rules live: approvers only,
//! never the requester, each approver once, a quorum of distinct approvals
//! to approve, one denial to deny, nothing after the approval stopped being
//! pending. Storage and transport are elsewhere; this is pure.

use serde::{Deserialize, Serialize};

use crate::Actor;

/// Where an approval is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    Pending,
    Approved,
    Denied,
    Expired,
    /// The held caller went away before a decision.
    Cancelled,
}

impl ApprovalState {
    pub const fn as_str(self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::Approved => "approved",
            ApprovalState::Denied => "denied",
            ApprovalState::Expired => "expired",
            ApprovalState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<ApprovalState> {
        [
            ApprovalState::Pending,
            ApprovalState::Approved,
            ApprovalState::Denied,
            ApprovalState::Expired,
            ApprovalState::Cancelled,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// How the caller waits: held on the open request, or refused at once with
/// the approval id to retry with (`X-Warden-Approval`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalMode {
    Hold,
    Async,
}

/// What the approvers are shown: enough to decide, never a secret (the
/// excerpt is of the masked request).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CallSummary {
    pub method: String,
    pub path: String,
    pub endpoint: String,
    pub model: Option<String>,
    pub connection: Option<String>,
    pub stream: bool,
    /// Tools the request offers (`function:<name>`, `computer_use_preview`).
    pub tools: Vec<String>,
    pub estimated_input_tokens: Option<u64>,
    pub max_output_tokens: Option<u64>,
    /// Estimated cost in micro-USD (input estimate plus the output cap, at
    /// the configured price), when the price is known.
    pub estimated_cost_usd_micros: Option<u64>,
    /// The start of the masked request's text.
    pub excerpt: String,
    pub session_id: Option<String>,
    pub request_id: String,
}

/// One approver's decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalDecision {
    pub by: Actor,
    pub approve: bool,
    pub comment: Option<String>,
    pub time_ms: i64,
    /// With an approval: turn it into a grant for this many seconds.
    pub grant_secs: Option<u64>,
}

/// A call waiting for (or decided by) humans.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    /// `apr_<ulid>`.
    pub id: String,
    pub created_ms: i64,
    /// Past this, a pending approval is expired (and an approved one that
    /// was not used may no longer be used).
    pub expires_ms: i64,
    pub state: ApprovalState,
    pub mode: ApprovalMode,
    pub requester: Actor,
    /// The approval rule (or `@approval` annotation) that asked for it.
    pub rule: String,
    pub summary: CallSummary,
    /// SHA-256 (hex) of the call it was shown for: method, path, principal
    /// and the masked body. Only that call can use it.
    pub request_hash: String,
    /// SHA-256 (hex) of the policy it was decided under.
    pub policy_version: String,
    /// Distinct approvals needed.
    pub quorum: u32,
    /// Members of these groups may decide.
    pub approver_groups: Vec<String>,
    pub decisions: Vec<ApprovalDecision>,
    /// When it became approved, denied, expired or cancelled.
    pub decided_ms: Option<i64>,
    /// When the call it released went upstream (single use).
    pub used_ms: Option<i64>,
    /// The grant its approval created, if any.
    pub grant_id: Option<String>,
}

/// Why a decision was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecideError {
    #[error("approval {0} is {1}, not pending")]
    NotPending(String, &'static str),
    #[error("you are not in an approver group for this approval")]
    NotApprover,
    #[error("you asked for this call: someone else must approve it")]
    SelfApproval,
    #[error("you already decided this approval")]
    AlreadyDecided,
}

/// The same person: same subject from the same issuer (a Warden key's
/// owner counts as its subject).
pub fn same_person(a: &Actor, b: &Actor) -> bool {
    a.subject.is_some() && a.subject == b.subject && a.issuer == b.issuer
}

impl Approval {
    /// Applies one approver's decision at `now_ms`. Approves once `quorum`
    /// distinct approvers approved; one denial denies.
    pub fn decide(
        &mut self,
        by: &Actor,
        approve: bool,
        comment: Option<String>,
        grant_secs: Option<u64>,
        now_ms: i64,
    ) -> Result<ApprovalState, DecideError> {
        if self.state == ApprovalState::Pending && now_ms >= self.expires_ms {
            self.expire(now_ms);
        }
        if self.state != ApprovalState::Pending {
            return Err(DecideError::NotPending(
                self.id.clone(),
                self.state.as_str(),
            ));
        }
        if !by.groups.iter().any(|g| self.approver_groups.contains(g)) {
            return Err(DecideError::NotApprover);
        }
        if same_person(by, &self.requester) {
            return Err(DecideError::SelfApproval);
        }
        if self.decisions.iter().any(|d| same_person(&d.by, by)) {
            return Err(DecideError::AlreadyDecided);
        }
        self.decisions.push(ApprovalDecision {
            by: by.clone(),
            approve,
            comment,
            time_ms: now_ms,
            grant_secs: grant_secs.filter(|_| approve),
        });
        let approvals = self.decisions.iter().filter(|d| d.approve).count();
        if !approve {
            self.state = ApprovalState::Denied;
            self.decided_ms = Some(now_ms);
        } else if approvals >= self.quorum.max(1) as usize {
            self.state = ApprovalState::Approved;
            self.decided_ms = Some(now_ms);
        }
        Ok(self.state)
    }

    /// Marks a pending approval expired.
    pub fn expire(&mut self, now_ms: i64) {
        if self.state == ApprovalState::Pending {
            self.state = ApprovalState::Expired;
            self.decided_ms = Some(now_ms);
        }
    }

    /// The grant the approvers asked for: the shortest any approving
    /// decision gave (every approver agreed to at least that).
    pub fn grant_secs(&self) -> Option<u64> {
        if self.state != ApprovalState::Approved {
            return None;
        }
        let approving: Vec<Option<u64>> = self
            .decisions
            .iter()
            .filter(|d| d.approve)
            .map(|d| d.grant_secs)
            .collect();
        // A grant only when every approver asked for one.
        approving
            .iter()
            .copied()
            .collect::<Option<Vec<u64>>>()?
            .into_iter()
            .min()
    }
}

/// Time-boxed access an approver gave: calls by `principal` to these models
/// and endpoints pass without a new approval until `expires_ms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// `grt_<ulid>`.
    pub id: String,
    pub approval_id: String,
    /// Whose calls it covers (subject and issuer; a key's owner).
    pub principal: Actor,
    /// Model globs (`*` wildcard); empty: the approval's model only is not
    /// implied, so at least one is always set.
    pub models: Vec<String>,
    /// Endpoint kinds (`chat.completions`, ...).
    pub endpoints: Vec<String>,
    pub rule: String,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub revoked_ms: Option<i64>,
    pub created_by: Vec<Actor>,
}

impl Grant {
    /// Whether it lets this call through at `now_ms`.
    pub fn covers(
        &self,
        principal: &Actor,
        endpoint: &str,
        model: Option<&str>,
        rule: &str,
        now_ms: i64,
    ) -> bool {
        self.revoked_ms.is_none()
            && now_ms < self.expires_ms
            && same_person(&self.principal, principal)
            && self.rule == rule
            && self.endpoints.iter().any(|e| e == endpoint)
            && match model {
                Some(m) => self
                    .models
                    .iter()
                    .any(|p| crate::wildcard::wildcard_match(p, m)),
                None => true,
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(subject: &str, groups: &[&str]) -> Actor {
        Actor {
            subject: Some(subject.into()),
            issuer: Some("https://idp".into()),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            ..Actor::default()
        }
    }

    fn approval(quorum: u32) -> Approval {
        Approval {
            id: "apr_1".into(),
            created_ms: 0,
            expires_ms: 1000,
            state: ApprovalState::Pending,
            mode: ApprovalMode::Hold,
            requester: person("intern", &["interns"]),
            rule: "r".into(),
            summary: CallSummary::default(),
            request_hash: "h".into(),
            policy_version: "p".into(),
            quorum,
            approver_groups: vec!["security".into()],
            decisions: Vec::new(),
            decided_ms: None,
            used_ms: None,
            grant_id: None,
        }
    }

    #[test]
    fn approvers_only_never_the_requester_each_once() {
        let mut a = approval(1);
        assert_eq!(
            a.decide(&person("bob", &["eng"]), true, None, None, 1),
            Err(DecideError::NotApprover)
        );
        // The requester, even in an approver group.
        assert_eq!(
            a.decide(&person("intern", &["security"]), true, None, None, 1),
            Err(DecideError::SelfApproval)
        );
        // Same subject from another issuer is another person.
        let mut other = person("intern", &["security"]);
        other.issuer = Some("https://other".into());
        assert_eq!(
            a.decide(&other, true, None, None, 1),
            Ok(ApprovalState::Approved)
        );
        assert!(matches!(
            a.decide(&person("sec", &["security"]), false, None, None, 2),
            Err(DecideError::NotPending(_, "approved"))
        ));
    }

    #[test]
    fn a_quorum_of_distinct_approvers_and_one_denial_denies() {
        let mut a = approval(2);
        let sec1 = person("sec1", &["security"]);
        assert_eq!(
            a.decide(&sec1, true, None, None, 1),
            Ok(ApprovalState::Pending)
        );
        assert_eq!(
            a.decide(&sec1, true, None, None, 2),
            Err(DecideError::AlreadyDecided)
        );
        assert_eq!(
            a.decide(&person("sec2", &["security"]), true, None, None, 3),
            Ok(ApprovalState::Approved)
        );
        assert_eq!(a.decided_ms, Some(3));

        let mut b = approval(2);
        assert_eq!(
            b.decide(&sec1, false, Some("no".into()), None, 1),
            Ok(ApprovalState::Denied)
        );
    }

    #[test]
    fn nothing_is_decided_after_expiry() {
        let mut a = approval(1);
        assert!(matches!(
            a.decide(&person("sec", &["security"]), true, None, None, 1000),
            Err(DecideError::NotPending(_, "expired"))
        ));
        assert_eq!(a.state, ApprovalState::Expired);
    }

    #[test]
    fn a_grant_is_the_shortest_every_approver_agreed_to() {
        let mut a = approval(2);
        a.decide(&person("s1", &["security"]), true, None, Some(3600), 1)
            .expect("first");
        a.decide(&person("s2", &["security"]), true, None, Some(600), 2)
            .expect("second");
        assert_eq!(a.grant_secs(), Some(600));
        let mut b = approval(2);
        b.decide(&person("s1", &["security"]), true, None, Some(3600), 1)
            .expect("first");
        b.decide(&person("s2", &["security"]), true, None, None, 2)
            .expect("second");
        assert_eq!(
            b.grant_secs(),
            None,
            "one approver did not agree to a grant"
        );
    }

    #[test]
    fn a_grant_covers_its_principal_scope_and_time_only() {
        let g = Grant {
            id: "grt_1".into(),
            approval_id: "apr_1".into(),
            principal: person("intern", &["interns"]),
            models: vec!["o3-pro*".into()],
            endpoints: vec!["chat.completions".into()],
            rule: "r".into(),
            created_ms: 0,
            expires_ms: 100,
            revoked_ms: None,
            created_by: Vec::new(),
        };
        let me = person("intern", &[]);
        assert!(g.covers(&me, "chat.completions", Some("o3-pro-2025"), "r", 99));
        assert!(
            !g.covers(&me, "chat.completions", Some("o3-pro"), "r", 100),
            "expired"
        );
        assert!(
            !g.covers(&me, "responses", Some("o3-pro"), "r", 1),
            "endpoint"
        );
        assert!(
            !g.covers(&me, "chat.completions", Some("gpt-4o"), "r", 1),
            "model"
        );
        assert!(
            !g.covers(&me, "chat.completions", Some("o3-pro"), "other", 1),
            "rule"
        );
        assert!(
            !g.covers(
                &person("bob", &[]),
                "chat.completions",
                Some("o3-pro"),
                "r",
                1
            ),
            "someone else"
        );
        let revoked = Grant {
            revoked_ms: Some(5),
            ..g
        };
        assert!(!revoked.covers(&me, "chat.completions", Some("o3-pro"), "r", 6));
    }
}
