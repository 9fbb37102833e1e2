//! The records as leaves of an append-only Merkle tree, RFC 9162 (Certificate
//! Transparency v2) §2.1: leaf hash `SHA-256(0x00 || canonical(seq,
//! record))`, node hash `SHA-256(0x01 || left || right)`, the left subtree
//! the largest power of two below the size. A signed checkpoint carries the
//! root; an inclusion proof (the audit path) then shows one record is in the
//! trail the checkpoint covers, checked offline with the public key alone.
//!
//! Written by hand: the algorithms are a page of the RFC, and the crates
//! that implement them keep the whole tree in their own storage layout.

use crate::chain::{Entry, Hash, canonical};
use sha2::{Digest, Sha256};

pub fn leaf_hash(seq: i64, entry: &Entry) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(canonical(seq, entry));
    h.finalize().into()
}

fn node(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two strictly below `n` (n ≥ 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// MTH over leaf hashes.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The audit path for leaf `index` (0-based) in the tree over `leaves`.
pub fn path(index: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 || index >= n {
        return Vec::new();
    }
    let k = split(n);
    if index < k {
        let mut p = path(index, &leaves[..k]);
        p.push(root(&leaves[k..]));
        p
    } else {
        let mut p = path(index - k, &leaves[k..]);
        p.push(root(&leaves[..k]));
        p
    }
}

/// RFC 9162 §2.1.3.2: does `path` lead from `leaf` at `index` to `root` in a
/// tree of `size` leaves?
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, path: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == *root
}

/// The tree's right edge: the roots of its perfect subtrees, largest first
/// (one per set bit of the size). Enough to append a leaf and to compute the
/// root in O(log n), so the server can sign checkpoints without rereading
/// the trail.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    nodes: Vec<Hash>,
}

impl Frontier {
    pub fn from_leaves(leaves: impl IntoIterator<Item = Hash>) -> Frontier {
        let mut f = Frontier::default();
        for leaf in leaves {
            f.push(leaf);
        }
        f
    }

    pub fn push(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut s = self.size;
        while s & 1 == 1 {
            let Some(left) = self.nodes.pop() else { break };
            h = node(&left, &h);
            s >>= 1;
        }
        self.nodes.push(h);
        self.size += 1;
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Stored form: the size (8 bytes, big-endian), then the nodes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 32 * self.nodes.len());
        out.extend_from_slice(&self.size.to_be_bytes());
        for n in &self.nodes {
            out.extend_from_slice(n);
        }
        out
    }

    /// `None` unless the bytes hold exactly one node per set bit of the size.
    pub fn from_bytes(bytes: &[u8]) -> Option<Frontier> {
        let (size, rest) = bytes.split_first_chunk::<8>()?;
        let size = u64::from_be_bytes(*size);
        if rest.len() != 32 * size.count_ones() as usize {
            return None;
        }
        let nodes = rest
            .chunks_exact(32)
            .map(|c| Hash::try_from(c).ok())
            .collect::<Option<Vec<_>>>()?;
        Some(Frontier { size, nodes })
    }

    /// The same value as [`root`] over all the leaves pushed.
    pub fn root(&self) -> Hash {
        let mut nodes = self.nodes.iter().rev();
        let Some(last) = nodes.next() else {
            return Sha256::digest([]).into();
        };
        nodes.fold(*last, |r, left| node(left, &r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| Sha256::digest(i.to_le_bytes()).into())
            .collect()
    }

    #[test]
    fn the_empty_and_one_leaf_trees_are_as_the_rfc_says() {
        assert_eq!(
            crate::chain::hex(&root(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let one = leaves(1);
        assert_eq!(root(&one), one[0]);
        let two = leaves(2);
        assert_eq!(root(&two), node(&two[0], &two[1]));
        // Size 3: the left subtree holds two leaves.
        let three = leaves(3);
        assert_eq!(root(&three), node(&node(&three[0], &three[1]), &three[2]));
    }

    #[test]
    fn the_frontier_gives_the_same_root_at_every_size() {
        let l = leaves(100);
        let mut f = Frontier::default();
        assert_eq!(f.root(), root(&[]));
        for n in 1..=l.len() {
            f.push(l[n - 1]);
            assert_eq!(f.size(), n as u64);
            assert_eq!(f.root(), root(&l[..n]), "n={n}");
        }
    }

    #[test]
    fn every_leaf_of_every_size_proves_and_nothing_else_does() {
        for n in 1..=33 {
            let l = leaves(n);
            let r = root(&l);
            for i in 0..n {
                let p = path(i, &l);
                assert!(
                    verify_inclusion(i as u64, n as u64, &l[i], &p, &r),
                    "n={n} i={i}"
                );
                // The wrong leaf, index or root does not verify. (Size and root are
                // signed together in a checkpoint, so a size alone is never trusted.)
                let other = Sha256::digest(b"other").into();
                assert!(!verify_inclusion(i as u64, n as u64, &other, &p, &r));
                if n > 1 {
                    let j = (i + 1) % n;
                    assert!(
                        !verify_inclusion(j as u64, n as u64, &l[i], &p, &r),
                        "n={n} i={i}"
                    );
                }
                assert!(!verify_inclusion(i as u64, n as u64, &l[i], &p, &other));
            }
        }
    }
}
