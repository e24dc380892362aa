//! Webhook endpoints and their delivery log.

use bioguard_service::{MessageState, WebhookEndpoint};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::dto::rfc3339;

/// Registers an endpoint for a client's events.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    /// Where to post: `https://...` (plain `http://` only to a loopback host).
    pub url: String,
    /// The event types to receive; all of them when left out.
    #[schema(value_type = Option<Vec<crate::dto::enums::WebhookEvent>>)]
    #[serde(default)]
    pub events: Option<Vec<String>>,
}

/// A webhook endpoint (never its secret, except once at registration).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookBody {
    /// The endpoint's id.
    pub id: String,
    /// The client whose events it receives.
    pub client: String,
    /// Where messages are posted.
    pub url: String,
    /// The event types it receives.
    #[schema(value_type = Vec<crate::dto::enums::WebhookEvent>)]
    pub events: Vec<String>,
    /// When it was registered (RFC 3339).
    pub created_at: String,
    /// When it was disabled, if it was.
    pub disabled_at: Option<String>,
}

impl From<&WebhookEndpoint> for WebhookBody {
    fn from(e: &WebhookEndpoint) -> Self {
        Self {
            id: e.id.clone(),
            client: e.client.to_string(),
            url: e.url.clone(),
            events: e.events.iter().cloned().collect(),
            created_at: rfc3339(e.created_at),
            disabled_at: e.disabled_at.map(rfc3339),
        }
    }
}

/// An endpoint just registered, with its signing secret: shown in this response only.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookCreatedBody {
    /// The endpoint.
    #[serde(flatten)]
    pub endpoint: WebhookBody,
    /// `whsec_` and base64: the key of the `webhook-signature` HMAC-SHA256 (Standard
    /// Webhooks). Keep it with the receiver.
    pub secret: String,
}

/// A client's endpoints.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhooksBody {
    /// Oldest first, disabled ones included.
    pub webhooks: Vec<WebhookBody>,
}

/// One message in the delivery log (never its payload).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookMessageBody {
    /// The message id, sent as `webhook-id` on every attempt.
    pub id: String,
    /// The event type.
    #[schema(value_type = crate::dto::enums::WebhookEvent)]
    pub event: String,
    /// `pending`, `delivered` or `failed` (given up after the last retry).
    #[schema(value_type = crate::dto::enums::DeliveryState)]
    pub state: &'static str,
    /// When the change that owes it was made.
    pub created_at: String,
    /// Attempts made.
    pub attempts: u32,
    /// When the next attempt is due, if one is.
    pub next_attempt_at: Option<String>,
    /// When it was delivered.
    pub delivered_at: Option<String>,
    /// The last attempt's HTTP status, if the receiver answered.
    pub last_status: Option<u16>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
}

impl From<&MessageState> for WebhookMessageBody {
    fn from(m: &MessageState) -> Self {
        Self {
            id: m.id.clone(),
            event: m.event.clone(),
            state: if m.delivered_at.is_some() && m.next_attempt_at.is_none() {
                "delivered"
            } else if m.failed_at.is_some() {
                "failed"
            } else {
                "pending"
            },
            created_at: rfc3339(m.created_at),
            attempts: m.attempts,
            next_attempt_at: m.next_attempt_at.map(rfc3339),
            delivered_at: m.delivered_at.map(rfc3339),
            last_status: m.last_status,
            last_error: m.last_error.clone(),
        }
    }
}

/// An endpoint's delivery log.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookMessagesBody {
    /// Newest first.
    pub messages: Vec<WebhookMessageBody>,
}

/// Which messages to send again: one by id, or every one since a time.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// One message's id.
    #[serde(default)]
    pub message: Option<String>,
    /// Every message to the endpoint created at or after this time (RFC 3339).
    #[serde(default)]
    pub since: Option<String>,
}

/// How many messages were queued again.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayBody {
    /// Messages queued.
    pub queued: u64,
}
