use async_trait::async_trait;
use bioguard_core::{ClientId, Pseudonym, Timestamp};

use crate::error::StoreError;
use crate::records::{LeafDraft, PortalLink};

/// Links to the person's own portal.
#[async_trait]
pub trait PortalStore: Send + Sync {
    /// Stores a portal link (by its token's digest) for a subject, appending the leaf, and
    /// drops links that expired before `now`.
    async fn create_portal_link(
        &self,
        digest: &str,
        subject: &Pseudonym,
        client: &ClientId,
        now: Timestamp,
        expires_at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError>;

    /// The portal link with this digest.
    async fn portal_link(&self, digest: &str) -> Result<Option<PortalLink>, StoreError>;
}
