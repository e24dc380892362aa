//! Domain types and records for bioguard: purposes, subjects, clients, consents, embeddings,
//! decisions, claims, incidents, proposals and fairness reports.
//!
//! This crate does no I/O and holds no async code. Every value that comes from outside the
//! service (a request body, a path segment, a configuration file) is parsed into one of these
//! types before anything else happens, so the layers above only ever handle checked values
//! ("parse, don't validate"). A parse failure is a [`ValidationError`] that names the field and
//! says what is allowed. Records that have a life (a consent, a claim, a proposal) carry their
//! state as an enum, and the rules that move them are functions here, tested here.

mod claim;
mod client;
mod consent;
mod decision;
mod embedding;
mod error;
mod fairness;
mod governance;
mod ids;
mod incident;
mod ledger;
mod matcher;
mod notice;
mod purpose;
mod purpose_spec;
mod retention;
mod subject;
mod tenant;
mod time;

pub use claim::{Claim, ClaimDecided, ClaimStatus, Money};
pub use client::{ClientDefinition, ClientName, ClientRecord, Grant};
pub use consent::{
    ConsentEnded, ConsentMethod, ConsentRecord, ConsentState, EndReason, GrantStep, NewConsent,
    NoticeVersion, version_number,
};
pub use decision::{Decision, Outcome, Risk, RiskBand};
pub use embedding::{Dimension, Embedding, MAX_DIMENSION, MIN_DIMENSION};
pub use error::ValidationError;
pub use fairness::{
    DifferentialIntervals, Differentials, EerReport, FairnessReport, FairnessState, FairnessStatus,
    GroupReport, MatcherForm, MatcherInfo, Num, REPORT_FORMAT, RateReport, ReportInput,
    ScoreSummary, finite,
};
pub use governance::b64url_bytes as b64url_serde;
pub use governance::{
    Action, ActionSpec, Approval, Closed, GrantSpec, GroupSpec, MAX_MEMBERS, MAX_PASSKEYS,
    MAX_PROPOSAL_SECS, MIN_PROPOSAL_SECS, Member, MemberSpec, Passkey, PasskeyAssertion,
    PasskeySpec, Proof, Proposal, ProposalPayload, ProposalStatus, RiskGroup, Tally, b64url,
    b64url_encode, tally,
};
pub use ids::{
    ChallengeId, ClaimId, ClientId, ConsentId, DataKeyId, DecisionId, DeviceId, GalleryName,
    IncidentId, ProposalId, Pseudonym, PurposeId, PurposeName, ReviewerId, SubjectRef, TemplateId,
};
pub use incident::{
    Incident, IncidentAction, IncidentEvent, MAX_NOTE_BYTES, Notification, NotificationCounts,
    NotificationState, Opener,
};
pub use ledger::{Balance, KekUsage, KeptCheckpoint, LedgerEntry};
pub use matcher::{Centre, MIN_CENTRE_SUBJECTS, Matcher, Transform};
pub use notice::{Notice, NoticeDraft, NoticeFloor, Operator, is_placeholder};
pub use purpose::{
    CodeBits, DEFAULT_THRESHOLD, Description, FairnessPolicy, MAX_GALLERY_SIZE, MatcherSummary,
    Operation, Purpose, PurposeRecord, Retention, RiskPolicy, Threshold,
};
pub use purpose_spec::{
    FairnessPolicySpec, JsonText, MAX_CALIBRATION_BYTES, NoticeSpec, PurposeDefinition,
    PurposeSpec, RetentionSpec, RiskSpec,
};
pub use retention::{ExpiryReason, deadline as retention_deadline};
pub use subject::{LockRefusal, LockState, LockStep, Locker, SubjectSummary, TemplateInfo};
pub use tenant::{SubjectRight, TenantId, TenantName, TenantRecord};
pub use time::{Timestamp, rfc3339};
