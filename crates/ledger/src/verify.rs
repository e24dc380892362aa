//! The offline verifier: checks a whole log (its leaves and any saved checkpoints) without
//! trusting whoever served it, and names the first leaf that does not fit.

use crate::{Checkpoint, Hash, HashSource, Leaf, MemoryTree, VerifierKey, leaf_hash, root};

/// The result of verifying a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Leaves read.
    pub leaves: u64,
    /// Checkpoints whose signature and root were confirmed.
    pub checkpoints_ok: usize,
    /// The first leaf index that does not fit, if any.
    pub first_bad_leaf: Option<u64>,
    /// Every problem found, in order.
    pub problems: Vec<String>,
}

impl Report {
    /// Whether the log verified without any problem.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    fn bad(&mut self, index: u64, why: String) {
        self.first_bad_leaf = Some(self.first_bad_leaf.map_or(index, |i| i.min(index)));
        self.problems.push(why);
    }

    /// A problem located somewhere in [from, to): the chain check may already have named the
    /// exact leaf in that range; otherwise `from` is the first leaf that cannot be vouched for.
    fn bad_in(&mut self, chain: Option<u64>, from: u64, to: u64, why: String) {
        let at = chain.filter(|c| (from..to).contains(c)).unwrap_or(from);
        self.bad(at, why);
    }
}

