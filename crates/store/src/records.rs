//! The values the store reads and writes.

use std::collections::BTreeSet;

use bioguard_core::{
    ClientId, ClientName, ConsentId, ConsentMethod, DataKeyId, GalleryName, Grant, NoticeVersion,
    Pseudonym, Purpose, PurposeId, TemplateId, Timestamp,
};

/// A stored purpose with the version of its current protection key.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPurpose {
    /// The purpose.
    pub purpose: Purpose,
    /// The protection key version that new codes are made under; codes made under an older
    /// version no longer match.
    pub protection_version: u32,
    /// How the live matcher configuration passed the fairness gate.
    pub fairness: FairnessState,
}

/// How a purpose's live matcher configuration (its threshold) passed the fairness gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FairnessState {
    /// `none` (no report accepted yet), `passed` (a report met the policy) or `override` (a
    /// risk-group quorum activated it regardless).
    pub status: String,
    /// The SHA-256 of the report it rests on, if any.
    pub report_sha256: Option<String>,
    /// When it was activated.
    pub at: Option<Timestamp>,
}

impl Default for FairnessState {
    fn default() -> Self {
        Self {
            status: "none".into(),
            report_sha256: None,
            at: None,
        }
    }
}

/// A key wrapped by a key-encryption key: the key reference and the wrapped bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedKey {
    /// The key-encryption key's reference, in the provider's text form.
    pub kek: String,
    /// The wrapped bytes.
    pub wrapped: Vec<u8>,
}

/// A subject's data key for one purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDataKey {
    /// The key's id (bound into every ciphertext it seals).
    pub id: DataKeyId,
    /// The wrapped key.
    pub sealed: SealedKey,
}

/// A client to create.
#[derive(Debug, Clone)]
pub struct NewClient {
    /// The client's id.
    pub id: ClientId,
    /// Its display name.
    pub name: ClientName,
    /// HMAC digest of its API key.
    pub key_digest: [u8; 32],
    /// What it may do.
    pub grants: BTreeSet<Grant>,
    /// When it was created.
    pub created_at: Timestamp,
}

/// A stored client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRecord {
    /// The client's id.
    pub id: ClientId,
    /// Its display name.
    pub name: ClientName,
    /// What it may do.
    pub grants: BTreeSet<Grant>,
    /// When it was suspended, if it is.
    pub suspended_at: Option<Timestamp>,
}

/// Why a consent ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The person withdrew it.
    Withdrawn,
    /// A consent under another notice version or method replaced it.
    Superseded,
}

impl EndReason {
    /// The text form stored and shown in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Withdrawn => "withdrawn",
            EndReason::Superseded => "superseded",
        }
    }
}

/// A consent to record.
#[derive(Debug, Clone)]
pub struct NewConsent {
    /// The record's id.
    pub id: ConsentId,
    /// The purpose consented to.
    pub purpose: PurposeId,
    /// The notice version shown.
    pub notice_version: NoticeVersion,
    /// How consent was collected.
    pub method: ConsentMethod,
    /// The client that recorded it.
    pub client: ClientId,
    /// When it was given.
    pub at: Timestamp,
}

/// A stored consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    /// The record's id.
    pub id: ConsentId,
    /// The purpose.
    pub purpose: PurposeId,
    /// The notice version shown.
    pub notice_version: NoticeVersion,
    /// How consent was collected.
    pub method: ConsentMethod,
    /// The client that recorded it.
    pub client: ClientId,
    /// When it was given.
    pub granted_at: Timestamp,
    /// When it ended, if it did.
    pub ended_at: Option<Timestamp>,
    /// Why it ended.
    pub end_reason: Option<EndReason>,
}

impl ConsentRecord {
    /// Whether the consent is in force.
    pub fn is_live(&self) -> bool {
        self.ended_at.is_none()
    }
}

/// The result of recording consent.
#[derive(Debug, Clone)]
pub struct ConsentChange {
    /// The live consent.
    pub record: ConsentRecord,
    /// Whether a new record was written (false: the same consent was already live).
    pub created: bool,
}

/// The result of withdrawing consent.
#[derive(Debug, Clone)]
pub struct WithdrawOutcome {
    /// The consent as it is now (ended).
    pub consent: ConsentRecord,
    /// Whether a template was deleted.
    pub template_destroyed: bool,
    /// The deleted template, for removal from in-memory galleries.
    pub template_id: Option<TemplateId>,
    /// Whether a data key was destroyed.
    pub data_key_destroyed: bool,
}

/// A template to store.
#[derive(Debug, Clone)]
pub struct NewTemplate {
    /// The template's id (bound into its ciphertext).
    pub id: TemplateId,
    /// The plaintext format version.
    pub format: i64,
    /// The sealed template.
    pub sealed: Vec<u8>,
    /// The protection key version the code was made under.
    pub protection_version: u32,
    /// The galleries 1:N search may find it in.
    pub galleries: Vec<GalleryName>,
    /// The most templates any of those galleries may hold (the purpose's limit).
    pub max_gallery_size: Option<u32>,
    /// When it was enrolled.
    pub at: Timestamp,
}

