//! The use cases of bioguard, wired over storage, cryptography and matching.
//!
//! Each request from the HTTP layer becomes one call here, and every rule the product
//! promises is checked here, in one place, before any template is touched:
//! - who is calling: [`Service::authenticate_client`] and [`Service::authenticate_admin`]
//!   return proof values that the other calls require;
//! - whether the caller holds a grant for the purpose and operation;
//! - whether the purpose exists and allows the operation;
//! - whether the subject has a live consent: only a `ConsentChecked` value, which only the
//!   consent check constructs, lets a template be decrypted.
//!
//! Relying-party subject identifiers become keyed pseudonyms as they enter and are never kept.

mod audit;
mod auth;
mod claims;
mod documents;
mod error;
mod fairness;
mod galleries;
mod governance;
mod identify;
mod incidents;
mod notices;
mod portal;
mod protection;
mod ratelimit;
mod retention;
mod risk;
mod rotation;
mod secrets;
mod templates;
mod transparency;
mod usecases;

use std::sync::Arc;

use bioguard_crypto::KeyProvider;
use bioguard_store::Store;

pub use audit::{MAX_LEAVES_PER_CALL, Proof};
pub use auth::{Admin, AuthenticatedClient};
pub use claims::{CLAIM_DECISION_SECS, Reviewer};
pub use documents::{CERTIFICATE_TYPE, RECEIPT_TYPE};
pub use error::ServiceError;
pub use fairness::{Activation, MAX_REPORT_BYTES, REPORT_FORMAT, Verdict, check_report};
pub use governance::{ApprovalOutcome, MAX_MEMBERS, Member, RiskGroup};
pub use identify::{Identification, IdentifyRequest, MAX_BATCH, MAX_CANDIDATES};
pub use incidents::{IncidentAction, NOTIFY_WITHIN_SECS, Notifications};
pub use notices::{NoticeDraft, notice_json};
pub use portal::{PORTAL_LINK_MAX_SECS, PORTAL_LINK_SECS, PORTAL_REQUESTS_PER_SEC, PortalSession};
pub use retention::SweepReport;
pub use risk::{CHALLENGE_SECS, Capture, Risk, capture_message};
pub use rotation::RotationReport;
pub use secrets::Secrets;
pub use transparency::{escape_html, transparency_html};
pub use usecases::{ClientCreated, Decision, Enrolment, KeyRotation};

/// The bioguard service: storage, keys, the service's own secrets, and the in-memory
/// protection transforms and galleries (caches that any node rebuilds from the database).
#[derive(Clone)]
pub struct Service {
    store: Arc<dyn Store>,
    keys: Arc<dyn KeyProvider>,
    secrets: Arc<Secrets>,
    protection: Arc<protection::ProtectionCache>,
    galleries: Arc<galleries::Galleries>,
    /// How far this node has followed the ledger into its galleries; the lock serialises
    /// catching up.
    gallery_sync: Arc<tokio::sync::Mutex<u64>>,
    ledger: Arc<audit::LedgerCache>,
    auth_failures: Arc<auth::AuthFailures>,
    clock: Arc<Clock>,
    limits: Arc<ratelimit::RateLimits>,
    portal_limits: Arc<ratelimit::RateLimits<String>>,
    lockouts: Arc<risk::Lockouts>,
    detector: Arc<incidents::Detector>,
}

/// The service's clock: the system clock plus an offset. Only tests move the offset, to see
/// retention limits and deadlines pass without waiting for them.
#[derive(Debug, Default)]
pub struct Clock {
    offset_secs: std::sync::atomic::AtomicI64,
}

impl Clock {
    /// The current time.
    pub fn now(&self) -> bioguard_core::Timestamp {
        let offset = self.offset_secs.load(std::sync::atomic::Ordering::Relaxed);
        bioguard_core::Timestamp::from_unix(system_now().saturating_add(offset))
    }

    /// Moves this clock forward by `secs` seconds.
    pub fn advance(&self, secs: i64) {
        self.offset_secs
            .fetch_add(secs, std::sync::atomic::Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("backend", &self.store.backend())
            .field("key_provider", &self.keys.kind())
            .field("kernel", &bioguard_engine::Kernel::best().name())
            .finish_non_exhaustive()
    }
}

impl Service {
    /// Builds the service: loads (or, on first start, creates) the service secrets that live
    /// in the database wrapped by the key provider, then fills the in-memory galleries by
    /// decrypting every gallery template.
    pub async fn open(
        store: Arc<dyn Store>,
        keys: Arc<dyn KeyProvider>,
    ) -> Result<Self, ServiceError> {
        let secrets = Secrets::load_or_create(store.as_ref(), keys.as_ref()).await?;
        let service = Self {
            store,
            keys,
            secrets: Arc::new(secrets),
            protection: Arc::default(),
            galleries: Arc::default(),
            gallery_sync: Arc::default(),
            ledger: Arc::default(),
            auth_failures: Arc::default(),
            clock: Arc::default(),
            limits: Arc::default(),
            portal_limits: Arc::new(ratelimit::RateLimits::at(PORTAL_REQUESTS_PER_SEC)),
            lockouts: Arc::default(),
            detector: Arc::default(),
        };
        service.load_galleries().await?;
        Ok(service)
    }

    /// Limits each API client to `per_second` requests per second on this node, with a burst
    /// of twice that (0: no limit, the default).
    pub fn with_client_rate_limit(self, per_second: u32) -> Self {
        self.limits.set(per_second);
        self
    }

    /// Sets how many threads a 1:N scan may use (default: all cores).
    pub fn with_scan_threads(self, threads: usize) -> Self {
        self.galleries.set_threads(threads);
        self
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), ServiceError> {
        Ok(self.store.ping().await?)
    }

    /// The clock every rule and record of this service uses.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The current time on the service's clock.
    pub(crate) fn now(&self) -> bioguard_core::Timestamp {
        self.clock.now()
    }

    /// An audit leaf draft for `op` by `actor`, stamped now and with the current request id.
    pub(crate) fn leaf(
        &self,
        op: &'static str,
        actor: impl Into<String>,
    ) -> bioguard_store::LeafDraft {
        bioguard_store::LeafDraft {
            time: self.now(),
            op,
            actor: actor.into(),
            subject: None,
            mentions: Vec::new(),
            purpose: None,
            decision: None,
            request: REQUEST_ID.try_with(|id| id.clone()).ok(),
            detail: Vec::new(),
        }
    }

    /// The store, for administration commands.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
}

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Runs `f` with `id` as the request id recorded in the audit leaves it writes.
pub async fn with_request_id<F: std::future::Future>(id: String, f: F) -> F::Output {
    REQUEST_ID.scope(id, f).await
}

/// The system clock in Unix seconds.
fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The system time, for the few records made before a service (and its clock) exists.
pub(crate) fn now() -> bioguard_core::Timestamp {
    bioguard_core::Timestamp::from_unix(system_now())
}

pub(crate) fn random16() -> Result<[u8; 16], ServiceError> {
    bioguard_crypto::random_array::<16>().map_err(|e| ServiceError::Internal(e.to_string()))
}
