//! Reading the audit ledger: signed checkpoints, inclusion and consistency proofs, leaves,
//! and a subject's history.
//!
//! The leaves are written by the store with every change (see `bioguard_store::LeafDraft`).
//! Here each node keeps the leaf hashes in memory with their complete subtrees cached, and
//! catches up from the database before answering, so any node serves proofs for every leaf
//! committed by any node.

use std::sync::Mutex;

use bioguard_core::SubjectRef;
use bioguard_ledger::{Checkpoint, Hash, HashSource, MemoryTree, VerifierKey};

use crate::{AuthenticatedClient, Service, ServiceError};

/// The most leaves one `leaves` call returns.
pub const MAX_LEAVES_PER_CALL: u64 = 1000;

/// This node's copy of the leaf hashes.
#[derive(Default)]
pub(crate) struct LedgerCache {
    tree: Mutex<MemoryTree>,
}

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

impl Service {
    /// Brings this node's leaf hashes up to the database's size; returns that size.
    async fn sync_ledger(&self) -> Result<u64, ServiceError> {
        let size = self.store.audit_size().await?;
        let have = self.ledger.lock().size();
        if have < size {
            let hashes = self.store.audit_leaf_hashes(have, size).await?;
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

    /// A freshly signed checkpoint of the whole log, as a signed note; it is also kept, so
    /// the service's signed history can be fetched later (`audit_checkpoints`).
    pub async fn audit_checkpoint(&self) -> Result<String, ServiceError> {
        Ok(self.signed_checkpoint().await?.0)
    }

    /// A freshly signed (and kept) checkpoint and the tree size it signs.
    pub(crate) async fn signed_checkpoint(&self) -> Result<(String, u64), ServiceError> {
        let size = self.sync_ledger().await?;
        let root = bioguard_ledger::root(&*self.ledger.lock(), size);
        let note = self.secrets.log_key().sign(&Checkpoint {
            origin: self.secrets.origin().to_owned(),
            size,
            root,
        });
        if size > 0 {
            self.store.save_checkpoint(size, &note, self.now()).await?;
        }
        Ok((note, size))
    }

    /// Issues a checkpoint if the log grew since the last one this node saw; for the
    /// periodic task of `serve`.
    pub async fn audit_checkpoint_if_grown(&self, last: &mut u64) -> Result<(), ServiceError> {
        let size = self.store.audit_size().await?;
        if size > *last {
            self.audit_checkpoint().await?;
            *last = size;
        }
        Ok(())
    }

    /// Kept checkpoints of sizes at least `from`, oldest first (at most 1000).
    pub async fn audit_checkpoints(&self, from: u64) -> Result<Vec<(u64, String)>, ServiceError> {
        Ok(self.store.checkpoints(from, 1000).await?)
    }

    /// The audit path of leaf `index` in the tree of `size` leaves.
    pub async fn audit_inclusion(&self, index: u64, size: u64) -> Result<Proof, ServiceError> {
        let have = self.sync_ledger().await?;
        if size == 0 || size > have || index >= size {
            return Err(range("index", format!("need index < size <= {have}")));
        }
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
        if from == 0 || from > to || to > have {
            return Err(range("from", format!("need 1 <= from <= to <= {have}")));
        }
        let hashes = bioguard_ledger::consistency_proof(&*self.ledger.lock(), from, to)
            .map_err(|e| range("from", e.to_string()))?;
        Ok(Proof {
            hashes,
            leaf_hash: None,
        })
    }

    /// Leaves [start, end), at most 1000, exactly as hashed.
    pub async fn audit_leaves(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, ServiceError> {
        let have = self.store.audit_size().await?;
        if start >= end || end > have || end - start > MAX_LEAVES_PER_CALL {
            return Err(range(
                "start",
                format!("need start < end <= {have} and at most {MAX_LEAVES_PER_CALL} leaves"),
            ));
        }
        Ok(self.store.audit_leaves(start, end).await?)
    }

    /// Every leaf about a subject, with its index, so the person can ask for an inclusion
    /// proof of each.
    pub async fn subject_history(
        &self,
        _client: &AuthenticatedClient,
        subject: &SubjectRef,
    ) -> Result<Vec<(u64, Vec<u8>)>, ServiceError> {
        Ok(self
            .store
            .subject_history(&self.secrets.pseudonym(subject))
            .await?)
    }
}

impl LedgerCache {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, MemoryTree> {
        // The tree stays valid if a holder panicked: it only ever grows by whole leaves.
        self.tree.lock().unwrap_or_else(|e| e.into_inner())
    }
}
