use async_trait::async_trait;
use bioguard_core::{DecisionId, KeptCheckpoint, LedgerEntry, Pseudonym, Timestamp};

use crate::error::StoreError;
use crate::records::{AuditCounts, LeafDraft};

/// The audit ledger: leaves (written with every change by the other traits' methods),
/// checkpoints, and reads.
#[async_trait]
pub trait LedgerStore: Send + Sync {
    /// Appends a leaf that records no stored change (a refusal, a burst of failed
    /// authentications). Returns its index.
    async fn append_audit(&self, leaf: &LeafDraft) -> Result<u64, StoreError>;

    /// Keeps a signed checkpoint (once per size; a second one of the same size is ignored).
    async fn save_checkpoint(&self, size: u64, note: &str, at: Timestamp)
    -> Result<(), StoreError>;

    /// Saved checkpoints of sizes at least `from`, oldest first, at most `limit`.
    async fn checkpoints(&self, from: u64, limit: u32) -> Result<Vec<KeptCheckpoint>, StoreError>;

    /// When the newest kept checkpoint was saved, if any was.
    async fn latest_checkpoint_at(&self) -> Result<Option<Timestamp>, StoreError>;

    /// The number of audit leaves.
    async fn audit_size(&self) -> Result<u64, StoreError>;

    /// The audit leaves with indexes in [start, end), in order.
    async fn audit_leaves(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError>;

    /// The audit leaves with indexes in [start, end), in order, each with the pseudonym kept
    /// beside it (never in it), for this service's own followers; never for publication.
    async fn audit_leaves_with_subjects(
        &self,
        start: u64,
        end: u64,
    ) -> Result<Vec<(Vec<u8>, Option<Pseudonym>)>, StoreError>;

    /// The leaf hashes with indexes in [start, end), in order.
    async fn audit_leaf_hashes(&self, start: u64, end: u64) -> Result<Vec<[u8; 32]>, StoreError>;

    /// The audit leaves about one subject with indexes after `after` (all, if `None`), oldest
    /// first, at most `limit`.
    async fn subject_history(
        &self,
        subject: &Pseudonym,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>, StoreError>;

    /// The newest `limit` audit leaves about one subject, oldest first.
    async fn subject_history_latest(
        &self,
        subject: &Pseudonym,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>, StoreError>;

    /// Leaves counted by operation and decision, as they were written: one read of a few
    /// rows, whatever the ledger's size.
    async fn audit_counts(&self) -> Result<AuditCounts, StoreError>;

    /// The leaf that records a decision (a verification or identification), found by key.
    async fn decision_leaf(&self, decision: &DecisionId)
    -> Result<Option<LedgerEntry>, StoreError>;
}
