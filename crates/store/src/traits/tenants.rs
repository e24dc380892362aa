use async_trait::async_trait;
use bioguard_core::{Pseudonym, TenantId, TenantRecord, Timestamp};

use crate::error::StoreError;
use crate::records::LeafDraft;

/// Tenants, and the per-subject half of each subject's ledger key: whose people are whose,
/// and what ties a person to their public leaves.
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Creates a tenant. [`StoreError::Conflict`] if the id is taken.
    async fn create_tenant(
        &self,
        tenant: &TenantRecord,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError>;

    /// Every tenant, by id.
    async fn tenants(&self) -> Result<Vec<TenantRecord>, StoreError>;

    /// One tenant.
    async fn tenant(&self, id: &TenantId) -> Result<Option<TenantRecord>, StoreError>;

    /// The subject's ledger salt, storing `fresh` (and the subject's row, if it has none) when
    /// it has none yet.
    async fn ledger_salt(
        &self,
        subject: &Pseudonym,
        fresh: [u8; 32],
        at: Timestamp,
    ) -> Result<[u8; 32], StoreError>;

    /// The ledger salts of those of `subjects` that have one.
    async fn ledger_salts(
        &self,
        subjects: &[Pseudonym],
    ) -> Result<Vec<(Pseudonym, [u8; 32])>, StoreError>;
}
