//! Masking: what to put in place of each finding. Actions per entity type:
//!
//! - `redact`: `[EMAIL]`;
//! - `partial`: keep the last four characters (`****4242`; an email keeps its
//!   domain: `j***@example.com`);
//! - `hash`: a keyed HMAC-SHA256, stable per key (so the same customer reads
//!   the same in every call), `[EMAIL:3f9a0c1d2e]`;
//! - `pseudonymize`: `<EMAIL_1>`, the same value getting the same placeholder
//!   within one request; `stream::Answer` puts the originals back in the
//!   answer.
//!
//! Findings can also come from outside the crate ([`External`]: an NER
//! analyzer the gateway asked, such as Presidio). The crate does no I/O, so
//! the caller fetches them and hands them in; [`Profile::mask_with`] merges
//! them with the built-in detectors' findings. Their entity types (`PERSON`,
//! `LOCATION`, ...) take the same actions; `partial` keeps the last four
//! letters or digits (`****rtin`).

use std::collections::HashMap;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{Kind, scan_after};

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

/// Longest placeholder restoring looks for, `<PAYMENT_CARD_99999>` and then
/// some (analyzer entity names are bounded by it at config load).
pub const MAX_PLACEHOLDER: usize = 32;

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

/// A finding from outside the crate: `text[start..end]` (byte offsets) is a
/// value of type `entity`. Entity names come from config; they are
/// `&'static str` like the built-in ones, interned once when it is loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct External {
    pub start: usize,
    pub end: usize,
    pub entity: &'static str,
}

impl External {
    /// Converts spans counted in Unicode code points (Python `str` indices,
    /// what Presidio answers with) to byte offsets into `text`. Spans that
    /// are empty, reversed or reach past the end are dropped.
    pub fn from_code_points(
        text: &str,
        spans: impl IntoIterator<Item = (usize, usize, &'static str)>,
    ) -> Vec<External> {
        let spans: Vec<_> = spans.into_iter().filter(|(s, e, _)| s < e).collect();
        // Every code point offset the spans name, mapped to its byte offset
        // in one walk over the text.
        let mut wanted: Vec<usize> = spans.iter().flat_map(|(s, e, _)| [*s, *e]).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut bytes = Vec::with_capacity(wanted.len());
        let mut next = wanted.iter().peekable();
        let boundaries = text
            .char_indices()
            .map(|(b, _)| b)
            .chain(std::iter::once(text.len()));
        for (cp, b) in boundaries.enumerate() {
            let Some(&&w) = next.peek() else { break };
            if w == cp {
                bytes.push((cp, b));
                next.next();
            }
        }
        let byte_at = |cp: usize| {
            bytes
                .binary_search_by_key(&cp, |(c, _)| *c)
                .ok()
                .map(|i| bytes[i].1)
        };
        spans
            .into_iter()
            .filter_map(|(s, e, entity)| {
                Some(External {
                    start: byte_at(s)?,
                    end: byte_at(e)?,
                    entity,
                })
            })
            .collect()
    }
}

/// Which action for which entity type; types not listed are left alone.
#[derive(Clone, Default)]
pub struct Profile {
    pub name: String,
    pub actions: HashMap<&'static str, Action>,
    /// Key for the `hash` action.
    pub hash_key: Vec<u8>,
    /// Detector settings (phone regions).
    pub detect: crate::Detect,
    /// File uploads masking cannot read (PDF, images, archives) pass
    /// unread, the record saying so (`opaque_uploads = "allow"`); else they
    /// are refused.
    pub opaque_uploads: bool,
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
    /// Value as first written -> placeholder (what restoring gives back).
    pseudonyms: HashMap<String, String>,
    /// (type, canonical value) -> placeholder: `4111 1111 1111 1111` and
    /// `4111111111111111` are one card, one placeholder.
    by_value: HashMap<(&'static str, String), String>,
    /// Masking a model's answer: a pseudonym would mean nothing to the
    /// caller, so `pseudonymize` redacts.
    answers: bool,
    counters: HashMap<&'static str, usize>,
    /// The end of the last text masked (its last line, at most a context
    /// window of it): words there mark bare values at the start of the next
    /// field, message or streamed piece.
    prior: String,
}

impl Session {
    /// A session for masking a model's answer (see `answers`).
    pub fn for_answers() -> Session {
        Session {
            answers: true,
            ..Session::default()
        }
    }

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
    /// An entity type this profile masks that no built-in detector finds
    /// (one only an external analyzer reports), if any.
    pub fn analyzer_only_kind(&self) -> Option<&'static str> {
        let mut kinds: Vec<&'static str> = self
            .actions
            .keys()
            .copied()
            .filter(|k| !KINDS.contains(k))
            .collect();
        kinds.sort_unstable();
        kinds.first().copied()
    }

