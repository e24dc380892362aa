//! What the store's methods take and return, beyond the domain records of `bioguard-core`:
//! sealed bytes, wrapped keys, the reads one use case needs at one instant, and the outcomes
//! of changes made in one transaction.

use std::collections::BTreeSet;

use bioguard_core::{
    ClientId, ClientName, ClientRecord, ConsentRecord, DataKeyId, ExpiryReason, GalleryName, Grant,
    Matcher, NoticeFloor, Pseudonym, PurposeId, PurposeRecord, ReviewerId, SubjectRight,
    TemplateId, TenantId, Timestamp,
};

/// A key wrapped by a key-encryption key: the key reference and the wrapped bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedKey {
    /// The key-encryption key's reference, in the provider's text form.
    pub kek: String,
    /// The wrapped bytes.
    pub wrapped: Vec<u8>,
}

/// A purpose's protection key of one version: the wrapped seed and the matcher it drives (the
/// transform, and the centre subtracted before it).
#[derive(Debug, Clone, PartialEq)]
pub struct ProtectionKey {
    /// The wrapped seed.
    pub sealed: SealedKey,
    /// How codes are made under it.
    pub matcher: Matcher,
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
    /// Its tenant.
    pub tenant: TenantId,
    /// HMAC digest of its API key.
    pub key_digest: [u8; 32],
    /// What it may do, per purpose of its tenant.
    pub grants: BTreeSet<Grant>,
    /// What it may do to a subject as a whole.
    pub rights: BTreeSet<SubjectRight>,
    /// When it was created.
    pub created_at: Timestamp,
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

/// A subject's consent to one purpose as a use reads it: whether one is live, under which
/// notice, and the purpose's latest material notice; and whether the subject locked their
/// biometrics. Read in the same statement as the template it lets be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentEvidence {
    /// Whether a live consent exists.
    pub live: bool,
    /// The notice version the live consent was given under, if there is one.
    pub notice: Option<String>,
    /// The purpose's latest material notice, if it has one.
    pub floor: Option<NoticeFloor>,
    /// Whether the subject has locked the use of their biometrics.
    pub locked: bool,
}

/// What verification needs, read at one point in time (one statement).
#[derive(Debug, Clone)]
pub struct VerifyMaterial {
    /// The client holding the key asked about (see
    /// [`crate::VerificationStore::verify_material_for`]), if there is one. Its `grants` hold
    /// only the one asked about, if it has that grant.
    pub client: Option<ClientRecord>,
    /// The purpose, if it exists.
    pub purpose: Option<PurposeRecord>,
    /// The subject's consent and lock.
    pub consent: ConsentEvidence,
    /// The template, if enrolled.
    pub template: Option<StoredTemplate>,
    /// The subject's ledger salt, if it has one.
    pub ledger_salt: Option<[u8; 32]>,
    /// The shared lockout state of the subject and purpose (see [`crate::LimitStore`]; empty
    /// where limits are kept in memory).
    pub lockout: LockoutState,
}

/// A subject's lockout for a purpose as the shared limit tables hold it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LockoutState {
    /// Until when the subject is locked out (Unix seconds), if a lockout was recorded.
    pub until: Option<i64>,
    /// Failures counted since the last success or lockout, within the purpose's window as of
    /// the newest of them.
    pub failures: u32,
    /// When the newest failure was.
    pub last_failure: Option<i64>,
}

impl LockoutState {
    /// Seconds left of the lockout at `now`, if it is on.
    pub fn left(&self, now: i64) -> Option<i64> {
        self.until.map(|u| u - now).filter(|l| *l > 0)
    }

    /// The failures that count at `now` for a window of `window` seconds.
    pub fn recent(&self, now: i64, window: i64) -> u32 {
        match self.last_failure {
            Some(last) if last > now - window => self.failures,
            _ => 0,
        }
    }
}

/// What identification needs to confirm one candidate found in memory, read from the
/// database in one statement.
#[derive(Debug, Clone)]
pub struct CandidateMaterial {
    /// The subject.
    pub subject: Pseudonym,
    /// The subject's consent and lock.
    pub consent: ConsentEvidence,
    /// The template.
    pub template: StoredTemplate,
    /// The galleries the template is in.
    pub galleries: Vec<GalleryName>,
    /// The subject's ledger salt, if it has one.
    pub ledger_salt: Option<[u8; 32]>,
}

/// A template to load into the in-memory galleries. Only templates whose subject has a live
/// consent for the purpose are listed.
#[derive(Debug, Clone)]
pub struct IndexRecord {
    /// The subject.
    pub subject: Pseudonym,
    /// The template.
    pub template: StoredTemplate,
    /// The galleries it is in.
    pub galleries: Vec<GalleryName>,
}