/// The result of storing a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolOutcome {
    /// The earlier template this one replaced, if any.
    pub replaced: Option<TemplateId>,
}

/// A stored template with its data key.
#[derive(Debug, Clone)]
pub struct StoredTemplate {
    /// The template's id.
    pub id: TemplateId,
    /// The data key that sealed it.
    pub data_key: StoredDataKey,
    /// The plaintext format version.
    pub format: i64,
    /// The sealed template.
    pub sealed: Vec<u8>,
    /// The protection key version the code was made under.
    pub protection_version: u32,
    /// When it was enrolled.
    pub enrolled_at: Timestamp,
    /// When it was last used.
    pub last_used_at: Option<Timestamp>,
}

/// The latest material version of a purpose's notice: consents given under an older version
/// must be given again (at once, or within its grace period).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoticeFloor {
    /// Its version number.
    pub version: u32,
    /// When it was published.
    pub published_at: Timestamp,
    /// How long older consents still allow use, if at all.
    pub reconsent_days: Option<u32>,
}

/// What verification needs, read at one point in time (one statement).
#[derive(Debug, Clone)]
pub struct VerifyMaterial {
    /// The client holding the key asked about (see [`crate::Store::verify_material_for`]),
    /// if there is one. Its `grants` hold only the one asked about, if it has that grant.
    pub client: Option<ClientRecord>,
    /// The purpose, if it exists.
    pub purpose: Option<StoredPurpose>,
    /// The purpose's latest material notice, if it has one.
    pub notice_floor: Option<NoticeFloor>,
    /// Whether the subject has locked the use of their biometrics.
    pub locked: bool,
    /// The notice version the live consent was given under, if there is one.
    pub consent_notice: Option<String>,
    /// Whether a live consent exists.
    pub consent_live: bool,
    /// The template, if enrolled.
    pub template: Option<StoredTemplate>,
}

/// Template facts shown to people: never its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateInfo {
    /// The purpose.
    pub purpose: PurposeId,
    /// When it was enrolled.
    pub enrolled_at: Timestamp,
    /// When it was last used.
    pub last_used_at: Option<Timestamp>,
}

/// Everything held about a subject.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectSummary {
    /// Consent records, live and ended, oldest first.
    pub consents: Vec<ConsentRecord>,
    /// Templates, by purpose.
    pub templates: Vec<TemplateInfo>,
    /// When the subject locked the use of their biometrics, if they did.
    pub locked_at: Option<Timestamp>,
}

/// A version of a purpose's privacy notice, to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotice {
    /// Its version number (1 for the notice published with the purpose).
    pub version: u32,
    /// The notice as canonical JSON.
    pub body: String,
    /// SHA-256 of `body`, hex.
    pub hash: String,
    /// Whether existing consents must be given again under this version.
    pub material: bool,
    /// Days templates under an earlier consent stay usable for verification after this
    /// version is published (`None`: until re-consent).
    pub reconsent_days: Option<u32>,
    /// When it is published.
    pub at: Timestamp,
}

/// A published notice version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredNotice {
    /// Its version number.
    pub version: u32,
    /// The notice as canonical JSON.
    pub body: String,
    /// SHA-256 of `body`, hex.
    pub hash: String,
    /// Whether existing consents must be given again under this version.
    pub material: bool,
    /// Days earlier consents stay usable for verification (`None`: until re-consent).
    pub reconsent_days: Option<u32>,
    /// When it was published.
    pub published_at: Timestamp,
}

/// A wrapped key somewhere in the database, for rewrapping under a new key-encryption key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WrappedRow {
    /// A subject's data key for a purpose.
    DataKey {
        /// Whose.
        subject: Pseudonym,
        /// For which purpose.
        purpose: PurposeId,
        /// The key's id.
        id: DataKeyId,
        /// The wrapped key.
        sealed: SealedKey,
    },
    /// A purpose's protection key of one version.
    ProtectionKey {
        /// The purpose.
        purpose: PurposeId,
        /// The protection key version.
        version: u32,
        /// The wrapped key.
        sealed: SealedKey,
    },
    /// A service secret.
    SystemSecret {
        /// Its name.
        name: String,
        /// The wrapped key.
        sealed: SealedKey,
    },
}

impl WrappedRow {
    /// The wrapped key.
    pub fn sealed(&self) -> &SealedKey {
        match self {
            WrappedRow::DataKey { sealed, .. }
            | WrappedRow::ProtectionKey { sealed, .. }
            | WrappedRow::SystemSecret { sealed, .. } => sealed,
        }
    }
}

