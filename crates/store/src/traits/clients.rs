use async_trait::async_trait;
use bioguard_core::{ClientId, ClientRecord, Timestamp};

use crate::error::StoreError;
use crate::records::{LeafDraft, NewClient};

/// Clients (relying parties) and the admin token: who may call.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Creates a client with its grants. [`StoreError::Conflict`] if the id or key digest is
    /// taken.
    async fn create_client(&self, client: &NewClient, leaf: &LeafDraft) -> Result<(), StoreError>;

    /// Replaces a client's API key digest; returns whether it was replaced: the client
    /// exists and, if `approved_only`, had a key issue approved by the risk group, which this
    /// uses up. Portal links the client issued stop working with its old key.
    async fn replace_client_key(
        &self,
        client: &ClientId,
        digest: &[u8; 32],
        approved_only: bool,
        leaf: &LeafDraft,
    ) -> Result<bool, StoreError>;

    /// Records that the risk group approved issuing one key for the client (not cumulative);
    /// returns whether the client exists.
    async fn approve_client_key(
        &self,
        client: &ClientId,
        leaf: &LeafDraft,
    ) -> Result<bool, StoreError>;

    /// Suspends a client (`Some(at)`) or lifts its suspension (`None`); returns whether the
    /// client exists. Suspending also revokes the portal links the client issued.
    async fn set_client_suspended(
        &self,
        client: &ClientId,
        at: Option<Timestamp>,
        leaf: &LeafDraft,
    ) -> Result<bool, StoreError>;

    /// The client whose API key has this digest, with all its grants.
    async fn client_by_key_digest(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<ClientRecord>, StoreError>;

    /// The client with this id, with all its grants.
    async fn client(&self, id: &ClientId) -> Result<Option<ClientRecord>, StoreError>;

    /// Every client with all its grants, in id order (relying parties: a few, not a
    /// population).
    async fn clients(&self) -> Result<Vec<ClientRecord>, StoreError>;

    /// Whether an admin token has been registered.
    async fn has_admin_token(&self) -> Result<bool, StoreError>;

    /// Registers the admin token digest unless one exists; returns whether it was stored.
    async fn insert_admin_token(
        &self,
        digest: &[u8; 32],
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<bool, StoreError>;

    /// Replaces the admin token: afterwards `digest` is the only one, and every earlier token
    /// is refused.
    async fn replace_admin_token(
        &self,
        digest: &[u8; 32],
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError>;

    /// Whether `digest` is a registered admin token digest.
    async fn is_admin_token(&self, digest: &[u8; 32]) -> Result<bool, StoreError>;
}
