//! The [`Service`]: one handle that wires the rooms together for the server and the CLI.
//!
//! It holds the store as one handle per narrow trait ([`Stores`]): each room reaches storage
//! only through the handles of the concerns it works on, so "what does consent touch?" is
//! answered by reading which handles `privacy/consent.rs` uses. It also holds the key
//! provider, the service's own secrets, and the in-memory state every node rebuilds from the
//! database (protection transforms, galleries, the ledger's hashes, rate limits, lockouts,
//! detectors).

use std::sync::Arc;

use bioguard_core::Timestamp;
use bioguard_crypto::KeyProvider;
use bioguard_store::{
    Backend, ClaimStore, ClientStore, ConsentStore, Database, DeviceStore, FairnessStore,
    GalleryStore, GovernanceStore, IncidentStore, KeyStore, LeafDraft, LedgerStore, LimitStore,
    PortalStore, PurposeStore, RetentionStore, Store, TenantStore, VerificationStore, WebhookStore,
};

use crate::abuse::auth_failures::AuthFailures;
use crate::abuse::galleries::Galleries;
use crate::abuse::lockouts::Lockouts;
use crate::abuse::ratelimit::PORTAL_REQUESTS_PER_SEC;
use crate::abuse::ratelimit::{Leases, RateLimits};
use crate::clock::Clock;
use crate::error::ServiceError;
use crate::security::protection::ProtectionCache;
use crate::security::secrets::Secrets;
use crate::supervision::detector::Detector;
use crate::supervision::ledger_cache::LedgerCache;
use crate::supervision::report::ReportCache;

/// The store, one handle per concern (all the same database).
#[derive(Clone)]
pub(crate) struct Stores {
    pub(crate) database: Arc<dyn Database>,
    pub(crate) purposes: Arc<dyn PurposeStore>,
    pub(crate) clients: Arc<dyn ClientStore>,
    pub(crate) devices: Arc<dyn DeviceStore>,
    pub(crate) consents: Arc<dyn ConsentStore>,
    pub(crate) verification: Arc<dyn VerificationStore>,
    pub(crate) galleries: Arc<dyn GalleryStore>,
    pub(crate) ledger: Arc<dyn LedgerStore>,
    pub(crate) governance: Arc<dyn GovernanceStore>,
    pub(crate) claims: Arc<dyn ClaimStore>,
    pub(crate) incidents: Arc<dyn IncidentStore>,
    pub(crate) portal: Arc<dyn PortalStore>,
    pub(crate) fairness: Arc<dyn FairnessStore>,
    pub(crate) keys: Arc<dyn KeyStore>,
    pub(crate) retention: Arc<dyn RetentionStore>,
    pub(crate) tenants: Arc<dyn TenantStore>,
    pub(crate) limits: Arc<dyn LimitStore>,
    pub(crate) webhooks: Arc<dyn WebhookStore>,
}

impl Stores {
    fn of(store: Arc<dyn Store>) -> Self {
        Self {
            database: store.clone(),
            purposes: store.clone(),
            clients: store.clone(),
            devices: store.clone(),
            consents: store.clone(),
            verification: store.clone(),
            galleries: store.clone(),
            ledger: store.clone(),
            governance: store.clone(),
            claims: store.clone(),
            incidents: store.clone(),
            portal: store.clone(),
            fairness: store.clone(),
            keys: store.clone(),
            retention: store.clone(),
            limits: store.clone(),
            webhooks: store.clone(),
            tenants: store,
        }
    }
}

