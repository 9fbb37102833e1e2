//! Who is calling: the identity stage produces a [`Principal`], policy and the
//! record consume it. Nothing here is secret; tokens never reach this type.

use serde::{Deserialize, Serialize};

/// What kind of caller a principal is. Each is its own Cedar entity type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    /// A person, authenticated by an OIDC access token.
    User,
    /// A workload (CI job, service account), authenticated by an OIDC token.
    Workload,
    /// A caller holding a Warden-issued key.
    Key,
}

impl PrincipalKind {
    /// The Cedar entity type name (within the `Warden` namespace).
    pub const fn cedar_type(self) -> &'static str {
        match self {
            PrincipalKind::User => "User",
            PrincipalKind::Workload => "Workload",
            PrincipalKind::Key => "Key",
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::Workload => "workload",
            PrincipalKind::Key => "key",
        }
    }

    /// The stable name back (stored records).
    pub fn parse(s: &str) -> Option<PrincipalKind> {
        [
            PrincipalKind::User,
            PrincipalKind::Workload,
            PrincipalKind::Key,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub kind: PrincipalKind,
    /// The token's `sub`, or for a Warden key its owner.
    pub subject: String,
    /// The token's `iss`; `None` for Warden-issued keys.
    pub issuer: Option<String>,
    /// Group names, the principal's parents in policy.
    pub groups: Vec<String>,
    /// The Warden key id (never the key itself) when authenticated by a key.
    pub key_id: Option<String>,
    /// Model globs a Warden key is restricted to, on top of policy.
    pub model_scope: Option<Vec<String>>,
}

impl Principal {
    /// The Cedar entity id: the key id for keys, else the subject.
    pub fn entity_id(&self) -> &str {
        match (&self.kind, &self.key_id) {
            (PrincipalKind::Key, Some(id)) => id,
            _ => &self.subject,
        }
    }
}
