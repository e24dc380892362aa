use async_trait::async_trait;
use bioguard_core::{FairnessState, Notice, Purpose, PurposeId, PurposeRecord, Timestamp};

use crate::error::StoreError;
use crate::records::{LeafDraft, ProtectionKey};

/// Purposes, their notices, protection keys and live thresholds.
#[async_trait]
pub trait PurposeStore: Send + Sync {
    /// Creates a purpose with its first protection key (version 1) and first notice, in one
    /// transaction. [`StoreError::Conflict`] if the id is taken.
    async fn create_purpose(
        &self,
        purpose: &Purpose,
        protection_key: &ProtectionKey,
        notice: &Notice,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError>;

    /// Publishes a new version of a purpose's notice. [`StoreError::Conflict`] if that
    /// version exists (another publication won the race).
    async fn publish_notice(
        &self,
        purpose: &PurposeId,
        notice: &Notice,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError>;

    /// Every version of a purpose's notice, oldest first.
    async fn notices(&self, purpose: &PurposeId) -> Result<Vec<Notice>, StoreError>;

    /// One purpose.
    async fn purpose(&self, id: &PurposeId) -> Result<Option<PurposeRecord>, StoreError>;

    /// Every purpose, by id.
    async fn purposes(&self) -> Result<Vec<PurposeRecord>, StoreError>;

    /// A purpose's wrapped protection key of one version with its matcher, if it still exists.
    async fn protection_key(
        &self,
        purpose: &PurposeId,
        version: u32,
    ) -> Result<Option<ProtectionKey>, StoreError>;

    /// Makes `key` the purpose's protection key `from + 1` and destroys the keys of earlier
    /// versions, in one transaction. [`StoreError::ProtectionKeyChanged`] unless the current
    /// version is `from`.
    async fn rotate_protection_key(
        &self,
        purpose: &PurposeId,
        from: u32,
        key: &ProtectionKey,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<u32, StoreError>;

    /// Retires a purpose at `at` unless it is retired already (then nothing is written and no
    /// leaf appended); returns when it was retired, or `None` without such a purpose.
    async fn retire_purpose(
        &self,
        purpose: &PurposeId,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<Option<Timestamp>, StoreError>;

    /// Makes `threshold` the purpose's live matcher threshold with its fairness state, and
    /// appends the leaf; false (and nothing written) without such a purpose.
    async fn activate_matcher(
        &self,
        purpose: &PurposeId,
        threshold: f64,
        state: &FairnessState,
        leaf: &LeafDraft,
    ) -> Result<bool, StoreError>;
}
