//! The hash chain over the audit trail's entries (request records and other
//! audit events, one sequence): what makes the trail tamper-evident.
//!
//! Each entry's hash is `SHA-256(prev_hash || canonical(seq, entry))`,
//! where `canonical` is a versioned, fixed-order JSON encoding of the entry
//! with its sequence number, and the first entry's `prev_hash` is 32 zero
//! bytes. Editing, deleting, inserting or reordering rows breaks the chain
//! at the first row touched, and the verifier names it. Truncating the tail
//! leaves a shorter valid chain: catching that needs a checkpoint (tree
//! size and head hash) kept elsewhere, which the signed-checkpoint step of
//! the audit work adds.
//!
//! Written by hand: this is the record format itself, and SHA-256 comes
//! from the `sha2` crate.

use sha2::{Digest, Sha256};
use warden_core::{AuditEvent, RequestRecord};

pub type Hash = [u8; 32];

/// The chain's starting point.
pub const GENESIS: Hash = [0; 32];

/// One link of the trail. Bumping an encoding's version string keeps old
/// chains verifiable.
#[expect(
    clippy::large_enum_variant,
    reason = "most entries are request records, moved once into a batch: boxing them would add an allocation per call"
)]
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// A call through the data path (`warden.record.v1`).
    Request(RequestRecord),
    /// Something done to Warden: keys, start and stop, approvals
    /// (`warden.event.v1`).
    Event(AuditEvent),
}

/// The bytes that are hashed: the version, the sequence number and every
/// field of the entry, in the struct's order (serde's, which is fixed).
pub fn canonical(seq: i64, entry: &Entry) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(match entry {
        Entry::Request(_) => b"warden.record.v1",
        Entry::Event(_) => b"warden.event.v1",
    });
    out.push(b'\n');
    out.extend_from_slice(seq.to_string().as_bytes());
    out.push(b'\n');
    // Both always serialize (no maps with non-string keys, no floats).
    let _ = match entry {
        Entry::Request(r) => serde_json::to_writer(&mut out, r),
        Entry::Event(e) => serde_json::to_writer(&mut out, e),
    };
    out
}

pub fn link(prev: &Hash, seq: i64, entry: &Entry) -> Hash {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(canonical(seq, entry));
    h.finalize().into()
}

/// The chain hash and the Merkle leaf hash of one entry, from one encoding
/// (what every append needs).
pub fn link_and_leaf(prev: &Hash, seq: i64, entry: &Entry) -> (Hash, Hash) {
    let bytes = canonical(seq, entry);
    let link = Sha256::new()
        .chain_update(prev)
        .chain_update(&bytes)
        .finalize();
    let leaf = Sha256::new()
        .chain_update([0u8])
        .chain_update(&bytes)
        .finalize();
    (link.into(), leaf.into())
}

/// One entry linked into the chain, ready to insert.
#[derive(Debug)]
pub struct Link<'a, T> {
    pub item: &'a T,
    pub seq: i64,
    pub prev: Hash,
    pub hash: Hash,
}

/// A batch linked to the chain's head, by the table it goes to.
#[derive(Debug, Default)]
pub struct Linked<'a> {
    pub requests: Vec<Link<'a, RequestRecord>>,
    pub events: Vec<Link<'a, AuditEvent>>,
}

impl crate::ChainHead {
    /// Links `entries` after this head (one encoding each, for the chain
    /// hash and the Merkle leaf) and moves the head past them. Every backend
    /// appends through this; only the SQL around it differs.
    pub fn link<'a>(&mut self, entries: &'a [Entry]) -> Linked<'a> {
        let mut linked = Linked::default();
        for entry in entries {
            self.seq += 1;
            let (hash, leaf) = link_and_leaf(&self.hash, self.seq, entry);
            self.frontier.push(leaf);
            let (seq, prev) = (self.seq, self.hash);
            match entry {
                Entry::Request(item) => linked.requests.push(Link {
                    item,
                    seq,
                    prev,
                    hash,
                }),
                Entry::Event(item) => linked.events.push(Link {
                    item,
                    seq,
                    prev,
                    hash,
                }),
            }
            self.hash = hash;
        }
        linked
    }
}

/// One stored row as the verifier sees it.
#[derive(Debug, Clone)]
pub struct ChainRow {
    pub seq: i64,
    pub entry: Entry,
    pub prev_hash: Option<Vec<u8>>,
    pub hash: Option<Vec<u8>>,
}

/// A row as read from storage: its entry may no longer decode (an edited
/// row), which the verifier reports at that seq.
#[derive(Debug)]
pub struct StoredRow {
    pub seq: i64,
    pub entry: Result<Entry, String>,
    pub prev_hash: Option<Vec<u8>>,
    pub hash: Option<Vec<u8>>,
}

