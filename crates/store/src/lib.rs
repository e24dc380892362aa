//! Storage for bioguard: one [`Store`] trait with a SQL implementation that runs unchanged on
//! SQLite (the embedded default) and PostgreSQL (the scale-out store).
//!
//! The trait speaks in domain types and in sealed bytes; it never sees a biometric value or a
//! key in clear. Operations that must happen together (withdrawing consent and destroying the
//! template and its data key; checking consent and storing a template) are single methods that
//! run in one transaction, so no caller can split them. Rows that do not parse back into
//! domain types are reported as [`StoreError::Corrupt`], never silently skipped.

mod columns;
mod error;
mod lite;
mod mailbox;
mod migrate;
mod records;
mod sql;
pub mod testing;
mod writer;

use async_trait::async_trait;
use bioguard_core::{
    ClientId, GalleryName, Operation, Pseudonym, Purpose, PurposeId, TemplateId, Timestamp,
};

pub use error::StoreError;
/// The PostgreSQL notification channel on which every commit that grew the audit ledger is
/// announced (payload: the new ledger size).
pub const LEDGER_CHANNEL: &str = "bioguard_ledger";

pub use records::{
    CandidateMaterial, ClientRecord, ConsentChange, ConsentRecord, EndReason, EnrolOutcome,
    EraseOutcome, ExpiredTemplate, ExpiryReason, FairnessState, IndexRecord, LeafDraft, NewClient,
    NewConsent, NewNotice, NewTemplate, NoticeFloor, SealedKey, StoredClaim, StoredDataKey,
    StoredIncident, StoredNotice, StoredProposal, StoredPurpose, StoredTemplate, SubjectSummary,
    TemplateInfo, VerifyMaterial, WithdrawOutcome, WrappedRow,
};
pub use sql::{Backend, LedgerListener, SqlStore, count_rows};
pub use writer::WriteStats;

/// The storage operations the service needs.
#[async_trait]
pub trait Store: Send + Sync {
    /// Which database this is.
    fn backend(&self) -> Backend;

