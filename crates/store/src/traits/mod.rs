//! The store's narrow traits, one per concern. A use case asks for the traits it needs and
//! nothing more; [`crate::Store`] is all of them, for the code that wires the service.

mod claims;
mod clients;
mod consents;
mod database;
mod devices;
mod fairness;
mod galleries;
mod governance;
mod incidents;
mod keys;
mod ledger;
mod limits;
mod portal;
mod purposes;
mod retention;
mod tenants;
mod verification;
mod webhooks;

pub use claims::ClaimStore;
pub use clients::ClientStore;
pub use consents::ConsentStore;
pub use database::{Backend, Database};
pub use devices::DeviceStore;
pub use fairness::FairnessStore;
pub use galleries::GalleryStore;
pub use governance::GovernanceStore;
pub use incidents::IncidentStore;
pub use keys::KeyStore;
pub use ledger::LedgerStore;
pub use limits::LimitStore;
pub use portal::PortalStore;
pub use purposes::PurposeStore;
pub use retention::RetentionStore;
pub use tenants::TenantStore;
pub use verification::VerificationStore;
pub use webhooks::{ReplayTarget, WebhookStore};
