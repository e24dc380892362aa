use bioguard_core::{LockRefusal, Operation, SubjectRight, ValidationError};
use bioguard_crypto::{CryptoError, KeyError};
use bioguard_store::StoreError;

/// Why a use case did not complete. The HTTP layer maps each variant to one status and one
/// error code; messages never contain subject identifiers, templates or keys.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The credentials are missing or wrong. Deliberately carries no detail.
    #[error("missing or invalid credentials")]
    Unauthenticated,
    /// A value in the request broke a rule.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The purpose does not exist.
    #[error("no purpose with this id exists; GET /v1/purposes lists them")]
    PurposeNotFound,
    /// The purpose is retired: it takes no new consents or enrolments.
    #[error(
        "this purpose is retired: it takes no new consents or enrolments; offer the non-biometric alternative"
    )]
    PurposeRetired,
    /// The client holds no grant for this operation on this purpose.
    #[error("this client holds no `{0}` grant for this purpose")]
    NoGrant(Operation),
    /// The client holds no right to this subject-level action.
    #[error(
        "this client holds no `{0}` right over subjects; the operator names a client's \
         subject rights when creating it"
    )]
    NoRight(SubjectRight),
    /// The lock is someone else's to lift.
    #[error("{}", match .0 {
        LockRefusal::HeldByPerson => "the person locked the use of their biometrics themselves; only they can unlock it, in their privacy portal",
        LockRefusal::HeldByOtherClient => "another relying party set this lock; only it can lift it",
        LockRefusal::HeldByClient => "the relying party that set this lock is the one that can lift it; ask them",
    })]
    LockHeld(LockRefusal),
    /// Nothing is held about this subject in the client's tenant (never consented there, or
    /// erased).
    #[error("nothing is held about this subject")]
    SubjectNotFound,
    /// No tenant with this id exists.
    #[error("no tenant with this id exists; GET /v1/tenants lists them")]
    TenantNotFound,
    /// The client holds no grant at all on this purpose.
    #[error("this client holds no grant for this purpose")]
    NoGrantForPurpose,
    /// The subject has no live consent for the purpose.
    #[error(
        "the subject has not consented to this purpose (or withdrew); record consent first, \
         or offer the non-biometric alternative"
    )]
    ConsentRequired,
    /// Consent was asked for under a notice that is no longer the current one.
    #[error(
        "this notice is no longer current; show the person the current notice ({0}) and \
         record consent to it"
    )]
    NoticeOutdated(String),
    /// The purpose's notice changed materially and the deadline for consenting again has
    /// passed (or, for enrolment, consent under the new notice is needed first).
    #[error(
        "the purpose's notice changed; the person must consent to the current notice \
         before biometrics are used again; offer the non-biometric alternative meanwhile"
    )]
    ReconsentRequired,
    /// A capture was refused: the reason code says why.
    #[error("the capture was refused ({0}); take a new capture with a fresh challenge")]
    CaptureRefused(&'static str),
    /// Too many failed verifications for this subject and purpose: locked for a while.
    #[error(
        "too many failed attempts for this subject; biometrics are paused for {0} s: offer \
         the non-biometric alternative"
    )]
    AttemptsExceeded(u64),
    /// The client made more requests than its rate limit allows; retry after the seconds given.
    #[error("too many requests from this client; retry in {0} s")]
    RateLimited(u64),
    /// A risk group is registered: this change needs a proposal and a quorum of signatures.
    #[error(
        "this change needs the risk group's approval: make a proposal (POST /v1/proposals) \
         and collect the quorum of signatures"
    )]
    QuorumRequired,
    /// The portal link is malformed, unknown, for an erased subject, or expired.
    #[error(
        "this portal link is not valid: it may have expired (links last minutes) or been \
         mistyped; ask the service you use for a new one"
    )]
    PortalLinkInvalid,
    /// The fairness gate refused a matcher configuration.
    #[error(
        "the fairness gate refused this threshold: {reasons}. Submit a fairness report that \
         meets the purpose's policy, or have the risk group override the gate (POST \
         /v1/proposals with a fairness.override action{})",
        report.as_ref().map(|r| format!(" naming report_sha256 {r}")).unwrap_or_default()
    )]
    FairnessGate {
        /// Why, in one line.
        reasons: String,
        /// The SHA-256 of the report refused, if one was given.
        report: Option<String>,
    },
    /// Proposals need a registered risk group.
    #[error("no risk group is registered; register one first (POST /v1/governance/group)")]
    NoRiskGroup,
    /// The client is suspended (by an incident or the abuse detector).
    #[error("this client is suspended; its operator must contact the service's operator")]
    ClientSuspended,
    /// No decision with this id was made by this service.
    #[error("no decision with this id was recorded")]
    DecisionNotFound,
    /// No such claim.
    #[error("no such claim")]
    ClaimNotFound,
    /// The reserve cannot pay this claim; top it up first.
    #[error("the compensation reserve holds too little in this currency; top it up first")]
    ReserveInsufficient,
    /// No such incident.
    #[error("no such incident")]
    IncidentNotFound,
    /// No such client.
    #[error("no such client")]
    ClientNotFound,
    /// No such webhook endpoint or message.
    #[error("no such webhook endpoint or message")]
    WebhookNotFound,
    /// No such proposal.
    #[error("no such proposal")]
    ProposalNotFound,
    /// The proposal is no longer open.
    #[error("the proposal is {0}, no longer open for approvals")]
    ProposalClosed(String),
    /// The proposal expired before its quorum.
    #[error("the proposal expired before it reached its quorum; make a new one")]
    ProposalExpired,
    /// The signer is not a member of the risk group.
    #[error("not a member of the risk group")]
    NotAMember,
    /// A passkey's signature counter did not move forward.
    #[error(
        "this passkey's signature counter did not move forward: a replayed assertion or a \
         cloned key; approve again with the key itself"
    )]
    PasskeyReplayed,
    /// Keys are still wrapped under the key version to destroy.
    #[error(
        "{0} keys are still wrapped under this key version; run `bioguard keys rotate --resume` \
         first"
    )]
    KeyVersionInUse(u64),
    /// The subject has locked the use of their biometrics.
    #[error(
        "the subject has locked the use of their biometrics; offer the non-biometric \
         alternative"
    )]
    Locked,
    /// No template is enrolled for the subject and purpose.
    #[error("no template is enrolled for this subject and purpose")]
    NotEnrolled,
    /// The template was made under a protection key that has since been rotated: it can no
    /// longer match and the subject must enrol again.
    #[error("the template was made under a revoked protection key; enrol the subject again")]
    ReenrolmentRequired,
    /// The purpose does not allow this operation.
    #[error("this purpose does not allow `{0}`")]
    OperationNotAllowed(Operation),
    /// Enrolling would take a gallery past the purpose's maximum size.
    #[error("gallery `{0}` has reached the purpose's maximum size")]
    GalleryFull(String),
    /// The gallery is larger than the purpose allows 1:N search over.
    #[error(
        "gallery `{gallery}` holds {size} templates, more than this purpose's maximum of {max}"
    )]
    GalleryTooLarge {
        /// The gallery.
        gallery: String,
        /// Its size.
        size: usize,
        /// The purpose's maximum.
        max: u32,
    },
    /// There is no live consent to withdraw.
    #[error("there is no live consent for this subject and purpose")]
    ConsentNotFound,
    /// The resource exists already.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// A stored ciphertext or wrapped key failed authentication: it was altered or moved.
    /// This is an integrity failure of the stored data, never a non-match.
    #[error("stored template data failed its integrity check; the operator has been alerted")]
    Integrity,
    /// The database or key manager is unavailable; retry later.
    #[error("{0}")]
    Unavailable(String),
    /// The database's storage is full: nothing was changed. Public reads still work; uses (a
    /// client's look at a subject included) are refused too, since every use must be recorded.
    #[error(
        "the service's database disk is full, so nothing was changed; uses are refused too, \
         since each must be recorded. The operator must free space; then retry"
    )]
    StorageFull,
    /// Anything else; the detail goes to the log, not to the caller.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => ServiceError::Conflict(what),
            StoreError::NoConsent => ServiceError::ConsentRequired,
            StoreError::Locked => ServiceError::Locked,
            StoreError::GalleryFull(g) => ServiceError::GalleryFull(g.to_string()),
            StoreError::StorageFull(why) => {
                tracing::error!(error = %why, "the database's storage is full");
                ServiceError::StorageFull
            }
            e if e.is_unavailable() => {
                ServiceError::Unavailable("the database is unavailable; retry shortly".into())
            }
            e => ServiceError::Internal(e.to_string()),
        }
    }
}

impl From<KeyError> for ServiceError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Crypto(CryptoError::Integrity | CryptoError::Truncated) => {
                ServiceError::Integrity
            }
            KeyError::Unavailable(_) | KeyError::UnknownKek { .. } => {
                tracing::error!(error = %e, "key provider cannot serve the request");
                ServiceError::Unavailable("the key manager is unavailable; retry shortly".into())
            }
            e => ServiceError::Internal(e.to_string()),
        }
    }
}

impl From<CryptoError> for ServiceError {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::Integrity | CryptoError::Truncated => ServiceError::Integrity,
            e => ServiceError::Internal(e.to_string()),
        }
    }
}