/// Verifies `leaves` (in log order) against signed `checkpoints` of log `origin` under `key`.
pub fn verify_log(
    leaves: &[Vec<u8>],
    checkpoints: &[String],
    origin: &str,
    key: &VerifierKey,
) -> Report {
    let mut r = Report {
        leaves: leaves.len() as u64,
        checkpoints_ok: 0,
        first_bad_leaf: None,
        problems: Vec::new(),
    };
    let mut tree = MemoryTree::new();
    let mut prev: Hash = [0; 32];
    let mut last_offset: i128 = 0;
    for (i, bytes) in leaves.iter().enumerate() {
        let i = i as u64;
        let decoded = Leaf::decode(bytes);
        if decoded.as_ref().is_some_and(|l| l.index == i) {
            last_offset = 0;
        }
        match decoded {
            None => r.bad(i, format!("leaf {i} is not a canonical version-1 leaf")),
            Some(l) if l.index != i => {
                // Report each change of offset once: after a deletion or insertion every later
                // leaf is off by the same amount.
                let offset = l.index as i128 - i as i128;
                if offset != last_offset {
                    // A leaf claiming an earlier place means the leaves from that place on
                    // were pushed back by an intruder; a later place means a gap here.
                    let at = l.index.min(i);
                    r.bad(at, format!("leaf {i} says it is leaf {} (a leaf was deleted, inserted or moved)", l.index));
                }
                last_offset = offset;
            }
            Some(l) if l.prev != prev => r.bad(
                i.saturating_sub(1),
                format!("leaf {i} does not follow leaf {} (leaf {} was altered, or a leaf was inserted)", i.saturating_sub(1), i.saturating_sub(1)),
            ),
            Some(_) => {}
        }
        let h = leaf_hash(bytes);
        tree.push(h);
        prev = h;
    }
    let chain = r.first_bad_leaf;
    let mut opened: Vec<Checkpoint> = Vec::new();
    for note in checkpoints {
        match key.open(note) {
            Err(e) => r
                .problems
                .push(format!("a checkpoint does not verify: {e}")),
            Ok(c) if c.origin != origin => r.problems.push(format!(
                "a checkpoint is for log {:?}, not {origin:?}",
                c.origin
            )),
            Ok(c) => opened.push(c),
        }
    }
    opened.sort_by_key(|c| c.size);
    for pair in opened.windows(2) {
        if pair[0].size == pair[1].size && pair[0].root != pair[1].root {
            r.problems.push(format!(
                "two checkpoints of size {} carry different roots: the log was forked",
                pair[0].size
            ));
        }
    }
    let matches = |c: &Checkpoint| c.size <= tree.size() && root(&tree, c.size) == c.root;
    let mut last_good = 0u64;
    for c in &opened {
        if !matches(c) && opened.iter().any(|o| o.size == c.size && matches(o)) {
            // A fork: another signed checkpoint of this size agrees with the leaves.
            continue;
        }
        if c.size > tree.size() {
            r.bad(
                tree.size(),
                format!(
                    "a checkpoint covers {} leaves but only {} are present: leaves were removed",
                    c.size,
                    tree.size()
                ),
            );
            continue;
        }
        if root(&tree, c.size) == c.root {
            r.checkpoints_ok += 1;
            last_good = last_good.max(c.size);
        } else {
            // Every leaf below the last matching checkpoint is fixed by it.
            r.bad_in(
                chain,
                last_good,
                c.size,
                format!(
                    "the leaves do not produce the root of the checkpoint at size {} (a leaf from {} on was changed, or the checkpoint is a fork)",
                    c.size, last_good
                ),
            );
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LogKey;

    const ORIGIN: &str = "bioguard.test/log";

    fn log(n: u64) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = Vec::new();
        let mut prev = [0u8; 32];
        for i in 0..n {
            let l = Leaf {
                index: i,
                prev,
                time: 1_800_000_000 + i as i64,
                op: if i % 2 == 0 {
                    "verify".into()
                } else {
                    "consent.grant".into()
                },
                actor: "client:cl_01".into(),
                subject: Some(format!("{:064x}", i % 7)),
                purpose: Some("payment".into()),
                decision: Some("match".into()),
                request: None,
                detail: vec![],
            };
            let bytes = l.encode();
            prev = leaf_hash(&bytes);
            out.push(bytes);
        }
        out
    }

    fn checkpoints(key: &LogKey, leaves: &[Vec<u8>], sizes: &[u64]) -> Vec<String> {
        let mut t = MemoryTree::new();
        for l in leaves {
            t.push(leaf_hash(l));
        }
        sizes
            .iter()
            .map(|s| {
                key.sign(&Checkpoint {
                    origin: ORIGIN.into(),
                    size: *s,
                    root: root(&t, *s),
                })
            })
            .collect()
    }

    fn setup() -> (LogKey, Vec<Vec<u8>>, Vec<String>) {
        let key = LogKey::from_seed(ORIGIN, &[3; 32]).expect("key");
        let leaves = log(40);
        let cps = checkpoints(&key, &leaves, &[10, 25, 40]);
        (key, leaves, cps)
    }

    #[test]
    fn an_intact_log_verifies() {
        let (key, leaves, cps) = setup();
        let r = verify_log(&leaves, &cps, ORIGIN, &key.verifier());
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(r.checkpoints_ok, 3);
        assert_eq!(r.first_bad_leaf, None);
    }

    #[test]
    fn altering_a_leaf_is_found_at_that_leaf() {
        let (key, mut leaves, cps) = setup();
        let text = String::from_utf8(leaves[17].clone())
            .expect("utf-8")
            .replace("consent.grant", "consent.withdraw");
        leaves[17] = text.into_bytes();
        let r = verify_log(&leaves, &cps, ORIGIN, &key.verifier());
        assert_eq!(r.first_bad_leaf, Some(17), "{r:?}");
    }

    #[test]
    fn deleting_inserting_or_reordering_is_found() {
        let (key, leaves, cps) = setup();
        let v = key.verifier();
        let mut deleted = leaves.clone();
        deleted.remove(12);
        assert_eq!(
            verify_log(&deleted, &cps, ORIGIN, &v).first_bad_leaf,
            Some(12)
        );

        let mut swapped = leaves.clone();
        swapped.swap(20, 21);
        assert_eq!(
            verify_log(&swapped, &cps, ORIGIN, &v).first_bad_leaf,
            Some(20)
        );

        // An inserted leaf crafted to claim the next index and the right predecessor.
        let mut inserted = leaves.clone();
        let fake = Leaf {
            index: 30,
            prev: leaf_hash(&leaves[29]),
            time: 0,
            op: "verify".into(),
            actor: "admin".into(),
            subject: None,
            purpose: None,
            decision: Some("match".into()),
            request: None,
            detail: vec![],
        };
        inserted.insert(30, fake.encode());
        let r = verify_log(&inserted, &cps, ORIGIN, &v);
        assert_eq!(r.first_bad_leaf, Some(30), "{r:?}");

        // Truncation: the last checkpoint covers more than is left.
        let truncated = leaves[..35].to_vec();
        assert_eq!(
            verify_log(&truncated, &cps, ORIGIN, &v).first_bad_leaf,
            Some(35)
        );
    }

    #[test]
    fn rewriting_the_tail_consistently_is_caught_by_the_checkpoints() {
        let (key, leaves, cps) = setup();
        // An operator rebuilds every leaf from 28 on, chain and all: only the signed
        // checkpoint at 40 can tell, and it bounds the damage to leaves 25..40.
        let mut rewritten = leaves[..28].to_vec();
        let mut prev = leaf_hash(&leaves[27]);
        for i in 28..40u64 {
            let mut l = Leaf::decode(&leaves[i as usize]).expect("leaf");
            l.prev = prev;
            l.decision = Some("no_match".into());
            let b = l.encode();
            prev = leaf_hash(&b);
            rewritten.push(b);
        }
        let r = verify_log(&rewritten, &cps, ORIGIN, &key.verifier());
        assert!(!r.is_ok());
        assert_eq!(r.first_bad_leaf, Some(25), "{r:?}");
    }

    #[test]
    fn forked_and_foreign_checkpoints_are_reported() {
        let (key, leaves, mut cps) = setup();
        // The log key signs a second, different tree of size 25: a fork.
        let mut other = leaves.clone();
        other[24] = b"forked".to_vec();
        cps.extend(checkpoints(&key, &other, &[25]));
        let r = verify_log(&leaves, &cps, ORIGIN, &key.verifier());
        assert!(r.problems.iter().any(|p| p.contains("forked")), "{r:?}");
        assert_eq!(
            r.first_bad_leaf, None,
            "the leaves agree with one signed history"
        );

        let stranger = LogKey::from_seed(ORIGIN, &[4; 32]).expect("key");
        let foreign = checkpoints(&stranger, &leaves, &[40]);
        let r = verify_log(&leaves, &foreign, ORIGIN, &key.verifier());
        assert!(
            r.problems.iter().any(|p| p.contains("does not verify")),
            "{r:?}"
        );
    }
}
