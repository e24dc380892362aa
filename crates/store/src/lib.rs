//! Storage for bioguard: narrow traits, one per concern, and one SQL implementation of them
//! all that runs unchanged on SQLite (the embedded default) and PostgreSQL (the scale-out
//! store).
//!
//! The traits speak in domain types and in sealed bytes; they never see a biometric value or
//! a key in clear. Operations that must happen together (withdrawing consent and destroying
//! the template and its data key; checking consent and storing a template) are single
//! methods that run in one transaction, so no caller can split them, and every change is
//! written with its audit leaf in that transaction. Rows that do not parse back into domain
//! types are reported as [`StoreError::Corrupt`], never silently skipped.
//!
//! Where things are: `traits/<concern>.rs` says what a concern needs from storage;
//! `sql/<concern>.rs` implements it; `sql/store.rs` holds the connection pool and the one
//! helper every change goes through ("write this change with its leaf"); `sql/writer.rs`
//! commits changes in groups.

mod error;
mod records;
mod scratch;
mod sql;
#[cfg(feature = "testing")]
pub mod testing;
mod traits;

pub use error::StoreError;
pub use records::{
    AuditCounts, CandidateMaterial, ChallengeRefusal, ClaimRefusal, ConsentChange, ConsentEvidence,
    Device, DueMessage, EnrolOutcome, EraseOutcome, ExpiredTemplate, IndexRecord, KeptReport,
    LeafDraft, LeafSubject, LockoutState, MessageState, NewClient, NewTemplate, OutboxMessage,
    PortalLink, ProtectionKey, ReviewerRecord, SealedKey, Settlement, StoredDataKey,
    StoredTemplate, VerifyMaterial, WebhookEndpoint, WithdrawOutcome, WrappedRow,
};
pub use scratch::Scratch;
pub use sql::{LEDGER_CHANNEL, LedgerListener, SqlStore, WriteStats, count_rows};
pub use traits::{
    Backend, ClaimStore, ClientStore, ConsentStore, Database, DeviceStore, FairnessStore,
    GalleryStore, GovernanceStore, IncidentStore, KeyStore, LedgerStore, LimitStore, PortalStore,
    PurposeStore, ReplayTarget, RetentionStore, TenantStore, VerificationStore, WebhookStore,
};

/// Every concern's storage: what the service is wired with. Anything that implements all
/// the narrow traits is a `Store`.
pub trait Store:
    Database
    + PurposeStore
    + ClientStore
    + DeviceStore
    + ConsentStore
    + VerificationStore
    + GalleryStore
    + LedgerStore
    + LimitStore
    + GovernanceStore
    + ClaimStore
    + IncidentStore
    + PortalStore
    + FairnessStore
    + KeyStore
    + RetentionStore
    + TenantStore
    + WebhookStore
{
}

impl<T> Store for T where
    T: Database
        + PurposeStore
        + ClientStore
        + DeviceStore
        + ConsentStore
        + VerificationStore
        + GalleryStore
        + LedgerStore
        + LimitStore
        + GovernanceStore
        + ClaimStore
        + IncidentStore
        + PortalStore
        + FairnessStore
        + KeyStore
        + RetentionStore
        + TenantStore
        + WebhookStore
{
}

/// Every store trait, in scope without its name: `use bioguard_store::prelude::*;` lets code
/// that holds a whole [`Store`] (the wiring, tests) call any concern's methods.
pub mod prelude {
    pub use crate::Store as _;
    pub use crate::traits::{
        ClaimStore as _, ClientStore as _, ConsentStore as _, Database as _, DeviceStore as _,
        FairnessStore as _, GalleryStore as _, GovernanceStore as _, IncidentStore as _,
        KeyStore as _, LedgerStore as _, LimitStore as _, PortalStore as _, PurposeStore as _,
        RetentionStore as _, TenantStore as _, VerificationStore as _, WebhookStore as _,
    };
}