    pub fn action_for(&self, kind: Kind) -> Option<Action> {
        self.actions.get(kind.as_str()).copied()
    }

    /// The text with every finding the profile covers replaced; `None` when
    /// nothing was replaced (so callers can keep the original untouched).
    pub fn mask(&self, text: &str, session: &mut Session, out: &mut Vec<Masked>) -> Option<String> {
        self.mask_with(text, &[], session, out)
    }

    /// [`Profile::mask`], with findings from outside (an analyzer) merged in.
    /// Only types the profile has an action for count. Overlapping findings
    /// become one: its type is the one starting first (at the same start the
    /// longer, at the same span the built-in one), and it covers both, so an
    /// analyzer's span ending inside an email cannot leave the email's
    /// domain in clear. External spans that are out of range or not on
    /// character boundaries are ignored.
    pub fn mask_with(
        &self,
        text: &str,
        extra: &[External],
        session: &mut Session,
        out: &mut Vec<Masked>,
    ) -> Option<String> {
        let masked = self.mask_all(text, extra, session, out);
        session.prior.clear();
        session
            .prior
            .push_str(crate::context::tail(text, crate::context::WINDOW));
        masked
    }

    fn mask_all(
        &self,
        text: &str,
        extra: &[External],
        session: &mut Session,
        out: &mut Vec<Masked>,
    ) -> Option<String> {
        let (mut masked, mut glued) = self.mask_once(text, extra, session, out)?;
        // A value glued to its neighbour (`2001:db8::1bob@example.com`) can
        // hide another that only stands alone once the first is replaced:
        // look again, a bounded number of times.
        for _ in 0..3 {
            if !glued {
                break;
            }
            match self.mask_once(&masked, &[], session, out) {
                Some((again, g)) => (masked, glued) = (again, g),
                None => break,
            }
        }
        Some(masked)
    }

    /// One pass; also says whether a replaced value touched a letter,
    /// digit or symbol (not a space or punctuation) on either side.
    fn mask_once(
        &self,
        text: &str,
        extra: &[External],
        session: &mut Session,
        out: &mut Vec<Masked>,
    ) -> Option<(String, bool)> {
        let builtin = scan_after(&session.prior, text, &self.detect)
            .into_iter()
            .map(|f| (f.start, f.end, f.kind.as_str(), true));
        let external = extra
            .iter()
            .filter(|x| {
                x.start < x.end
                    && x.end <= text.len()
                    && text.is_char_boundary(x.start)
                    && text.is_char_boundary(x.end)
            })
            .map(|x| (x.start, x.end, x.entity, false));
        let mut findings: Vec<(usize, usize, &'static str, Action)> = Vec::new();
        let mut candidates: Vec<_> = builtin
            .chain(external)
            .filter_map(|(s, e, kind, b)| self.actions.get(kind).map(|a| (s, e, kind, *a, b)))
            .collect();
        candidates.sort_by_key(|(s, e, _, _, builtin)| (*s, std::cmp::Reverse(*e), !*builtin));
        for (start, end, kind, action, _) in candidates {
            match findings.last_mut() {
                // Overlapping: the kept finding grows to cover both, so no
                // part of either is left in clear.
                Some(last) if start < last.1 => last.1 = last.1.max(end),
                _ => findings.push((start, end, kind, action)),
            }
        }
        if findings.is_empty() {
            return None;
        }
        let sticky = |c: Option<char>| {
            c.is_some_and(|c| c.is_alphanumeric() || matches!(c, '@' | ':' | '+' | '_'))
        };
        let mut glued = false;
        let mut masked = String::with_capacity(text.len());
        let mut at = 0;
        for (start, end, kind, action) in findings {
            glued |=
                sticky(text[..start].chars().next_back()) || sticky(text[end..].chars().next());
            let action = match action {
                Action::Pseudonymize if session.answers => Action::Redact,
                other => other,
            };
            masked.push_str(&text[at..start]);
            masked.push_str(&self.replacement(kind, &text[start..end], action, session));
            out.push(Masked { kind, action });
            at = end;
        }
        masked.push_str(&text[at..]);
        Some((masked, glued))
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
                let value = canonical(kind, value);
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
                let key = (kind, canonical(kind, value));
                if let Some(p) = session.by_value.get(&key) {
                    return p.clone();
                }
                let n = session.counters.entry(kind).or_insert(0);
                *n += 1;
                let p = format!("<{kind}_{n}>");
                session.by_value.insert(key, p.clone());
                // The caller gets back the value as they first wrote it.
                session.pseudonyms.insert(value.to_owned(), p.clone());
                p
            }
        }
    }
}

