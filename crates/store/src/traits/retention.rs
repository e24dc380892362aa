use async_trait::async_trait;
use bioguard_core::{TemplateId, Timestamp};

use crate::error::StoreError;
use crate::records::{ExpiredTemplate, LeafDraft};

/// The retention schedule, enforced.
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Templates past a retention limit of their purpose at `at`, in template-id order after
    /// `after`, at most `limit`.
    async fn expired_templates(
        &self,
        at: Timestamp,
        after: Option<&TemplateId>,
        limit: u32,
    ) -> Result<Vec<ExpiredTemplate>, StoreError>;

    /// How many templates are past a retention limit at `at`.
    async fn expired_count(&self, at: Timestamp) -> Result<u64, StoreError>;

    /// Deletes one template if it is still past a retention limit at `at`, with its gallery
    /// memberships and its data key (crypto-shredding), and appends `leaf` completed with
    /// the subject, purpose and reason, in one transaction. `None` if it is gone or no longer
    /// expired (used or replaced meanwhile).
    async fn delete_expired(
        &self,
        template: &TemplateId,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<Option<ExpiredTemplate>, StoreError>;
}
