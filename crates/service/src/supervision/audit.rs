//! Reading the audit ledger: signed checkpoints, inclusion and consistency proofs, leaves,
//! and a subject's history.
//!
//! The leaves are written by the store with every change (see `bioguard_store::LeafDraft`).
//! Here each node keeps the leaf hashes in memory with their complete subtrees cached, and
//! catches up from the database before answering, so any node serves proofs for every leaf
//! committed by any node.

use std::collections::BTreeSet;

use bioguard_core::{
    KeptCheckpoint, LedgerEntry, Pseudonym, SubjectRef, Timestamp, ValidationError,
};
use bioguard_ledger::{Checkpoint, Hash, HashSource, VerifierKey};

use crate::abuse::auth::AuthenticatedClient;
use crate::error::ServiceError;
use crate::facade::Service;
use crate::supervision::tags::SubjectKey;

/// The most leaves one `leaves` call returns.
pub const MAX_LEAVES_PER_CALL: u64 = 1000;

/// The most history entries one call returns.
pub const MAX_HISTORY_PAGE: u32 = 1000;

/// The newest uses a subject report (and the portal) lists; older ones are paged through the
/// history route.
pub const REPORT_HISTORY: u32 = 1000;

/// An audit path or consistency proof.
#[derive(Debug, Clone)]
pub struct Proof {
    /// The proof's hashes, in RFC 6962 order.
    pub hashes: Vec<Hash>,
    /// For an inclusion proof, the leaf's hash.
    pub leaf_hash: Option<Hash>,
}

fn range(what: &'static str, rule: String) -> ServiceError {
    ServiceError::Invalid(bioguard_core::ValidationError::new(what, rule))
}

/// An inclusion proof of leaf `index` exists in a tree of `size` leaves of the `have` held.
fn check_inclusion(index: u64, size: u64, have: u64) -> Result<(), ServiceError> {
    if size == 0 || size > have || index >= size {
        return Err(range("index", format!("need index < size <= {have}")));
    }
    Ok(())
}

/// A consistency proof exists between trees of `from` and `to` leaves of the `have` held.
fn check_consistency(from: u64, to: u64, have: u64) -> Result<(), ServiceError> {
    if from == 0 || from > to || to > have {
        return Err(range("from", format!("need 1 <= from <= to <= {have}")));
    }
    Ok(())
}

/// Leaves [start, end) exist among the `have` held, and are few enough for one answer.
fn check_leaves(start: u64, end: u64, have: u64) -> Result<(), ServiceError> {
    if start >= end || end > have || end - start > MAX_LEAVES_PER_CALL {
        return Err(range(
            "start",
            format!("need start < end <= {have} and at most {MAX_LEAVES_PER_CALL} leaves"),
        ));
    }
    Ok(())
}

impl Service {
    /// Brings this node's leaf hashes up to the database's size; returns that size.
    async fn sync_ledger(&self) -> Result<u64, ServiceError> {
        let size = self.db.ledger.audit_size().await?;
        let have = self.ledger.lock().size();
        if have < size {
            let hashes = self.db.ledger.audit_leaf_hashes(have, size).await?;
            let mut tree = self.ledger.lock();
            // Another request may have caught up meanwhile: push only what is still missing.
            let from = tree.size();
            for h in hashes.iter().skip((from - have) as usize) {
                tree.push(*h);
            }
        }
        Ok(size)
    }

    /// The log's origin and public key, as published.
    pub fn audit_key(&self) -> (String, VerifierKey) {
        (
            self.secrets.origin().to_owned(),
            self.secrets.log_key().verifier(),
        )
    }

    /// A freshly signed checkpoint of the whole log, as a signed note. Kept checkpoints (the
    /// signed history, `audit_checkpoints`) are made on the configured interval.
    pub async fn audit_checkpoint(&self) -> Result<String, ServiceError> {
        Ok(self.signed_checkpoint().await?.0)
    }

    /// A freshly signed checkpoint and the tree size it signs. It is not kept: readers
    /// (anyone, anonymously) must not be able to grow a table; checkpoints are kept on the
    /// configured interval by [`Service::audit_checkpoint_if_grown`].
    pub(crate) async fn signed_checkpoint(&self) -> Result<(String, u64), ServiceError> {
        let size = self.sync_ledger().await?;
        let root = bioguard_ledger::root(&*self.ledger.lock(), size);
        let note = self.secrets.log_key().sign(&Checkpoint {
            origin: self.secrets.origin().to_owned(),
            size,
            root,
        });
        Ok((note, size))
    }

    /// Signs and keeps a checkpoint if the log grew since the last one this node kept; for
    /// the periodic task of `serve` (one row per interval at most, whoever reads).
    pub async fn audit_checkpoint_if_grown(&self, last: &mut u64) -> Result<(), ServiceError> {
        let size = self.db.ledger.audit_size().await?;
        if size > *last {
            let (note, signed) = self.signed_checkpoint().await?;
            if signed > 0 {
                self.db
                    .ledger
                    .save_checkpoint(signed, &note, self.now())
                    .await?;
            }
            *last = signed;
        }
        Ok(())
    }