/// A proposal for a sensitive change, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredProposal {
    /// Its id.
    pub id: String,
    /// The canonical payload the members sign.
    pub payload: String,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it expires unless applied.
    pub expires_at: Timestamp,
    /// `open`, `applied` or `failed`.
    pub status: String,
    /// What applying it did (or why it failed).
    pub result: Option<String>,
    /// The members who approved it, in order.
    pub approvals: Vec<String>,
}

/// An incident and its timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredIncident {
    /// Its id.
    pub id: String,
    /// What kind (`abuse.enumeration`, `operator`, ...).
    pub kind: String,
    /// What happened, in words.
    pub summary: String,
    /// Who opened it (`detector`, `admin`).
    pub opened_by: String,
    /// When.
    pub opened_at: Timestamp,
    /// When it was closed.
    pub closed_at: Option<Timestamp>,
    /// The timeline: (time, action, detail), in order.
    pub events: Vec<(Timestamp, String, String)>,
}

/// A compensation claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredClaim {
    /// Its id.
    pub id: String,
    /// The disputed decision.
    pub decision_id: String,
    /// The decision's leaf in the audit ledger.
    pub leaf_index: u64,
    /// The client that filed it.
    pub client: ClientId,
    /// ISO 4217 currency code.
    pub currency: String,
    /// The amount claimed, in minor units.
    pub amount: i64,
    /// Why.
    pub reason: String,
    /// When it was filed.
    pub filed_at: Timestamp,
    /// When a decision is due.
    pub deadline: Timestamp,
    /// `filed`, `paid` or `denied`.
    pub status: String,
    /// When it was decided.
    pub decided_at: Option<Timestamp>,
    /// The reviewer's reason.
    pub decision_reason: Option<String>,
}

/// Which retention limit a template passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpiryReason {
    /// The purpose's maximum age since enrolment.
    SinceEnrolment,
    /// The purpose's maximum time since last use (or since enrolment, if never used).
    SinceLastUse,
}

impl ExpiryReason {
    /// The reason as recorded in the ledger and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ExpiryReason::SinceEnrolment => "max_age_since_enrolment",
            ExpiryReason::SinceLastUse => "max_time_since_last_use",
        }
    }
}

/// A template past one of its purpose's retention limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredTemplate {
    /// The template.
    pub template: TemplateId,
    /// Whose it is.
    pub subject: Pseudonym,
    /// Its purpose.
    pub purpose: PurposeId,
    /// The limit it passed (the enrolment limit, when it passed both).
    pub reason: ExpiryReason,
    /// When it passed that limit.
    pub deadline: Timestamp,
}

/// What an erasure deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EraseOutcome {
    /// The deleted templates, for removal from in-memory galleries.
    pub template_ids: Vec<(PurposeId, TemplateId)>,
    /// Templates deleted.
    pub templates: u64,
    /// Data keys destroyed.
    pub data_keys: u64,
    /// Consent records deleted.
    pub consents: u64,
    /// The index of the leaf that records the erasure.
    pub leaf_index: u64,
}

/// What identification needs to confirm one candidate found in memory, read from the
/// database in one statement.
#[derive(Debug, Clone)]
pub struct CandidateMaterial {
    /// The subject.
    pub subject: Pseudonym,
    /// Whether the subject has a live consent for the purpose.
    pub consent_live: bool,
    /// Whether the subject has locked the use of their biometrics.
    pub locked: bool,
    /// The notice version the live consent was given under, if there is one.
    pub consent_notice: Option<String>,
    /// The purpose's latest material notice, if it has one.
    pub notice_floor: Option<NoticeFloor>,
    /// The template.
    pub template: StoredTemplate,
    /// The galleries the template is in.
    pub galleries: Vec<GalleryName>,
}

/// A template to load into the in-memory galleries.
#[derive(Debug, Clone)]
pub struct IndexRecord {
    /// The subject.
    pub subject: Pseudonym,
    /// The template.
    pub template: StoredTemplate,
    /// The galleries it is in.
    pub galleries: Vec<GalleryName>,
}

/// What one audit leaf records, before the store gives it its index and predecessor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafDraft {
    /// When, in Unix seconds.
    pub time: Timestamp,
    /// What happened (`consent.grant`, `verify`, ...).
    pub op: &'static str,
    /// Who did it: `client:<id>`, `admin`, `system`.
    pub actor: String,
    /// The subject concerned.
    pub subject: Option<Pseudonym>,
    /// Further subjects the leaf is about (the candidates an identification returned): the
    /// leaf is listed in each one's history too. Their pseudonyms must also be in `detail`,
    /// so that the leaf itself says whom it concerns.
    pub mentions: Vec<Pseudonym>,
    /// The purpose concerned.
    pub purpose: Option<PurposeId>,
    /// The outcome.
    pub decision: Option<String>,
    /// The request id.
    pub request: Option<String>,
    /// Further facts (never biometric data or secrets).
    pub detail: Vec<(String, String)>,
}