    /// Checks the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Creates a purpose with its first protection key (version 1), in one transaction.
    /// [`StoreError::Conflict`] if the id is taken.
    async fn create_purpose(
        &self,
        purpose: &Purpose,
        protection_key: &SealedKey,
        notice: &NewNotice,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError>;

    /// Publishes a new version of a purpose's notice. [`StoreError::Conflict`] if that
    /// version exists (another publication won the race).
    async fn publish_notice(
        &self,
        purpose: &PurposeId,
        notice: &NewNotice,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError>;

    /// Every version of a purpose's notice, oldest first.
    async fn notices(&self, purpose: &PurposeId) -> Result<Vec<StoredNotice>, StoreError>;

    /// One purpose.
    async fn purpose(&self, id: &PurposeId) -> Result<Option<StoredPurpose>, StoreError>;

    /// Every purpose, by id.
    async fn purposes(&self) -> Result<Vec<StoredPurpose>, StoreError>;

    /// Stores a portal link (by its token's digest) for a subject, appending the leaf, and
    /// drops links that expired before `now`.
    async fn create_portal_link(
        &self,
        digest: &str,
        subject: &Pseudonym,
        client: &ClientId,
        now: Timestamp,
        expires_at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError>;

    /// The subject, issuing client and expiry of the portal link with this digest.
    async fn portal_link(
        &self,
        digest: &str,
    ) -> Result<Option<(Pseudonym, ClientId, Timestamp)>, StoreError>;

    /// Keeps a fairness report received for a purpose, by its SHA-256 (once).
    async fn save_fairness_report(
        &self,
        sha256: &str,
        purpose: &PurposeId,
        body: &str,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// A fairness report kept by [`Store::save_fairness_report`]: its purpose and body.
    async fn fairness_report(
        &self,
        sha256: &str,
    ) -> Result<Option<(PurposeId, String)>, StoreError>;

    /// Makes `threshold` the purpose's live matcher threshold with its fairness state, and
    /// appends the leaf; false (and nothing written) without such a purpose.
    async fn activate_matcher(
        &self,
        purpose: &PurposeId,
        threshold: f64,
        state: &FairnessState,
        leaf: &LeafDraft,
    ) -> Result<bool, StoreError>;

    /// A purpose's wrapped protection key of one version, if it still exists.
    async fn protection_key(
        &self,
        purpose: &PurposeId,
        version: u32,
    ) -> Result<Option<SealedKey>, StoreError>;

    /// Makes `key` the purpose's protection key `from + 1` and destroys the keys of earlier
    /// versions, in one transaction. [`StoreError::ProtectionKeyChanged`] unless the current
    /// version is `from`.
    async fn rotate_protection_key(
        &self,
        purpose: &PurposeId,
        from: u32,
        key: &SealedKey,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<u32, StoreError>;

    /// Creates a client with its grants. [`StoreError::Conflict`] if the id or key digest is
    /// taken.
    async fn create_client(&self, client: &NewClient, leaf: &LeafDraft) -> Result<(), StoreError>;

    /// Replaces a client's API key digest; returns whether the client exists.
    async fn replace_client_key(
        &self,
        client: &ClientId,
        digest: &[u8; 32],
        leaf: &LeafDraft,
    ) -> Result<bool, StoreError>;

    /// Registers a capture device of a client. [`StoreError::Conflict`] if its key is taken.
    async fn register_device(
        &self,
        id: &str,
        client: &ClientId,
        name: &str,
        public_key: &[u8; 32],
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError>;

    /// Revokes a device; returns whether it existed and was not revoked yet.
    async fn revoke_device(
        &self,
        id: &str,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<bool, StoreError>;

    /// A device: its client, public key, and when it was revoked.
    async fn device(
        &self,
        id: &str,
    ) -> Result<Option<(ClientId, [u8; 32], Option<Timestamp>)>, StoreError>;

    /// Stores a one-time capture challenge.
    async fn issue_challenge(
        &self,
        id: &str,
        client: &ClientId,
        purpose: &PurposeId,
        expires_at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Spends a challenge of this client and purpose at `at`: `Ok(())`, or why not
    /// (`challenge_unknown`, `challenge_expired`, `challenge_reused`).
    async fn use_challenge(
        &self,
        id: &str,
        client: &ClientId,
        purpose: &PurposeId,
        at: Timestamp,
    ) -> Result<Result<(), &'static str>, StoreError>;

    /// Suspends a client (`Some(at)`) or lifts its suspension (`None`); returns whether the
    /// client exists.
    async fn set_client_suspended(
        &self,
        client: &ClientId,
        at: Option<Timestamp>,
        leaf: &LeafDraft,
    ) -> Result<bool, StoreError>;

    /// Opens an incident with its first events.
    async fn open_incident(
        &self,
        incident: &StoredIncident,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError>;

    /// Adds an event to an open incident's timeline (closing it when `close`); returns
    /// whether the incident exists and was open.
    async fn add_incident_event(
        &self,
        id: &str,
        at: Timestamp,
        action: &str,
        detail: &str,
        close: bool,
        leaf: &LeafDraft,
    ) -> Result<bool, StoreError>;

    /// The subjects holding a template of a purpose under one protection key version.
    async fn subjects_with_templates(
        &self,
        purpose: &PurposeId,
        version: u32,
    ) -> Result<Vec<Pseudonym>, StoreError>;

    /// Records that `subjects` must be notified about an incident by `deadline`.
    async fn create_notifications(
        &self,
        incident: &str,
        purpose: &PurposeId,
        subjects: &[Pseudonym],
        at: Timestamp,
        deadline: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError>;

    /// Marks an incident's unsent notifications as sent at `at`; returns how many.
    async fn mark_notifications_sent(
        &self,
        incident: &str,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<u64, StoreError>;

    /// An incident's notifications: (subject, purpose, deadline, sent at).
    async fn notifications(
        &self,
        incident: &str,
    ) -> Result<Vec<(Pseudonym, PurposeId, Timestamp, Option<Timestamp>)>, StoreError>;

    /// All notifications at `now`: (sent on time, late, pending).
    async fn notification_counts(&self, now: Timestamp) -> Result<(u64, u64, u64), StoreError>;

    /// The leaf that records a decision (by its `decision` detail), with its index.
    async fn decision_leaf(&self, decision: &str) -> Result<Option<(u64, Vec<u8>)>, StoreError>;

    /// Registers a claim reviewer by the digest of their token.
    async fn add_reviewer(
        &self,
        id: &str,
        name: &str,
        digest: &[u8; 32],
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError>;

    /// The reviewer (id, name) whose token has this digest.
    async fn reviewer_by_digest(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<(String, String)>, StoreError>;

    /// Seconds from filing to decision of every decided claim, ascending.
    async fn claim_decision_times(&self) -> Result<Vec<i64>, StoreError>;

    /// Files a claim.
    async fn file_claim(&self, claim: &StoredClaim, leaf: &LeafDraft) -> Result<(), StoreError>;

    /// One claim.
    async fn claim(&self, id: &str) -> Result<Option<StoredClaim>, StoreError>;

    /// Decides a filed claim: denied, or approved and paid from the reserve in the same
    /// transaction. `Ok(Err(why))` when it cannot be (`claim_decided`,
    /// `reserve_insufficient`); the reserve never goes negative.
    async fn decide_claim(
        &self,
        id: &str,
        approve: bool,
        reason: &str,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<Result<(), &'static str>, StoreError>;

    /// Adds funds to the reserve (from the `funding` account).
    async fn reserve_topup(
        &self,
        currency: &str,
        amount: i64,
        memo: &str,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError>;

    /// Balances by (account, currency).
    async fn reserve_balances(&self) -> Result<Vec<(String, String, i64)>, StoreError>;

    /// One incident with its timeline.
    async fn incident(&self, id: &str) -> Result<Option<StoredIncident>, StoreError>;

    /// The client whose API key has this digest.
    async fn client_by_key_digest(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<ClientRecord>, StoreError>;

    /// Whether an admin token has been registered.
    async fn has_admin_token(&self) -> Result<bool, StoreError>;

    /// Registers the admin token digest unless one exists; returns whether it was stored.
    async fn insert_admin_token(
        &self,
        digest: &[u8; 32],
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<bool, StoreError>;

    /// Whether `digest` is a registered admin token digest.
    async fn is_admin_token(&self, digest: &[u8; 32]) -> Result<bool, StoreError>;

    /// A wrapped service secret by name.
    async fn system_secret(&self, name: &str) -> Result<Option<SealedKey>, StoreError>;

    /// Stores a wrapped service secret unless one with that name exists (another node may have
    /// made it first); returns whether this one was stored.
    async fn insert_system_secret(
        &self,
        name: &str,
        key: &SealedKey,
        at: Timestamp,
    ) -> Result<bool, StoreError>;

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
    /// checks for a live consent ([`StoreError::NoConsent`] otherwise). When `key_is_new`,
    /// the key is inserted; if another request stored a key meanwhile, or an existing key is
    /// no longer the one given, [`StoreError::KeyChanged`] asks the caller to seal again.
    /// With `template.max_gallery_size`, a gallery that would hold more templates than that
    /// is refused with [`StoreError::GalleryFull`].
    async fn put_template(
        &self,
        subject: &Pseudonym,
        purpose: &PurposeId,
        key: &StoredDataKey,
        key_is_new: bool,
        template: &NewTemplate,
        leaf: &LeafDraft,
    ) -> Result<EnrolOutcome, StoreError>;

    /// The number of templates in a gallery.
    async fn gallery_size(
        &self,
        purpose: &PurposeId,
        gallery: &GalleryName,
    ) -> Result<u64, StoreError>;

    /// The subject, consent state, template and galleries of one template of a purpose.
    async fn candidate(
        &self,
        purpose: &PurposeId,
        template: &TemplateId,
    ) -> Result<Option<CandidateMaterial>, StoreError>;

    /// Templates of a purpose under one protection version that are in at least one gallery
    /// and whose subject has a live consent, in template-id order after `after`, at most
    /// `limit`: the pages that fill the in-memory galleries at start.
    async fn index_page(
        &self,
        purpose: &PurposeId,
        version: u32,
        after: Option<&TemplateId>,
        limit: u32,
    ) -> Result<Vec<IndexRecord>, StoreError>;

    /// The gallery templates of one subject for a purpose under one protection version, if
    /// the subject's consent is live (what [`Store::index_page`] would list for them).
    async fn index_records_of(
        &self,
        purpose: &PurposeId,
        version: u32,
        subject: &Pseudonym,
    ) -> Result<Vec<IndexRecord>, StoreError>;

    /// Whether a template exists.
    async fn template_exists(&self, template: &TemplateId) -> Result<bool, StoreError>;

    /// Records identifications: the use of the templates found and one audit leaf per
    /// decision, in one transaction. Returns the leaves' indexes.
    async fn record_identification(
        &self,
        templates: &[TemplateId],
        at: Timestamp,
        leaves: &[LeafDraft],
    ) -> Result<Vec<u64>, StoreError>;

    /// The purpose, its notice floor, and the consent state and template of a subject for it,
    /// read in one statement.
    async fn verify_material(
        &self,
        subject: &Pseudonym,
        purpose: &PurposeId,
    ) -> Result<VerifyMaterial, StoreError> {
        self.verify_material_for(subject, purpose, None).await
    }

    /// As [`Store::verify_material`], and in the same statement the client whose API key has
    /// `client.0` as its digest, with its grant of operation `client.1` on this purpose if it
    /// has it: a verification authenticates, authorises and reads in one round trip.
    async fn verify_material_for(
        &self,
        subject: &Pseudonym,
        purpose: &PurposeId,
        client: Option<(&[u8; 32], Operation)>,
    ) -> Result<VerifyMaterial, StoreError>;

    /// Records a verification: the template's use time (never moved back) and its audit leaf,
    /// in one transaction. Returns the leaf's index. A template replaced or deleted meanwhile
    /// is left as it is; the leaf is written all the same.
    async fn record_verification(
        &self,
        template: &TemplateId,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<u64, StoreError>;

    /// Appends a leaf that records no stored change (a burst of failed authentications).
    async fn append_audit(&self, leaf: &LeafDraft) -> Result<u64, StoreError>;

    /// Keeps a signed checkpoint (once per size; a second one of the same size is ignored).
    async fn save_checkpoint(&self, size: u64, note: &str, at: Timestamp)
    -> Result<(), StoreError>;

    /// Saved checkpoints of sizes at least `from`, oldest first, at most `limit`.
    async fn checkpoints(&self, from: u64, limit: u32) -> Result<Vec<(u64, String)>, StoreError>;

    /// The number of audit leaves.
    async fn audit_size(&self) -> Result<u64, StoreError>;

    /// The audit leaves with indexes in [start, end), in order.
    async fn audit_leaves(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError>;

    /// The leaf hashes with indexes in [start, end), in order.
    async fn audit_leaf_hashes(&self, start: u64, end: u64) -> Result<Vec<[u8; 32]>, StoreError>;

    /// The audit leaves about one subject, with their indexes.
    async fn subject_history(&self, subject: &Pseudonym)
    -> Result<Vec<(u64, Vec<u8>)>, StoreError>;

    /// Everything held about a subject, without template bytes.
    async fn subject_summary(&self, subject: &Pseudonym) -> Result<SubjectSummary, StoreError>;

    /// Templates past a retention limit of their purpose at `at`, in template-id order after
    /// `after`, at most `limit`.
    async fn expired_templates(
        &self,
        at: Timestamp,
        after: Option<&TemplateId>,
        limit: u32,
    ) -> Result<Vec<ExpiredTemplate>, StoreError>;

    /// How many templates are past a retention limit at `at`.
    async fn expired_count(&self, at: Timestamp) -> Result<u64, StoreError>;

    /// Deletes one template if it is still past a retention limit at `at`, with its gallery
    /// memberships and its data key (crypto-shredding), and appends `leaf` completed with
    /// the subject, purpose and reason, in one transaction. `None` if it is gone or no longer
    /// expired (used or replaced meanwhile).
    async fn delete_expired(
        &self,
        template: &TemplateId,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<Option<ExpiredTemplate>, StoreError>;

    /// Locks (`lock`) or unlocks the use of a subject's biometrics, recording `client` and
    /// appending `leaf` when the state changes. Returns whether it changed.
    async fn set_lock(
        &self,
        subject: &Pseudonym,
        lock: bool,
        client: &ClientId,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<bool, StoreError>;

    /// When the subject locked the use of their biometrics, if they did.
    async fn locked_at(&self, subject: &Pseudonym) -> Result<Option<Timestamp>, StoreError>;

    /// How many wrapped keys (data keys, protection keys, service secrets) each key-encryption
    /// key reference wraps, by reference.
    async fn kek_usage(&self) -> Result<Vec<(String, u64)>, StoreError>;

    /// Wrapped keys whose key-encryption key is not `current`, at most `limit`: service
    /// secrets, then protection keys, then data keys in id order.
    async fn wrapped_not_on(
        &self,
        current: &str,
        limit: u32,
    ) -> Result<Vec<WrappedRow>, StoreError>;

    /// Replaces a wrapped key with `new` if it is still `row` (compare and swap); returns
    /// whether it was replaced. No audit leaf: the rotation as a whole is recorded.
    async fn replace_wrap(&self, row: &WrappedRow, new: &SealedKey) -> Result<bool, StoreError>;

    /// The risk group: its quorum and members (JSON), if one is registered.
    async fn risk_group(&self) -> Result<Option<(u32, String)>, StoreError>;

    /// Registers (`expect_none`) or replaces the risk group.
    /// [`StoreError::Conflict`] when registering and one exists.
    async fn set_risk_group(
        &self,
        quorum: u32,
        members: &str,
        expect_none: bool,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError>;

    /// Stores a new open proposal.
    async fn create_proposal(
        &self,
        proposal: &StoredProposal,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError>;

    /// One proposal with its approvals.
    async fn proposal(&self, id: &str) -> Result<Option<StoredProposal>, StoreError>;

    /// Records a member's approval of an open proposal; returns the number of approvals.
    /// [`StoreError::Conflict`] if this member approved it already.
    async fn add_approval(
        &self,
        id: &str,
        member: &str,
        signature: &[u8],
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<u32, StoreError>;

    /// Moves a proposal from `from` to `to` status with a result; returns whether it was in
    /// `from` (so only one caller applies a proposal).
    async fn set_proposal_status(
        &self,
        id: &str,
        from: &str,
        to: &str,
        result: Option<&str>,
        leaf: Option<&LeafDraft>,
    ) -> Result<bool, StoreError>;

    /// Deletes everything held about a subject in one transaction.
    async fn erase_subject(
        &self,
        subject: &Pseudonym,
        leaf: &LeafDraft,
    ) -> Result<EraseOutcome, StoreError>;
}
