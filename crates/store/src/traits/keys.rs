use async_trait::async_trait;
use bioguard_core::{KekUsage, Timestamp};

use crate::error::StoreError;
use crate::records::{SealedKey, WrappedRow};

/// Wrapped keys: the service's own secrets, and every wrapped key for rotation.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// A wrapped service secret by name.
    async fn system_secret(&self, name: &str) -> Result<Option<SealedKey>, StoreError>;

    /// Stores a wrapped service secret unless one with that name exists (another node may have
    /// made it first); returns whether this one was stored.
    async fn insert_system_secret(
        &self,
        name: &str,
        key: &SealedKey,
        at: Timestamp,
    ) -> Result<bool, StoreError>;

    /// How many wrapped keys (data keys, protection keys, service secrets) each key-encryption
    /// key reference wraps, by reference.
    async fn kek_usage(&self) -> Result<Vec<KekUsage>, StoreError>;

    /// Wrapped keys whose key-encryption key is not `current`, at most `limit`: service
    /// secrets, then protection keys, then data keys in id order.
    async fn wrapped_not_on(
        &self,
        current: &str,
        limit: u32,
    ) -> Result<Vec<WrappedRow>, StoreError>;

    /// Replaces a wrapped key with `new` if it is still `row` (compare and swap); returns
    /// whether it was replaced. No audit leaf: the rotation as a whole is recorded.
    async fn replace_wrap(&self, row: &WrappedRow, new: &SealedKey) -> Result<bool, StoreError>;
}