/// The bioguard service: storage, keys, the service's own secrets, and the in-memory
/// protection transforms and galleries (caches that any node rebuilds from the database).
#[derive(Clone)]
pub struct Service {
    pub(crate) db: Stores,
    pub(crate) keys: Arc<dyn KeyProvider>,
    pub(crate) secrets: Arc<Secrets>,
    pub(crate) protection: Arc<ProtectionCache>,
    pub(crate) galleries: Arc<Galleries>,
    /// How far this node has followed the ledger into its galleries; the lock serialises
    /// catching up.
    pub(crate) gallery_sync: Arc<tokio::sync::Mutex<u64>>,
    pub(crate) ledger: Arc<LedgerCache>,
    pub(crate) auth_failures: Arc<AuthFailures>,
    pub(crate) clock: Arc<Clock>,
    pub(crate) limits: Arc<RateLimits>,
    pub(crate) portal_limits: Arc<RateLimits<String>>,
    pub(crate) lockouts: Arc<Lockouts>,
    pub(crate) detector: Arc<Detector>,
    pub(crate) reports: Arc<ReportCache>,
    pub(crate) leases: Arc<Leases>,
    /// When the key provider last wrapped and unwrapped a probe key (readiness).
    pub(crate) keys_ready_at: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
    /// Who runs the service, if configured: named on every page and in default notices.
    pub(crate) operator: Option<Arc<bioguard_core::Operator>>,
    /// Who passkeys are for: the deployment's public origin, if configured.
    pub(crate) relying_party: Option<Arc<bioguard_ledger::webauthn::RelyingParty>>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("backend", &self.db.database.backend())
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
        let db = Stores::of(store);
        let secrets = Secrets::load_or_create(db.keys.as_ref(), keys.as_ref()).await?;
        let service = Self {
            db,
            keys,
            secrets: Arc::new(secrets),
            protection: Arc::default(),
            galleries: Arc::default(),
            gallery_sync: Arc::default(),
            ledger: Arc::default(),
            auth_failures: Arc::default(),
            clock: Arc::default(),
            limits: Arc::default(),
            portal_limits: Arc::new(RateLimits::at(PORTAL_REQUESTS_PER_SEC)),
            lockouts: Arc::default(),
            detector: Arc::default(),
            reports: Arc::default(),
            leases: Arc::default(),
            keys_ready_at: Arc::default(),
            operator: None,
            relying_party: None,
        };
        service.load_galleries().await?;
        Ok(service)
    }

    /// Names the operator: on every public page, and as the controller (with its
    /// jurisdiction) of the default tenant's purposes created without a notice.
    pub fn with_operator(mut self, operator: Option<bioguard_core::Operator>) -> Self {
        self.operator = operator.map(Arc::new);
        self
    }

    /// Binds passkeys to the deployment's public origin (its host is the relying party id).
    pub fn with_relying_party(
        mut self,
        rp: Option<bioguard_ledger::webauthn::RelyingParty>,
    ) -> Self {
        self.relying_party = rp.map(Arc::new);
        self
    }

    /// The relying party passkeys are bound to, if configured.
    pub fn relying_party(&self) -> Option<&bioguard_ledger::webauthn::RelyingParty> {
        self.relying_party.as_deref()
    }

    /// The operator, if configured.
    pub fn operator(&self) -> Option<&bioguard_core::Operator> {
        self.operator.as_deref()
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
        Ok(self.db.database.ping().await?)
    }

    /// Checks that the service can do its work: the database answers, and the key provider
    /// wraps and unwraps a throwaway key under its current version (a success is trusted for
    /// a second, so that frequent probes do not load an HSM or OpenBao). Names the part that
    /// is down.
    pub async fn ready(&self) -> Result<(), ServiceError> {
        const FRESH: std::time::Duration = std::time::Duration::from_secs(1);
        self.ping().await.map_err(|e| match e {
            ServiceError::Unavailable(_) => {
                ServiceError::Unavailable("the database is unavailable".into())
            }
            other => other,
        })?;
        let recent = self
            .keys_ready_at
            .lock()
            .map(|at| at.is_some_and(|t| t.elapsed() < FRESH))
            .unwrap_or(false);
        if recent {
            return Ok(());
        }
        let down = |e: bioguard_crypto::KeyError| {
            tracing::warn!(error = %e, provider = self.keys.kind(), "readiness: key provider check failed");
            ServiceError::Unavailable(format!(
                "the key provider ({}) is unavailable",
                self.keys.kind()
            ))
        };
        let probe = bioguard_crypto::Key256::random()?;
        let aad = bioguard_crypto::Aad::new("bioguard-readiness-probe");
        let wrapped = self.keys.wrap(&probe, &aad).await.map_err(down)?;
        let back = self.keys.unwrap(&wrapped, &aad).await.map_err(down)?;
        if back.expose() != probe.expose() {
            return Err(ServiceError::Integrity);
        }
        if let Ok(mut at) = self.keys_ready_at.lock() {
            *at = Some(std::time::Instant::now());
        }
        Ok(())
    }

    /// The key provider's kind (`local`, `pkcs11`, `openbao`).
    pub fn key_provider(&self) -> &'static str {
        self.keys.kind()
    }

    /// Which database the service runs on.
    pub fn backend(&self) -> Backend {
        self.db.database.backend()
    }

    /// The clock every rule and record of this service uses.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The current time on the service's clock.
    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// An audit leaf draft for `op` by `actor`, stamped now and with the current request id.
    pub(crate) fn leaf(&self, op: &'static str, actor: impl Into<String>) -> LeafDraft {
        LeafDraft {
            time: self.now(),
            op,
            actor: actor.into(),
            subject: None,
            mentions: Vec::new(),
            purpose: None,
            decision: None,
            request: REQUEST_ID.try_with(|id| id.clone()).ok(),
            detail: Vec::new(),
            outbox: Vec::new(),
        }
    }
}

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Runs `f` with `id` as the request id recorded in the audit leaves it writes.
pub async fn with_request_id<F: std::future::Future>(id: String, f: F) -> F::Output {
    REQUEST_ID.scope(id, f).await
}
