//! Merkle tree hashing and proofs exactly as RFC 6962 section 2.1 (and RFC 9162 section 2.1):
//! leaf hash SHA-256(0x00 || leaf), node hash SHA-256(0x01 || left || right), the tree of n
//! leaves split at the largest power of two smaller than n.

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// The hash of a leaf: SHA-256(0x00 || data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// The hash of an interior node: SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two strictly smaller than `n` (n >= 2).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// Where the leaf hashes come from. `subtree` may be overridden to serve stored hashes of
/// complete subtrees; the default computes them from leaves.
pub trait HashSource {
    /// The number of leaves available.
    fn size(&self) -> u64;

    /// The hash of leaf `i` (i < size).
    fn leaf(&self, i: u64) -> Hash;

    /// MTH of leaves [lo, hi), hi > lo.
    fn subtree(&self, lo: u64, hi: u64) -> Hash {
        if hi - lo == 1 {
            return self.leaf(lo);
        }
        let k = split(hi - lo);
        node_hash(&self.subtree(lo, lo + k), &self.subtree(lo + k, hi))
    }
}

/// The root of the first `n` leaves (the hash of the empty string for n = 0).
pub fn root(src: &impl HashSource, n: u64) -> Hash {
    if n == 0 {
        return Sha256::digest([]).into();
    }
    src.subtree(0, n)
}

/// Why a proof was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The index or sizes are out of range.
    #[error("index or tree size out of range")]
    Range,
    /// The proof has the wrong number of hashes.
    #[error("the proof has the wrong length")]
    Length,
    /// The proof does not lead to the expected root.
    #[error("the proof does not lead to the expected root")]
    Mismatch,
}

/// The audit path of leaf `m` in the tree of the first `n` leaves (RFC 6962 2.1.1).
pub fn inclusion_proof(src: &impl HashSource, m: u64, n: u64) -> Result<Vec<Hash>, ProofError> {
    if m >= n || n > src.size() {
        return Err(ProofError::Range);
    }
    let mut out = Vec::new();
    path(src, m, 0, n, &mut out);
    Ok(out)
}

fn path(src: &impl HashSource, m: u64, lo: u64, hi: u64, out: &mut Vec<Hash>) {
    if hi - lo <= 1 {
        return;
    }
    let k = split(hi - lo);
    if m - lo < k {
        path(src, m, lo, lo + k, out);
        out.push(src.subtree(lo + k, hi));
    } else {
        path(src, m, lo + k, hi, out);
        out.push(src.subtree(lo, lo + k));
    }
}

/// The consistency proof between the trees of the first `m` and the first `n` leaves
/// (RFC 6962 2.1.2).
pub fn consistency_proof(src: &impl HashSource, m: u64, n: u64) -> Result<Vec<Hash>, ProofError> {
    if m == 0 || m > n || n > src.size() {
        return Err(ProofError::Range);
    }
    let mut out = Vec::new();
    if m < n {
        subproof(src, m, 0, n, true, &mut out);
    }
    Ok(out)
}

fn subproof(src: &impl HashSource, m: u64, lo: u64, hi: u64, whole: bool, out: &mut Vec<Hash>) {
    let n = hi - lo;
    if m == n {
        if !whole {
            out.push(src.subtree(lo, hi));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(src, m, lo, lo + k, whole, out);
        out.push(src.subtree(lo + k, hi));
    } else {
        subproof(src, m - k, lo + k, hi, false, out);
        out.push(src.subtree(lo, lo + k));
    }
}

/// Checks an audit path (RFC 9162 2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    m: u64,
    n: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if m >= n {
        return Err(ProofError::Range);
    }
    let (mut f, mut s) = (m, n - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(ProofError::Length);
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::Length);
    }
    if r == *root {
        Ok(())
    } else {
        Err(ProofError::Mismatch)
    }
}