    /// The ledger's size and when its newest kept checkpoint was signed (for metrics).
    pub async fn ledger_status(&self) -> Result<(u64, Option<Timestamp>), ServiceError> {
        let size = self.db.ledger.audit_size().await?;
        let kept = self.db.ledger.latest_checkpoint_at().await?;
        Ok((size, kept))
    }

    /// Kept checkpoints of sizes at least `from`, oldest first (at most 1000).
    pub async fn audit_checkpoints(&self, from: u64) -> Result<Vec<KeptCheckpoint>, ServiceError> {
        Ok(self.db.ledger.checkpoints(from, 1000).await?)
    }

    /// The audit path of leaf `index` in the tree of `size` leaves.
    pub async fn audit_inclusion(&self, index: u64, size: u64) -> Result<Proof, ServiceError> {
        let have = self.sync_ledger().await?;
        check_inclusion(index, size, have)?;
        let tree = self.ledger.lock();
        let hashes = bioguard_ledger::inclusion_proof(&*tree, index, size)
            .map_err(|e| range("index", e.to_string()))?;
        Ok(Proof {
            hashes,
            leaf_hash: Some(tree.leaf(index)),
        })
    }

    /// The consistency proof between the trees of `from` and `to` leaves.
    pub async fn audit_consistency(&self, from: u64, to: u64) -> Result<Proof, ServiceError> {
        let have = self.sync_ledger().await?;
        check_consistency(from, to, have)?;
        let hashes = bioguard_ledger::consistency_proof(&*self.ledger.lock(), from, to)
            .map_err(|e| range("from", e.to_string()))?;
        Ok(Proof {
            hashes,
            leaf_hash: None,
        })
    }

    /// Leaves [start, end), at most 1000, exactly as hashed.
    pub async fn audit_leaves(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, ServiceError> {
        let have = self.db.ledger.audit_size().await?;
        check_leaves(start, end, have)?;
        Ok(self.db.ledger.audit_leaves(start, end).await?)
    }

    /// The leaves about a subject after index `after` (from the first, if `None`), at most
    /// `limit` (1 to [`MAX_HISTORY_PAGE`]), each with its index so the person can ask for an
    /// inclusion proof; and the `after` of the next page if there may be one.
    /// Needs the client's `read` right; the read is itself recorded.
    pub async fn subject_history(
        &self,
        client: &AuthenticatedClient,
        subject: &SubjectRef,
        after: Option<u64>,
        limit: u32,
    ) -> Result<(Vec<LedgerEntry>, Option<u64>), ServiceError> {
        if !(1..=MAX_HISTORY_PAGE).contains(&limit) {
            return Err(ValidationError::new(
                "limit",
                format!("from 1 to {MAX_HISTORY_PAGE} entries"),
            )
            .into());
        }
        let pseudonym = self.read_subject(client, subject, "history").await?;
        let entries = self
            .db
            .ledger
            .subject_history(&pseudonym, after, limit)
            .await?;
        let next = (entries.len() == limit as usize)
            .then(|| entries.last().map(|e| e.index))
            .flatten();
        Ok((entries, next))
    }

    /// The entries of `history` this node proves included in the tree of `size` leaves,
    /// each checked from its stored bytes against the root.
    /// Only entries that name the subject count: their tag (or, in an identification, one of
    /// the tags returned) is recognised by the subject's key, or, for leaves written before
    /// tags, they carry the pseudonym.
    pub(crate) fn proved(
        &self,
        history: &[LedgerEntry],
        size: u64,
        key: &SubjectKey,
        pseudonym: &Pseudonym,
    ) -> BTreeSet<u64> {
        let tree = self.ledger.lock();
        let root = bioguard_ledger::root(&*tree, size);
        history
            .iter()
            .filter(|e| {
                e.index < size
                    && bioguard_ledger::Leaf::decode(&e.leaf)
                        .is_some_and(|l| key.names(&l, Some(pseudonym)))
                    && bioguard_ledger::inclusion_proof(&*tree, e.index, size).is_ok_and(|p| {
                        bioguard_ledger::verify_inclusion(
                            &bioguard_ledger::leaf_hash(&e.leaf),
                            e.index,
                            size,
                            &p,
                            &root,
                        )
                        .is_ok()
                    })
            })
            .map(|e| e.index)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_and_leaves_are_asked_for_within_the_log() {
        assert!(check_inclusion(0, 1, 1).is_ok());
        assert!(check_inclusion(4, 5, 9).is_ok());
        assert!(
            check_inclusion(5, 5, 9).is_err(),
            "the index must be inside the tree"
        );
        assert!(check_inclusion(0, 10, 9).is_err(), "the tree must exist");
        assert!(check_inclusion(0, 0, 9).is_err());
        assert!(check_consistency(1, 9, 9).is_ok());
        assert!(check_consistency(3, 3, 9).is_ok());
        assert!(check_consistency(0, 3, 9).is_err());
        assert!(check_consistency(4, 3, 9).is_err());
        assert!(check_consistency(3, 10, 9).is_err());
        assert!(check_leaves(0, 1000, 5000).is_ok());
        assert!(
            check_leaves(0, 1001, 5000).is_err(),
            "at most a thousand at once"
        );
        assert!(check_leaves(5, 5, 9).is_err());
        assert!(check_leaves(5, 10, 9).is_err());
    }
}
