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

    /// Opens the unopened, unexpired link with digest `link`: records `now` and the digest of
    /// the session it starts, and returns the link; `None` if it is unknown, expired or was
    /// opened before (links are single-use).
    async fn open_portal_link(
        &self,
        link: &str,
        session: &str,
        now: Timestamp,
    ) -> Result<Option<PortalLink>, StoreError>;

    /// The opened link whose session has this digest.
    async fn portal_session(&self, session: &str) -> Result<Option<PortalLink>, StoreError>;
}