impl StoredRow {
    /// The row, or its seq and why it does not decode.
    pub fn into_row(self) -> Result<ChainRow, (i64, String)> {
        Ok(ChainRow {
            seq: self.seq,
            entry: self.entry.map_err(|e| (self.seq, e))?,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }

    /// The row, or the store's error when it does not decode.
    pub fn decoded(self) -> Result<ChainRow, crate::StoreError> {
        self.into_row()
            .map_err(|(seq, e)| crate::StoreError::Corrupt(format!("seq {seq}: {e}")))
    }
}

/// The verdict on a whole trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every chained row checks out.
    Intact {
        /// Rows in the chain.
        events: u64,
        /// Rows written before the chain existed (at the start only).
        unchained: u64,
        /// The last row's sequence number and hash, if any.
        head: Option<(i64, Hash)>,
    },
    /// The first row that does not check out, and why.
    Broken { seq: i64, reason: String },
}

/// Checks rows given in `seq` order, one at a time (so a trail of any
/// length is verified in constant memory).
#[derive(Debug, Default)]
pub struct Verifier {
    prev: Option<(i64, Hash)>,
    /// The last row's seq, chained or not.
    last_seq: Option<i64>,
    events: u64,
    unchained: u64,
    /// From a signed checkpoint: the chain must reach this seq with this hash.
    checkpoint: Option<(i64, Hash)>,
}

impl Verifier {
    /// A verifier that also holds the chain to a checkpoint's (seq, hash),
    /// which catches truncation of the tail.
    pub fn with_checkpoint(seq: i64, head: Hash) -> Verifier {
        Verifier {
            checkpoint: Some((seq, head)),
            ..Verifier::default()
        }
    }

    /// A verifier for a pruned trail: the first kept row must link to the
    /// anchor's (seq, hash).
    pub fn resume(mut self, seq: i64, hash: Hash) -> Verifier {
        self.prev = Some((seq, hash));
        self
    }

    /// `Err` with the verdict at the first bad row; for deleted rows, at
    /// the first seq that is missing.
    pub fn push(&mut self, row: &ChainRow) -> Result<(), Verdict> {
        let broken = |reason: &str| Verdict::Broken {
            seq: row.seq,
            reason: reason.to_owned(),
        };
        let previous_seq = self.last_seq.replace(row.seq);
        let (Some(stored_prev), Some(stored_hash)) = (&row.prev_hash, &row.hash) else {
            if self.prev.is_some() {
                return Err(broken(
                    "row has no hash after the chain began (inserted, or its hash was removed)",
                ));
            }
            self.unchained += 1;
            return Ok(());
        };
        let expected_prev = match self.prev {
            Some((last_seq, last_hash)) => {
                if row.seq > last_seq + 1 {
                    return Err(missing(last_seq + 1, row.seq, "the trail goes on at"));
                }
                if row.seq != last_seq + 1 {
                    return Err(broken(&format!(
                        "seq {} comes after {last_seq} (a row inserted or renumbered)",
                        row.seq
                    )));
                }
                last_hash
            }
            None => GENESIS,
        };
        if stored_prev.as_slice() != expected_prev {
            // The first chained row links to something: when seqs before
            // it are absent (the trail starts at 1, or right after the rows
            // written before the chain), they were deleted.
            let first = previous_seq.map_or(1, |s| s + 1);
            if self.prev.is_none() && row.seq > first {
                return Err(missing(
                    first,
                    row.seq,
                    "no pruning anchor covers them, and the chain starts at",
                ));
            }
            return Err(broken(
                "previous-hash link does not match the row before (rows deleted, inserted or reordered)",
            ));
        }
        let computed = link(&expected_prev, row.seq, &row.entry);
        if stored_hash.as_slice() != computed {
            return Err(broken("content does not match its hash (row edited)"));
        }
        if let Some((seq, head)) = self.checkpoint
            && seq == row.seq
            && head != computed
        {
            return Err(broken(
                "differs from the signed checkpoint at this seq (the trail was rewritten)",
            ));
        }
        self.prev = Some((row.seq, computed));
        self.events += 1;
        Ok(())
    }

    pub fn finish(self) -> Verdict {
        if let Some((seq, _)) = self.checkpoint {
            let last = self.prev.map_or(0, |(s, _)| s);
            if last < seq {
                return Verdict::Broken {
                    seq: last + 1,
                    reason: format!(
                        "truncated: the signed checkpoint covers records up to seq {seq}, the trail ends at {last}"
                    ),
                };
            }
        }
        Verdict::Intact {
            events: self.events,
            unchained: self.unchained,
            head: self.prev,
        }
    }
}

/// Rows `from` up to `to` (not included) are gone: named at the first.
fn missing(from: i64, to: i64, then: &str) -> Verdict {
    let which = if to - from == 1 {
        format!("seq {from} is missing")
    } else {
        format!("seqs {from} to {} are missing", to - 1)
    };
    Verdict::Broken {
        seq: from,
        reason: format!("{which} (rows deleted or renumbered): {then} {to}"),
    }
}

pub fn hex(h: &[u8]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_encoding_gives_the_link_and_the_leaf() {
        let event = Entry::Event(warden_core::AuditEvent::new(
            "key.create",
            warden_core::Actor::warden(),
            Some("k1".into()),
        ));
        let prev = [7; 32];
        assert_eq!(
            link_and_leaf(&prev, 9, &event),
            (link(&prev, 9, &event), crate::merkle::leaf_hash(9, &event))
        );
    }
}