/// Checks a consistency proof (RFC 9162 2.1.4.2).
pub fn verify_consistency(
    m: u64,
    n: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> Result<(), ProofError> {
    if m == 0 || m > n {
        return Err(ProofError::Range);
    }
    if m == n {
        return if proof.is_empty() && old_root == new_root {
            Ok(())
        } else if !proof.is_empty() {
            Err(ProofError::Length)
        } else {
            Err(ProofError::Mismatch)
        };
    }
    let mut proof: Vec<Hash> = proof.to_vec();
    if m.is_power_of_two() {
        proof.insert(0, *old_root);
    }
    if proof.is_empty() {
        return Err(ProofError::Length);
    }
    let (mut f, mut s) = (m - 1, n - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let mut fr = proof[0];
    let mut sr = proof[0];
    for c in &proof[1..] {
        if s == 0 {
            return Err(ProofError::Length);
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::Length);
    }
    if fr == *old_root && sr == *new_root {
        Ok(())
    } else {
        Err(ProofError::Mismatch)
    }
}

/// Leaf hashes in memory, with every complete subtree of 2^k leaves (k >= 1) cached as leaves
/// are appended, so that roots and proofs cost O(log n) hashes.
#[derive(Debug, Default, Clone)]
pub struct MemoryTree {
    /// levels[0] are the leaf hashes; levels[k][i] is the hash of leaves [i 2^k, (i+1) 2^k).
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, h: Hash) {
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        self.levels[0].push(h);
        let mut k = 0;
        while self.levels[k].len().is_multiple_of(2) {
            let l = &self.levels[k];
            let parent = node_hash(&l[l.len() - 2], &l[l.len() - 1]);
            if self.levels.len() == k + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[k + 1].push(parent);
            k += 1;
        }
    }
}

impl HashSource for MemoryTree {
    fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    fn leaf(&self, i: u64) -> Hash {
        self.levels[0][i as usize]
    }

    fn subtree(&self, lo: u64, hi: u64) -> Hash {
        let n = hi - lo;
        if n.is_power_of_two() && lo.is_multiple_of(n) {
            let k = n.trailing_zeros() as usize;
            return self.levels[k][(lo >> k) as usize];
        }
        let k = split(n);
        node_hash(&self.subtree(lo, lo + k), &self.subtree(lo + k, hi))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(h: &Hash) -> String {
        h.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The leaves of the RFC 6962 reference test data.
    fn reference_leaves() -> Vec<Vec<u8>> {
        vec![
            vec![],
            vec![0x00],
            vec![0x10],
            vec![0x20, 0x21],
            vec![0x30, 0x31],
            vec![0x40, 0x41, 0x42, 0x43],
            vec![0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            (0x60..=0x6f).collect(),
        ]
    }

    fn tree(n: usize) -> MemoryTree {
        let mut t = MemoryTree::new();
        for i in 0..n {
            t.push(leaf_hash(format!("leaf {i}").as_bytes()));
        }
        t
    }

    /// Recomputes MTH from leaves only, ignoring the cache.
    struct Plain<'a>(&'a MemoryTree);
    impl HashSource for Plain<'_> {
        fn size(&self) -> u64 {
            self.0.size()
        }
        fn leaf(&self, i: u64) -> Hash {
            self.0.leaf(i)
        }
    }

    #[test]
    fn reference_roots() {
        let expected = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let mut t = MemoryTree::new();
        for (n, leaf) in reference_leaves().iter().enumerate() {
            t.push(leaf_hash(leaf));
            assert_eq!(hex(&root(&t, n as u64 + 1)), expected[n], "size {}", n + 1);
        }
        assert_eq!(
            hex(&root(&MemoryTree::new(), 0)),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn cache_agrees_with_recomputation() {
        let t = tree(300);
        for n in 1..=300u64 {
            assert_eq!(root(&t, n), root(&Plain(&t), n), "size {n}");
        }
    }

    #[test]
    fn every_inclusion_proof_verifies_and_tampering_fails() {
        let t = tree(70);
        for n in 1..=70u64 {
            let r = root(&t, n);
            for m in 0..n {
                let p = inclusion_proof(&t, m, n).expect("in range");
                verify_inclusion(&t.leaf(m), m, n, &p, &r).expect("valid");
                assert!(verify_inclusion(&leaf_hash(b"other"), m, n, &p, &r).is_err());
                if let Some(first) = p.first() {
                    let mut bad = p.clone();
                    bad[0][0] ^= 1;
                    assert!(
                        verify_inclusion(&t.leaf(m), m, n, &bad, &r).is_err(),
                        "{first:?}"
                    );
                    assert!(verify_inclusion(&t.leaf(m), m, n, &p[1..], &r).is_err());
                }
            }
        }
        assert_eq!(inclusion_proof(&t, 5, 5), Err(ProofError::Range));
        assert_eq!(inclusion_proof(&t, 0, 71), Err(ProofError::Range));
    }

    #[test]
    fn every_consistency_proof_verifies_and_tampering_fails() {
        let t = tree(70);
        for n in 1..=70u64 {
            let rn = root(&t, n);
            for m in 1..=n {
                let rm = root(&t, m);
                let p = consistency_proof(&t, m, n).expect("in range");
                verify_consistency(m, n, &p, &rm, &rn).expect("valid");
                if m < n {
                    assert!(verify_consistency(m, n, &p, &rn, &rn).is_err(), "{m} {n}");
                    let mut bad = p.clone();
                    let last = bad.len() - 1;
                    bad[last][31] ^= 0x80;
                    assert!(verify_consistency(m, n, &bad, &rm, &rn).is_err(), "{m} {n}");
                }
            }
        }
    }

    #[test]
    fn reference_proof_lengths() {
        // RFC 6962's example tree of 7 leaves: the path of leaf 0 has 3 hashes, the
        // consistency proof 3 -> 7 has 4 (c, d, g, l in the RFC's drawing).
        let t = tree(7);
        assert_eq!(inclusion_proof(&t, 0, 7).expect("ok").len(), 3);
        assert_eq!(consistency_proof(&t, 3, 7).expect("ok").len(), 4);
        assert_eq!(consistency_proof(&t, 4, 7).expect("ok").len(), 1);
        assert_eq!(consistency_proof(&t, 6, 7).expect("ok").len(), 3);
    }
}
