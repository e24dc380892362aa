use async_trait::async_trait;
use bioguard_core::{ClientId, Pseudonym, Timestamp};

use crate::error::StoreError;
use crate::records::{DueMessage, LeafDraft, MessageState, Settlement, WebhookEndpoint};

/// Webhook endpoints, the outbox of messages to them, and the delivery log. Messages are put
/// in the outbox by the changes that owe them (see [`LeafDraft::outbox`]).
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Registers an endpoint, appending the leaf.
    async fn create_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError>;

    /// Disables an endpoint (its pending messages are no longer sent); returns whether it
    /// was live.
    async fn disable_endpoint(
        &self,
        id: &str,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<bool, StoreError>;

    /// One endpoint.
    async fn endpoint(&self, id: &str) -> Result<Option<WebhookEndpoint>, StoreError>;

    /// A client's endpoints, disabled ones included, oldest first.
    async fn endpoints_of(&self, client: &ClientId) -> Result<Vec<WebhookEndpoint>, StoreError>;

    /// Whether any client has a live endpoint (when none has, a sweep or an incident over many
    /// people skips working out whom to tell).
    async fn any_live_endpoint(&self) -> Result<bool, StoreError>;

    /// The live endpoints of these clients (those who serve the subject an event is about).
    async fn endpoints_for(&self, clients: &[ClientId])
    -> Result<Vec<WebhookEndpoint>, StoreError>;

    /// Up to `limit` messages due at `now` to live endpoints, leased to the caller until
    /// `lease_until` (another node skips them until then).
    async fn lease_due(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<DueMessage>, StoreError>;

    /// Records an attempt in the delivery log and the message's new state.
    async fn settle(&self, message: &str, outcome: &Settlement) -> Result<(), StoreError>;

    /// The newest `limit` messages to an endpoint, with their last attempt.
    async fn messages(&self, endpoint: &str, limit: usize)
    -> Result<Vec<MessageState>, StoreError>;

    /// Makes messages due again at `now` (delivered or given up ones included, with the same
    /// id): one message, or every message to an endpoint created at or after `since`.
    /// Returns how many.
    async fn replay(&self, target: &ReplayTarget, now: Timestamp) -> Result<u64, StoreError>;

    /// Deletes the messages delivered or given up before `before`, with their log; returns
    /// how many.
    async fn purge_messages(&self, before: Timestamp) -> Result<u64, StoreError>;

    /// The client's identifier for a subject, sealed, if a client has named them.
    async fn sealed_ref(&self, subject: &Pseudonym) -> Result<Option<Vec<u8>>, StoreError>;

    /// Keeps the sealed identifier of a subject that has none yet (the subject row exists).
    async fn note_sealed_ref(&self, subject: &Pseudonym, sealed: Vec<u8>)
    -> Result<(), StoreError>;
}

/// Which messages a replay makes due again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayTarget {
    /// One message, by id; with `endpoint`, only if it is that endpoint's.
    Message {
        /// The message.
        id: String,
        /// The endpoint it must belong to (`None`: any, for the operator's command).
        endpoint: Option<String>,
    },
    /// Every message to an endpoint since a time.
    Endpoint {
        /// The endpoint.
        id: String,
        /// The oldest message's creation time.
        since: Timestamp,
    },
}
