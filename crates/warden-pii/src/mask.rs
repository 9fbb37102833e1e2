//! Masking: what to put in place of each finding. Actions per entity type:
//!
//! - `redact`: `[EMAIL]`;
//! - `partial`: keep the last four characters (`****4242`; an email keeps its
//!   domain: `j***@example.com`);
//! - `hash`: a keyed HMAC-SHA256, stable per key (so the same customer reads
//!   the same in every call), `[EMAIL:3f9a0c1d2e]`;
//! - `pseudonymize`: `<EMAIL_1>`, the same value getting the same placeholder
//!   within one request; `restore::Restorer` puts the originals back in the
//!   answer.

use std::collections::HashMap;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{Finding, Kind, scan_with};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Redact,
    Partial,
    Hash,
    Pseudonymize,
}

impl Action {
    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "redact" => Some(Action::Redact),
            "partial" => Some(Action::Partial),
            "hash" => Some(Action::Hash),
            "pseudonymize" => Some(Action::Pseudonymize),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Redact => "redact",
            Action::Partial => "partial",
            Action::Hash => "hash",
            Action::Pseudonymize => "pseudonymize",
        }
    }
}

/// The entity type names a profile can name.
pub const KINDS: [&str; 7] = [
    "EMAIL",
    "PHONE_NUMBER",
    "PAYMENT_CARD",
    "US_SSN",
    "IBAN",
    "IP_ADDRESS",
    "SECRET",
];

/// Which action for which entity type; types not listed are left alone.
#[derive(Clone, Default)]
pub struct Profile {
    pub name: String,
    pub actions: HashMap<&'static str, Action>,
    /// Key for the `hash` action.
    pub hash_key: Vec<u8>,
    /// Detector settings (phone regions).
    pub detect: crate::Detect,
}

/// Shows the actions, never the hash key.
impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("name", &self.name)
            .field("actions", &self.actions)
            .finish_non_exhaustive()
    }
}

/// Per-request state: pseudonyms given out so far.
#[derive(Debug, Default)]
pub struct Session {
    pseudonyms: HashMap<String, String>,
    counters: HashMap<&'static str, usize>,
}

impl Session {
    /// (placeholder, original value) for every pseudonym given out.
    pub fn pseudonyms(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pseudonyms
            .iter()
            .map(|(value, p)| (p.as_str(), value.as_str()))
    }
}

/// What was masked, without the values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Masked {
    pub kind: &'static str,
    pub action: Action,
}

impl Profile {
    pub fn action_for(&self, kind: Kind) -> Option<Action> {
        self.actions.get(kind.as_str()).copied()
    }

    /// The text with every finding the profile covers replaced; `None` when
    /// nothing was replaced (so callers can keep the original untouched).
    pub fn mask(&self, text: &str, session: &mut Session, out: &mut Vec<Masked>) -> Option<String> {
        let findings: Vec<(Finding, Action)> = scan_with(text, &self.detect)
            .into_iter()
            .filter_map(|f| self.action_for(f.kind).map(|a| (f, a)))
            .collect();
        if findings.is_empty() {
            return None;
        }
        let mut masked = String::with_capacity(text.len());
        let mut at = 0;
        for (f, action) in findings {
            masked.push_str(&text[at..f.start]);
            let value = &text[f.start..f.end];
            let kind = f.kind.as_str();
            masked.push_str(&self.replacement(kind, value, action, session));
            out.push(Masked { kind, action });
            at = f.end;
        }
        masked.push_str(&text[at..]);
        Some(masked)
    }

    fn replacement(
        &self,
        kind: &'static str,
        value: &str,
        action: Action,
        session: &mut Session,
    ) -> String {
        match action {
            Action::Redact => format!("[{kind}]"),
            Action::Partial => partial(kind, value),
            Action::Hash => {
                let digest = Hmac::<Sha256>::new_from_slice(&self.hash_key)
                    .map(|mut mac| {
                        mac.update(kind.as_bytes());
                        mac.update(b":");
                        mac.update(value.as_bytes());
                        mac.finalize().into_bytes()
                    })
                    .map(|d| {
                        d.iter()
                            .take(5)
                            .map(|b| format!("{b:02x}"))
                            .collect::<String>()
                    })
                    .unwrap_or_default();
                format!("[{kind}:{digest}]")
            }
            Action::Pseudonymize => {
                if let Some(p) = session.pseudonyms.get(value) {
                    return p.clone();
                }
                let n = session.counters.entry(kind).or_insert(0);
                *n += 1;
                let p = format!("<{kind}_{n}>");
                session.pseudonyms.insert(value.to_owned(), p.clone());
                p
            }
        }
    }
}

fn partial(kind: &str, value: &str) -> String {
    if kind == "EMAIL"
        && let Some((local, domain)) = value.split_once('@')
    {
        let first: String = local.chars().take(1).collect();
        return format!("{first}***@{domain}");
    }
    let keep: String = {
        let tail: Vec<char> = value.chars().filter(char::is_ascii_alphanumeric).collect();
        tail[tail.len().saturating_sub(4)..].iter().collect()
    };
    format!("****{keep}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(action: Action) -> Profile {
        Profile {
            name: "t".into(),
            actions: KINDS.iter().map(|k| (*k, action)).collect(),
            hash_key: b"tenant-key".to_vec(),
            ..Profile::default()
        }
    }

    fn run(p: &Profile, text: &str) -> String {
        p.mask(text, &mut Session::default(), &mut Vec::new())
            .unwrap_or_else(|| text.to_owned())
    }

    #[test]
    fn each_action() {
        let text = "mail bob@example.com, card 4242 4242 4242 4242.";
        assert_eq!(
            run(&profile(Action::Redact), text),
            "mail [EMAIL], card [PAYMENT_CARD]."
        );
        assert_eq!(
            run(&profile(Action::Partial), text),
            "mail b***@example.com, card ****4242."
        );
        let hashed = run(&profile(Action::Hash), text);
        assert!(
            hashed.starts_with("mail [EMAIL:") && !hashed.contains("bob@"),
            "{hashed}"
        );
        assert_eq!(hashed, run(&profile(Action::Hash), text), "stable per key");
        let mut other = profile(Action::Hash);
        other.hash_key = b"another-tenant".to_vec();
        assert_ne!(hashed, run(&other, text), "keyed");
        let mut session = Session::default();
        let p = profile(Action::Pseudonymize);
        let a = p.mask(
            "bob@example.com and amy@example.com",
            &mut session,
            &mut Vec::new(),
        );
        let b = p.mask("again bob@example.com", &mut session, &mut Vec::new());
        assert_eq!(a.as_deref(), Some("<EMAIL_1> and <EMAIL_2>"));
        assert_eq!(
            b.as_deref(),
            Some("again <EMAIL_1>"),
            "consistent within a request"
        );
    }

    #[test]
    fn untouched_when_nothing_applies() {
        let mut only_cards = Profile::default();
        only_cards.actions.insert("PAYMENT_CARD", Action::Redact);
        let mut out = Vec::new();
        assert_eq!(
            only_cards.mask("bob@example.com", &mut Session::default(), &mut out),
            None
        );
        assert!(out.is_empty());
    }
}
