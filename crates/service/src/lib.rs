//! The use cases of bioguard, wired over storage, cryptography and matching, in one room per
//! principle of the guideline the product implements:
//!
//! - `privacy`: consent, notices, enrolment, retention, the person's rights
//!   and portal, receipts and certificates;
//! - `security`: the service's secrets, template protection and sealing, key rotation, the
//!   risk group's quorum;
//! - `abuse`: authentication and grants, purposes and clients, verification,
//!   identification and galleries, risk controls, rate limits;
//! - `supervision`: the audit ledger, incidents and detectors, claims, transparency, webhooks
//!   to relying parties;
//! - `fairness`: the fairness gate.
//!
//! Each room reaches storage only through the narrow store traits of the concerns it works on
//! (see [`Service`]), and keeps its rules as functions with unit tests beside them. Every rule
//! the product promises is checked before any template is touched: who is calling
//! ([`AuthenticatedClient`], [`Admin`]), whether the caller holds a grant for the purpose and
//! operation ([`PurposeAuthorized`]), whether the subject has a live consent (a
//! `ConsentChecked` proof, which names the subject and purpose it checked, is required to
//! open a template). Relying-party subject identifiers become keyed pseudonyms as they enter;
//! an identifier itself is kept only sealed, where a feature must give it back (a gallery's
//! search results, the client's own webhooks), and goes with the subject's erasure.

mod abuse;
mod clock;
mod error;
mod facade;
mod fairness;
mod privacy;
mod security;
mod supervision;

pub use abuse::auth::{Admin, AuthenticatedClient, PurposeAuthorized};
pub use abuse::identify::{Identification, IdentifyRequest, MAX_BATCH, MAX_CANDIDATES};
pub use abuse::purposes::{ClientCreated, KeyRotation};
pub use abuse::ratelimit::{PORTAL_REQUESTS_PER_SEC, RateLimits};
pub use abuse::risk::{CHALLENGE_SECS, Capture, capture_message};
/// The webhook records the API shows, from the store.
pub use bioguard_store::{MessageState, ReplayTarget, WebhookEndpoint};
pub use clock::Clock;
pub use error::ServiceError;
pub use facade::{Service, with_request_id};
pub use fairness::activation::Activation;
pub use fairness::gate::{MAX_REPORT_BYTES, SubmittedReport, Verdict, check_report};
pub use privacy::consent::{ConsentGiven, Withdrawal};
pub use privacy::documents::{CERTIFICATE_TYPE, Jwks, RECEIPT_TYPE};
pub use privacy::enrolment::{Enrolment, MAX_GALLERIES_PER_TEMPLATE};
pub use privacy::notices::NoticeText;
pub use privacy::portal::{PORTAL_LINK_MAX_SECS, PORTAL_LINK_SECS, PortalSession, PortalView};
pub use privacy::retention::SweepReport;
pub use privacy::rights::{
    AuditLogKey, Erasure, LedgerKeyInfo, ReportConsent, ReportNotice, ReportPurpose,
    ReportRetention, ReportTemplate, ReportUse, Rights, SubjectReport, VerifyWith,
};
pub use security::evidence::{ApprovalReport, verify_proposal_document};
pub use security::governance::{ApprovalOutcome, MAX_MEMBERS, MAX_PROPOSAL_SECS};
pub use security::rotation::{KeyStatus, RotationReport};
pub use security::secrets::Secrets;
pub use supervision::audit::{MAX_LEAVES_PER_CALL, Proof};
pub use supervision::claims::{
    CLAIM_DECISION_SECS, ClaimEvidence, EvidenceDecision, EvidenceProof, Reviewer,
};
pub use supervision::incidents::{NOTIFY_WITHIN_SECS, Notifications};
pub use supervision::report::{
    Activations, Claims, Consents, Deletions, Fairness, Incidents, LedgerSize, NotificationState,
    PurposeFairness, RiskCounts, TransparencyReport, Verifications,
};
pub use supervision::tags::{SubjectKey, TAG_PREFIX};
pub use supervision::webhooks::{
    AttemptResult, MAX_ATTEMPTS, Outgoing, SECRET_PREFIX, WEBHOOK_EVENTS, WebhookCreated,
    WebhookReader, check_events, check_url, parse_since, retry_delay,
};