/// The value that identifies an entity, however it was written: digit
/// types without their separators, IBANs also upper-cased, emails
/// lower-cased. Hashes and pseudonyms are keyed by it.
fn canonical(kind: &str, value: &str) -> String {
    match kind {
        "PAYMENT_CARD" | "US_SSN" | "PHONE_NUMBER" => value
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '+')
            .collect(),
        "IBAN" => value
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_uppercase())
            .collect(),
        "EMAIL" => value.to_lowercase(),
        _ => value.to_owned(),
    }
}

fn partial(kind: &str, value: &str) -> String {
    if kind == "EMAIL"
        && let Some((local, domain)) = value.split_once('@')
    {
        let first: String = local.chars().take(1).collect();
        return format!("{first}***@{domain}");
    }
    // An address keeps its last group only (`****.7`, `****:7334`): four
    // digits across octets could be the whole of `1.2.3.4`.
    if kind == "IP_ADDRESS"
        && let Some(p) = value.rfind(['.', ':'])
    {
        return format!("****{}", &value[p..]);
    }
    // Letters and digits of any script: a name such as `Zoë Saldaña` keeps
    // `daña`, not the ASCII letters around its accents.
    let keep: String = {
        let tail: Vec<char> = value.chars().filter(|c| c.is_alphanumeric()).collect();
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

    fn with_names(action: Action) -> Profile {
        let mut p = profile(action);
        p.actions.insert("PERSON", action);
        p.actions.insert("LOCATION", action);
        p
    }

    fn ext(text: &str, value: &str, entity: &'static str) -> External {
        let start = text.find(value).unwrap_or(usize::MAX);
        External {
            start,
            end: start.saturating_add(value.len()),
            entity,
        }
    }

    #[test]
    fn code_points_become_byte_offsets() {
        // `ë`, `ñ` are two bytes each, `🙂` four: Python counts each as one.
        let text = "Zoë Saldaña 🙂 lives in Paris";
        let got = External::from_code_points(
            text,
            [
                (0, 11, "PERSON"),
                (23, 28, "LOCATION"),
                (23, 29, "LOCATION"), // past the end
                (5, 5, "PERSON"),     // empty
                (9, 3, "PERSON"),     // reversed
                (usize::MAX, usize::MAX, "PERSON"),
            ],
        );
        let values: Vec<(&str, &str)> = got
            .iter()
            .map(|x| (&text[x.start..x.end], x.entity))
            .collect();
        assert_eq!(values, [("Zoë Saldaña", "PERSON"), ("Paris", "LOCATION")]);
        // The end of the text is a valid end.
        let whole = External::from_code_points("Zoë", [(0, 3, "PERSON")]);
        assert_eq!(
            whole,
            [External {
                start: 0,
                end: 4,
                entity: "PERSON"
            }]
        );
        assert!(External::from_code_points("", [(0, 1, "PERSON")]).is_empty());
    }

    #[test]
    fn external_findings_merge_with_built_in_ones() {
        let text = "Alice Martin (alice@example.com) met Zoë Saldaña in Paris.";
        let extra = [
            ext(text, "Paris", "LOCATION"),
            ext(text, "Alice Martin", "PERSON"),
            ext(text, "Zoë Saldaña", "PERSON"),
        ];
        let mut session = Session::default();
        let mut out = Vec::new();
        let masked =
            with_names(Action::Pseudonymize).mask_with(text, &extra, &mut session, &mut out);
        assert_eq!(
            masked.as_deref(),
            Some("<PERSON_1> (<EMAIL_1>) met <PERSON_2> in <LOCATION_1>."),
            "sorted by position whatever order they came in"
        );
        let kinds: Vec<&str> = out.iter().map(|m| m.kind).collect();
        assert_eq!(kinds, ["PERSON", "EMAIL", "PERSON", "LOCATION"]);
        // Restorable like any other placeholder.
        let mut answer = crate::stream::Answer::new(session.pseudonyms(), None);
        assert_eq!(answer.text(masked.as_deref().unwrap_or_default()), text);

        assert_eq!(
            run_with(&with_names(Action::Redact), text, &extra),
            "[PERSON] ([EMAIL]) met [PERSON] in [LOCATION]."
        );
        assert_eq!(
            run_with(&with_names(Action::Partial), text, &extra),
            "****rtin (a***@example.com) met ****daña in ****aris."
        );
    }

    fn run_with(p: &Profile, text: &str, extra: &[External]) -> String {
        p.mask_with(text, extra, &mut Session::default(), &mut Vec::new())
            .unwrap_or_else(|| text.to_owned())
    }

    #[test]
    fn overlapping_findings_become_one_that_covers_both() {
        let p = with_names(Action::Redact);
        let text = "ask bob@example.com now";
        // Inside a built-in finding: absorbed by it.
        let inside = ext(text, "bob", "PERSON");
        assert_eq!(run_with(&p, text, &[inside]), "ask [EMAIL] now");
        // Starting inside it and running on: the built-in one, grown.
        let tail = ext(text, "example.com now", "LOCATION");
        assert_eq!(run_with(&p, text, &[inside, tail]), "ask [EMAIL]");
        // The same span: the built-in type wins.
        let same = ext(text, "bob@example.com", "PERSON");
        assert_eq!(run_with(&p, text, &[same]), "ask [EMAIL] now");
        // Starting earlier: its type, over both.
        let earlier = ext(text, "ask bob", "PERSON");
        assert_eq!(run_with(&p, text, &[earlier]), "[PERSON] now");
        // At the same start, the longer one's type.
        let text = "Jean Paul Sartre said";
        let short = ext(text, "Jean Paul", "PERSON");
        let long = ext(text, "Jean Paul Sartre", "LOCATION");
        assert_eq!(run_with(&p, text, &[short, long]), "[LOCATION] said");
        // Touching is not overlapping.
        let a = ext(text, "Jean", "PERSON");
        let b = ext(text, " Paul", "LOCATION");
        assert_eq!(
            run_with(&p, text, &[b, a]),
            "[PERSON][LOCATION] Sartre said"
        );
    }

    #[test]
    fn external_findings_need_an_action_and_a_valid_span() {
        let text = "Zoë in Paris";
        let mut only_people = Profile::default();
        only_people.actions.insert("PERSON", Action::Redact);
        // No action for LOCATION: left alone, and it does not hide the name.
        let extra = [
            External {
                start: 0,
                end: text.len(),
                entity: "LOCATION",
            },
            External {
                start: 0,
                end: 4,
                entity: "PERSON",
            },
        ];
        assert_eq!(run_with(&only_people, text, &extra), "[PERSON] in Paris");
        // Out of range, or inside a character: ignored.
        for bad in [
            External {
                start: 8,
                end: 99,
                entity: "PERSON",
            },
            External {
                start: 0,
                end: 3,
                entity: "PERSON",
            },
            External {
                start: 2,
                end: 2,
                entity: "PERSON",
            },
        ] {
            assert_eq!(run_with(&only_people, text, &[bad]), text, "{bad:?}");
        }
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
