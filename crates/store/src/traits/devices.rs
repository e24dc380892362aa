use async_trait::async_trait;
use bioguard_core::{ChallengeId, ClientId, DeviceId, PurposeId, Timestamp};

use crate::error::StoreError;
use crate::records::{ChallengeRefusal, Device, LeafDraft};

/// Capture devices and their one-time challenges.
#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Registers a capture device of a client. [`StoreError::Conflict`] if its key is taken.
    async fn register_device(
        &self,
        id: &DeviceId,
        client: &ClientId,
        name: &str,
        public_key: &[u8; 32],
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError>;

    /// Revokes a device; returns whether it existed and was not revoked yet.
    async fn revoke_device(
        &self,
        id: &DeviceId,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<bool, StoreError>;

    /// A device.
    async fn device(&self, id: &DeviceId) -> Result<Option<Device>, StoreError>;

    /// Stores a one-time capture challenge, and deletes the challenges that expired by
    /// `purge_before` (a spent or expired challenge is refused whether or not its row is
    /// kept; a kept one is refused as expired rather than unknown).
    async fn issue_challenge(
        &self,
        id: &ChallengeId,
        client: &ClientId,
        purpose: &PurposeId,
        purge_before: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Spends a challenge of this client and purpose at `at`, or says why it cannot be.
    async fn use_challenge(
        &self,
        id: &ChallengeId,
        client: &ClientId,
        purpose: &PurposeId,
        at: Timestamp,
    ) -> Result<Result<(), ChallengeRefusal>, StoreError>;
}
