use async_trait::async_trait;
use bioguard_core::{
    ClientId, LockStep, Locker, NewConsent, Pseudonym, PurposeId, SubjectSummary, Timestamp,
};

use crate::error::StoreError;
use crate::records::{
    ConsentChange, EnrolOutcome, EraseOutcome, LeafDraft, NewTemplate, StoredDataKey,
    WithdrawOutcome,
};

/// Consent and what it guards: data keys, templates, locks, erasure. Each change that must
/// happen together with another is one method, one transaction.
#[async_trait]
pub trait ConsentStore: Send + Sync {
    /// Records consent. If a live consent with the same notice version and method exists it
    /// is returned unchanged; a live consent under another notice or method is superseded.
    async fn grant_consent(
        &self,
        subject: &Pseudonym,
        consent: &NewConsent,
        leaf: &LeafDraft,
    ) -> Result<ConsentChange, StoreError>;

    /// Withdraws the live consent and, in the same transaction, deletes the template and
    /// destroys its data key. `None` if there was no live consent.
    async fn withdraw_consent(
        &self,
        subject: &Pseudonym,
        purpose: &PurposeId,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<Option<WithdrawOutcome>, StoreError>;

    /// The data key of a subject and purpose, if one exists.
    async fn data_key(
        &self,
        subject: &Pseudonym,
        purpose: &PurposeId,
    ) -> Result<Option<StoredDataKey>, StoreError>;

    /// Stores (or replaces) a template sealed under `key`, in one transaction that first
    /// checks for a live consent ([`StoreError::NoConsent`] otherwise) and no lock
    /// ([`StoreError::Locked`]). When `key_is_new`, the key is inserted; if another request
    /// stored a key meanwhile, or an existing key is no longer the one given,
    /// [`StoreError::KeyChanged`] asks the caller to seal again. With
    /// `template.max_gallery_size`, a gallery that would hold more templates than that is
    /// refused with [`StoreError::GalleryFull`].
    async fn put_template(
        &self,
        subject: &Pseudonym,
        purpose: &PurposeId,
        key: &StoredDataKey,
        key_is_new: bool,
        template: &NewTemplate,
        leaf: &LeafDraft,
    ) -> Result<EnrolOutcome, StoreError>;

    /// Everything held about a subject, without template bytes.
    async fn subject_summary(&self, subject: &Pseudonym) -> Result<SubjectSummary, StoreError>;

    /// Locks (`lock`) or unlocks the use of a subject's biometrics on behalf of `by`, as
    /// [`LockStep::decide`] rules, recording `client` on a new lock and appending `leaf` when
    /// the state changes. Returns the step taken (a refusal changes nothing).
    async fn set_lock(
        &self,
        subject: &Pseudonym,
        lock: bool,
        by: &Locker,
        client: &ClientId,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<LockStep, StoreError>;

    /// When the subject locked the use of their biometrics, if they did.
    async fn locked_at(&self, subject: &Pseudonym) -> Result<Option<Timestamp>, StoreError>;

    /// Deletes everything held about a subject in one transaction.
    async fn erase_subject(
        &self,
        subject: &Pseudonym,
        leaf: &LeafDraft,
    ) -> Result<EraseOutcome, StoreError>;
}