/// The subject of one audit leaf: the pseudonym, which stays in the database beside the leaf
/// (so the subject's history can be found), and the tag the public leaf carries instead. A
/// tag is made for one leaf from the subject's ledger key and a fresh nonce: no two leaves
/// share one, and only a holder of the key can tell that a tag is the subject's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafSubject {
    /// The subject's pseudonym (private).
    pub pseudonym: Pseudonym,
    /// The leaf's tag for the subject (public).
    pub tag: String,
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
    /// The subject concerned: its pseudonym is kept beside the leaf (never in it), and the
    /// leaf carries the subject's one-time tag.
    pub subject: Option<LeafSubject>,
    /// Further subjects the leaf is about (the candidates an identification returned): the
    /// leaf is listed in each one's history too. Their tags must be in `detail`, so that the
    /// leaf itself says (to them alone) that it concerns them.
    pub mentions: Vec<Pseudonym>,
    /// The purpose concerned.
    pub purpose: Option<PurposeId>,
    /// The outcome.
    pub decision: Option<String>,
    /// The request id.
    pub request: Option<String>,
    /// Further facts (never biometric data or secrets).
    pub detail: Vec<(String, String)>,
    /// The webhook messages the change owes relying parties: written to the outbox with the
    /// leaf, in the change's transaction, so a change is never made without them nor they
    /// sent for a change that was not made. (Only changes with statements of their own carry
    /// them; verification leaves never do.)
    pub outbox: Vec<OutboxMessage>,
}

/// One message to one webhook endpoint, for the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// The message id (`msg_...`), sent as `webhook-id` on every attempt.
    pub id: String,
    /// The endpoint.
    pub endpoint: String,
    /// The event type (`consent.withdrawn`, ...).
    pub event: String,
    /// The JSON payload, sealed (it names a subject).
    pub payload: Vec<u8>,
}

/// A webhook endpoint as registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    /// The endpoint id (`wh_...`).
    pub id: String,
    /// The client whose events it receives.
    pub client: ClientId,
    /// Where messages are posted.
    pub url: String,
    /// The event types it receives.
    pub events: BTreeSet<String>,
    /// The signing secret, sealed.
    pub secret: Vec<u8>,
    /// When it was registered.
    pub created_at: Timestamp,
    /// When it was disabled, if it was.
    pub disabled_at: Option<Timestamp>,
}

/// A message due for delivery, leased to the caller until the lease's end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueMessage {
    /// The message id.
    pub id: String,
    /// The endpoint's id.
    pub endpoint: String,
    /// The endpoint's URL.
    pub url: String,
    /// The endpoint's signing secret, sealed.
    pub secret: Vec<u8>,
    /// The event type.
    pub event: String,
    /// The payload, sealed.
    pub payload: Vec<u8>,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// The outcome of one delivery attempt, for the delivery log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    /// When the attempt was made.
    pub at: Timestamp,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<u16>,
    /// Why the attempt failed, if it did (never a payload or a secret).
    pub error: Option<String>,
    /// Whether the message is now delivered.
    pub delivered: bool,
    /// When to try again (`None` with `delivered` false: given up).
    pub next_attempt_at: Option<Timestamp>,
}

/// A message as the delivery log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageState {
    /// The message id.
    pub id: String,
    /// The event type.
    pub event: String,
    /// When the change that owes it was made.
    pub created_at: Timestamp,
    /// Attempts made.
    pub attempts: u32,
    /// The next attempt, if one is due.
    pub next_attempt_at: Option<Timestamp>,
    /// When it was delivered.
    pub delivered_at: Option<Timestamp>,
    /// When delivery was given up.
    pub failed_at: Option<Timestamp>,
    /// The last attempt's status, if the receiver answered.
    pub last_status: Option<u16>,
    /// The last attempt's error, if it failed.
    pub last_error: Option<String>,
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
    /// Data keys destroyed.
    pub data_keys: u64,
    /// Consent records deleted.
    pub consents: u64,
    /// The index of the leaf that records the erasure.
    pub leaf_index: u64,
}

/// Leaves counted as they were written (see the transparency report).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditCounts {
    /// Leaves by operation; their sum is the ledger's size.
    pub by_op: std::collections::BTreeMap<String, u64>,
    /// Leaves by operation and decision, for the operations whose outcomes are reported
    /// (`verify`, `capture.refused`, `claim.decide`, `purpose.matcher.activate`).
    pub by_decision: std::collections::BTreeMap<(String, String), u64>,
}

impl AuditCounts {
    /// The number of leaves counted.
    pub fn size(&self) -> u64 {
        self.by_op.values().sum()
    }
}

/// A portal link, found by its token's digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalLink {
    /// The subject it opens.
    pub subject: Pseudonym,
    /// The client that issued it.
    pub client: ClientId,
    /// When it stops working.
    pub expires_at: Timestamp,
}

/// A fairness report kept by its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptReport {
    /// The purpose it was submitted for.
    pub purpose: PurposeId,
    /// The report's canonical JSON text, as hashed.
    pub body: String,
}

/// A registered capture device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The client it belongs to.
    pub client: ClientId,
    /// Its Ed25519 public key.
    pub public_key: [u8; 32],
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}

/// Why a capture challenge cannot be spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeRefusal {
    /// No such challenge was issued to this client for this purpose.
    Unknown,
    /// It has expired.
    Expired,
    /// It was spent already.
    Reused,
}

impl ChallengeRefusal {
    /// The reason code answered and recorded.
    pub fn code(self) -> &'static str {
        match self {
            ChallengeRefusal::Unknown => "challenge_unknown",
            ChallengeRefusal::Expired => "challenge_expired",
            ChallengeRefusal::Reused => "challenge_reused",
        }
    }
}

/// A claim reviewer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewerRecord {
    /// Their id.
    pub id: ReviewerId,
    /// Their name.
    pub name: String,
}

/// Why a claim cannot be decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimRefusal {
    /// It was decided already.
    Decided,
    /// The reserve holds too little in the claim's currency to pay it.
    ReserveInsufficient,
}
