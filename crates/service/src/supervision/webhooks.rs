//! Events to relying parties: signed webhooks (the Standard Webhooks convention) from a
//! durable outbox.
//!
//! A change that owes relying parties a message (a withdrawal, a lock, an erasure, ...) puts
//! one outbox row per endpoint into its own transaction (see `LeafDraft::outbox`), so a
//! message is never lost to a crash nor sent for a change that was not made. The server's
//! delivery loop leases due messages, posts them, and settles each attempt in the delivery
//! log, retrying with growing delays ([`retry_delay`]).
//!
//! Who is told: the clients that hold the subject's live consents (for the purpose the event
//! is about, or any), each at the endpoints it registered itself; so only the relying
//! parties that serve the person, never another client of the same purpose or tenant, and
//! never a URL someone else chose for them. What they are told: the event, the purpose's
//! name, and the subject by the client's own identifier; never biometric data, a pseudonym
//! or a tag. The identifier is kept for this alone, sealed under a key that erasure
//! destroys, and only once the client naming the subject has an endpoint.

use std::collections::BTreeSet;
use std::time::Duration;

use bioguard_core::{
    ClientId, ConsentState, Pseudonym, PurposeId, SubjectRef, Timestamp, ValidationError,
};
use bioguard_crypto::{Aad, open, seal};
use bioguard_store::{
    DueMessage, MessageState, OutboxMessage, ReplayTarget, Settlement, WebhookEndpoint,
};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::abuse::auth::{Admin, AuthenticatedClient};
use crate::error::ServiceError;
use crate::facade::Service;
use crate::supervision::tags::SubjectKey;

/// The event types, in the order the API lists them.
pub const WEBHOOK_EVENTS: &[&str] = &[
    "consent.withdrawn",
    "subject.locked",
    "subject.unlocked",
    "subject.erased",
    "retention.deleted",
    "incident.notification_owed",
    "claim.decided",
];

/// The prefix of an endpoint's signing secret, as Standard Webhooks writes it.
pub const SECRET_PREFIX: &str = "whsec_";

/// Attempts before a message is given up.
pub const MAX_ATTEMPTS: u32 = 8;

/// The longest URL accepted.
const MAX_URL: usize = 2048;

/// Endpoints per client.
const MAX_ENDPOINTS: usize = 16;

/// How long to wait after attempt `attempts` (1-based) failed, or `None` to give up: `base`
/// times 1, 6, 60, 360, 1440, 4320, 8640 (with the default base of 5 s: 5 s, 30 s, 5 min,
/// 30 min, 2 h, 6 h, 12 h; about 21 hours in all).
pub fn retry_delay(base: Duration, attempts: u32) -> Option<Duration> {
    const FACTORS: [u32; 7] = [1, 6, 60, 360, 1440, 4320, 8640];
    if attempts == 0 || attempts >= MAX_ATTEMPTS {
        return None;
    }
    FACTORS
        .get(attempts as usize - 1)
        .map(|f| base.saturating_mul(*f))
}

/// Checks an endpoint URL: `https://`, or `http://` to a loopback host (a receiver beside
/// the service); no credentials in it.
pub fn check_url(url: &str) -> Result<(), ValidationError> {
    let bad = |why: &str| ValidationError::new("url", why.to_owned());
    if url.len() > MAX_URL || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(
            "must be a URL of at most 2048 characters, without spaces",
        ));
    }
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("must start with https://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Err(bad("must name a host"));
    }
    if authority.contains('@') {
        return Err(bad(
            "must not carry credentials; the signature authenticates us",
        ));
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    match scheme {
        "https" => Ok(()),
        "http" if matches!(host, "localhost" | "127.0.0.1" | "::1") => Ok(()),
        "http" => Err(bad(
            "must use https:// (plain http:// only to localhost, 127.0.0.1 or [::1])",
        )),
        _ => Err(bad("must start with https://")),
    }
}

/// Checks a list of event types; none means all.
pub fn check_events(events: Option<&[String]>) -> Result<BTreeSet<String>, ValidationError> {
    let Some(events) = events else {
        return Ok(WEBHOOK_EVENTS.iter().map(|e| (*e).to_owned()).collect());
    };
    if events.is_empty() {
        return Err(ValidationError::new(
            "events",
            "must name at least one event (or be left out for all)",
        ));
    }
    events
        .iter()
        .map(|e| {
            if WEBHOOK_EVENTS.contains(&e.as_str()) {
                Ok(e.clone())
            } else {
                Err(ValidationError::new(
                    "events",
                    format!(
                        "`{e}` is not an event; the events are {}",
                        WEBHOOK_EVENTS.join(", ")
                    ),
                ))
            }
        })
        .collect()
}

/// An RFC 3339 time (`2026-12-03T10:00:00Z`), for a replay's `since`.
pub fn parse_since(s: &str) -> Result<Timestamp, ValidationError> {
    humantime::parse_rfc3339_weak(s)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .map(Timestamp::from_unix)
        .ok_or_else(|| ValidationError::new("since", "an RFC 3339 time, e.g. 2026-12-03T10:00:00Z"))
}

/// Who reads or manages an endpoint: the operator (every endpoint) or the client that
/// registered it (its own only).
#[derive(Debug, Clone, Copy)]
pub enum WebhookReader<'a> {
    /// The operator, with the admin token.
    Operator(&'a Admin),
    /// The client the endpoint belongs to.
    Owner(&'a AuthenticatedClient),
}

/// An endpoint just registered, with its signing secret (shown this once).
#[derive(Debug)]
pub struct WebhookCreated {
    /// The endpoint.
    pub endpoint: WebhookEndpoint,
    /// `whsec_` and the base64 of 24 random bytes.
    pub secret: Zeroizing<String>,
}

/// A message to post now.
pub struct Outgoing {
    /// The message id (`webhook-id`).
    pub id: String,
    /// The endpoint's id.
    pub endpoint: String,
    /// Where.
    pub url: String,
    /// The JSON body.
    pub body: String,
    /// The signing key (the secret's bytes).
    pub key: Zeroizing<Vec<u8>>,
    /// Attempts made before this one.
    pub attempts: u32,
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outgoing")
            .field("id", &self.id)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// What one attempt got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// The receiver answered with this status.
    Answered(u16),
    /// The receiver could not be reached (why, without the payload).
    Unreachable(String),
}

impl Service {
    /// Registers an endpoint for the calling client's own events; the secret is returned
    /// once. Only the client chooses where its events go: they name its subjects by its own
    /// identifiers, so no one else (the operator included) may point them elsewhere.
    pub async fn create_webhook(
        &self,
        client: &AuthenticatedClient,
        url: &str,
        events: Option<&[String]>,
    ) -> Result<WebhookCreated, ServiceError> {
        check_url(url)?;
        let events = check_events(events)?;
        let owner = &client.record().id;
        let live = self.db.webhooks.endpoints_of(owner).await?;
        if live.iter().filter(|e| e.disabled_at.is_none()).count() >= MAX_ENDPOINTS {
            return Err(ValidationError::new(
                "url",
                format!("a client has at most {MAX_ENDPOINTS} live endpoints; disable one first"),
            )
            .into());
        }
        let id = bioguard_crypto::random_token("wh_").map_err(internal)?;
        let raw = Zeroizing::new(bioguard_crypto::random_array::<24>().map_err(internal)?);
        let secret = Zeroizing::new(format!("{SECRET_PREFIX}{}", b64(raw.as_slice())));
        let sealed = seal(
            &self.secrets.webhook_seal_key("secret", &id),
            &Aad::new("bioguard/webhook-secret/v1").field(id.as_bytes()),
            raw.as_slice(),
        )
        .map_err(internal)?;
        let endpoint = WebhookEndpoint {
            id: id.clone(),
            client: owner.clone(),
            url: url.to_owned(),
            events,
            secret: sealed,
            created_at: self.now(),
            disabled_at: None,
        };
        let mut leaf = self.leaf("webhook.create", client.actor());
        leaf.detail.push(("endpoint".into(), id));
        self.db.webhooks.create_endpoint(&endpoint, &leaf).await?;
        tracing::info!(endpoint = %endpoint.id, client = %owner, "webhook endpoint registered");
        Ok(WebhookCreated { endpoint, secret })
    }

    /// The calling client's own endpoints.
    pub async fn own_webhooks(
        &self,
        client: &AuthenticatedClient,
    ) -> Result<Vec<WebhookEndpoint>, ServiceError> {
        Ok(self.db.webhooks.endpoints_of(&client.record().id).await?)
    }

    /// A client's endpoints (never their secrets).
    pub async fn webhooks_of(
        &self,
        _admin: &Admin,
        client: &ClientId,
    ) -> Result<Vec<WebhookEndpoint>, ServiceError> {
        self.db
            .clients
            .client(client)
            .await?
            .ok_or(ServiceError::ClientNotFound)?;
        Ok(self.db.webhooks.endpoints_of(client).await?)
    }

    /// One endpoint, for the operator or the client it belongs to (to any other client it
    /// does not exist).
    pub async fn webhook(
        &self,
        by: WebhookReader<'_>,
        id: &str,
    ) -> Result<WebhookEndpoint, ServiceError> {
        self.db
            .webhooks
            .endpoint(id)
            .await?
            .filter(|e| match by {
                WebhookReader::Operator(_) => true,
                WebhookReader::Owner(c) => e.client == c.record().id,
            })
            .ok_or(ServiceError::WebhookNotFound)
    }

    /// Disables an endpoint: nothing more is sent to it (its log stays). Idempotent.
    pub async fn disable_webhook(
        &self,
        by: WebhookReader<'_>,
        id: &str,
    ) -> Result<WebhookEndpoint, ServiceError> {
        self.webhook(by, id).await?;
        let actor = match by {
            WebhookReader::Operator(_) => "admin".to_owned(),
            WebhookReader::Owner(c) => c.actor(),
        };
        let mut leaf = self.leaf("webhook.disable", actor);
        leaf.detail.push(("endpoint".into(), id.to_owned()));
        self.db
            .webhooks
            .disable_endpoint(id, self.now(), &leaf)
            .await?;
        self.webhook(by, id).await
    }

    /// The delivery log of an endpoint: its newest messages, with their last attempt.
    pub async fn webhook_messages(
        &self,
        by: WebhookReader<'_>,
        id: &str,
        limit: usize,
    ) -> Result<Vec<MessageState>, ServiceError> {
        self.webhook(by, id).await?;
        Ok(self.db.webhooks.messages(id, limit).await?)
    }

    /// Sends messages again, with their ids (receivers drop what they have seen): one
    /// message, or an endpoint's since a time. Returns how many were queued.
    pub async fn replay_webhooks(&self, target: &ReplayTarget) -> Result<u64, ServiceError> {
        if let ReplayTarget::Endpoint { id, .. } = target {
            self.db
                .webhooks
                .endpoint(id)
                .await?
                .ok_or(ServiceError::WebhookNotFound)?;
        }
        let n = self.db.webhooks.replay(target, self.now()).await?;
        if n == 0 && matches!(target, ReplayTarget::Message { .. }) {
            return Err(ServiceError::WebhookNotFound);
        }
        tracing::info!(messages = n, "webhook messages queued again");
        Ok(n)
    }

    /// Leases up to `limit` due messages for `lease`, opened for sending.
    pub async fn lease_webhooks(
        &self,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Outgoing>, ServiceError> {
        let now = self.now();
        let until = Timestamp::from_unix(now.unix().saturating_add(secs(lease)));
        let due = self.db.webhooks.lease_due(now, until, limit).await?;
        let mut out = Vec::with_capacity(due.len());
        for m in due {
            match self.open_message(&m) {
                Ok(o) => out.push(o),
                Err(e) => {
                    // A row that does not open is never sent; the log says why.
                    tracing::error!(message = %m.id, error = %e, "webhook message does not open");
                    self.db
                        .webhooks
                        .settle(
                            &m.id,
                            &Settlement {
                                at: now,
                                status: None,
                                error: Some("the stored message failed its integrity check".into()),
                                delivered: false,
                                next_attempt_at: None,
                            },
                        )
                        .await?;
                }
            }
        }
        Ok(out)
    }

    fn open_message(&self, m: &DueMessage) -> Result<Outgoing, ServiceError> {
        let key = open(
            &self.secrets.webhook_seal_key("secret", &m.endpoint),
            &Aad::new("bioguard/webhook-secret/v1").field(m.endpoint.as_bytes()),
            &m.secret,
        )
        .map_err(|_| ServiceError::Integrity)?;
        let body = open(
            &self.secrets.webhook_seal_key("payload", &m.id),
            &payload_aad(&m.id, &m.endpoint, &m.event),
            &m.payload,
        )
        .map_err(|_| ServiceError::Integrity)?;
        Ok(Outgoing {
            id: m.id.clone(),
            endpoint: m.endpoint.clone(),
            url: m.url.clone(),
            body: String::from_utf8(body.to_vec()).map_err(|_| ServiceError::Integrity)?,
            key: Zeroizing::new(key.to_vec()),
            attempts: m.attempts,
        })
    }

    /// Records an attempt and schedules the next one (`base`: see [`retry_delay`]).
    pub async fn settle_webhook(
        &self,
        message: &Outgoing,
        result: &AttemptResult,
        base: Duration,
    ) -> Result<(), ServiceError> {
        let now = self.now();
        let attempts = message.attempts + 1;
        let (status, error, delivered) = match result {
            AttemptResult::Answered(s) if (200..300).contains(s) => (Some(*s), None, true),
            AttemptResult::Answered(s) => {
                (Some(*s), Some(format!("the receiver answered {s}")), false)
            }
            AttemptResult::Unreachable(why) => (None, Some(why.clone()), false),
        };
        let next_attempt_at = match delivered {
            true => None,
            false => retry_delay(base, attempts)
                .map(|d| Timestamp::from_unix(now.unix().saturating_add(secs(d).max(1)))),
        };
        if !delivered && next_attempt_at.is_none() {
            tracing::warn!(message = %message.id, attempts, "webhook message given up");
        }
        metrics::counter!(
            "bioguard_webhook_attempts_total",
            "outcome" => if delivered { "delivered" } else if next_attempt_at.is_some() { "retry" } else { "given_up" }
        )
        .increment(1);
        self.db
            .webhooks
            .settle(
                &message.id,
                &Settlement {
                    at: now,
                    status,
                    error,
                    delivered,
                    next_attempt_at,
                },
            )
            .await?;
        Ok(())
    }

    /// Deletes messages settled more than `keep` ago (their payloads name subjects).
    pub async fn purge_webhook_messages(&self, keep: Duration) -> Result<u64, ServiceError> {
        let before = Timestamp::from_unix(self.now().unix().saturating_sub(secs(keep)));
        Ok(self.db.webhooks.purge_messages(before).await?)
    }

    /// The clients that hold the subject's live consents (for `purpose`, or any): those an
    /// event about the subject is told to.
    pub(crate) async fn serving_clients(
        &self,
        pseudonym: &Pseudonym,
        purpose: Option<&PurposeId>,
    ) -> Result<Vec<ClientId>, ServiceError> {
        let summary = self.db.consents.subject_summary(pseudonym).await?;
        let clients: BTreeSet<ClientId> = summary
            .consents
            .into_iter()
            .filter(|c| c.state == ConsentState::Live && purpose.is_none_or(|p| *p == c.purpose))
            .map(|c| c.client)
            .collect();
        Ok(clients.into_iter().collect())
    }

    /// Keeps the client's identifier for a subject, sealed, if the client naming them has a
    /// live endpoint and none is kept yet.
    pub(crate) async fn remember_ref(
        &self,
        pseudonym: &Pseudonym,
        key: &SubjectKey,
        subject: &SubjectRef,
        client: &ClientId,
    ) -> Result<(), ServiceError> {
        if self
            .db
            .webhooks
            .endpoints_for(std::slice::from_ref(client))
            .await?
            .is_empty()
            || self.db.webhooks.sealed_ref(pseudonym).await?.is_some()
        {
            return Ok(());
        }
        let sealed = seal(
            &key.ref_seal_key(),
            &ref_aad(pseudonym),
            subject.expose_bytes(),
        )
        .map_err(internal)?;
        self.db.webhooks.note_sealed_ref(pseudonym, sealed).await?;
        Ok(())
    }

    /// The outbox messages an event owes: one per live endpoint of `clients` subscribed to
    /// it. `data` is completed with the subject's identifier (the client's own, `null` if
    /// none is kept) when `subject` is given.
    pub(crate) async fn owe(
        &self,
        event: &'static str,
        clients: &[ClientId],
        subject: Option<&Pseudonym>,
        mut data: Value,
    ) -> Result<Vec<OutboxMessage>, ServiceError> {
        let endpoints: Vec<WebhookEndpoint> = self
            .db
            .webhooks
            .endpoints_for(clients)
            .await?
            .into_iter()
            .filter(|e| e.events.contains(event))
            .collect();
        if endpoints.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(pseudonym) = subject {
            let known = match (
                self.db.webhooks.sealed_ref(pseudonym).await?,
                self.existing_subject_key(pseudonym).await?,
            ) {
                (Some(sealed), Some(key)) => {
                    let bytes = open(&key.ref_seal_key(), &ref_aad(pseudonym), &sealed)
                        .map_err(|_| ServiceError::Integrity)?;
                    Some(String::from_utf8(bytes.to_vec()).map_err(|_| ServiceError::Integrity)?)
                }
                _ => None,
            };
            data["subject"] = known.map_or(Value::Null, Value::String);
        }
        let timestamp = bioguard_core::rfc3339(self.now());
        let mut out = Vec::with_capacity(endpoints.len());
        for e in endpoints {
            let id = message_id()?;
            let body = json!({ "type": event, "timestamp": timestamp, "data": data }).to_string();
            let payload = seal(
                &self.secrets.webhook_seal_key("payload", &id),
                &payload_aad(&id, &e.id, event),
                body.as_bytes(),
            )
            .map_err(internal)?;
            out.push(OutboxMessage {
                id,
                endpoint: e.id,
                event: event.to_owned(),
                payload,
            });
        }
        Ok(out)
    }
}

/// A message id: `msg_`, the milliseconds since the epoch (12 hex digits, so ids sort in
/// the order they were made, as the delivery log lists them), and 16 random bytes.
fn message_id() -> Result<String, ServiceError> {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let random = bioguard_crypto::random_array::<16>().map_err(internal)?;
    Ok(format!(
        "msg_{ms:012x}{}",
        bioguard_crypto::hex_encode(&random)
    ))
}

fn payload_aad(id: &str, endpoint: &str, event: &str) -> Aad {
    Aad::new("bioguard/webhook-payload/v1")
        .field(id.as_bytes())
        .field(endpoint.as_bytes())
        .field(event.as_bytes())
}

fn ref_aad(pseudonym: &Pseudonym) -> Aad {
    Aad::new("bioguard/subject-ref/v1").field(pseudonym.as_str().as_bytes())
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_grow_then_stop() {
        let base = Duration::from_secs(5);
        let delays: Vec<_> = (1..=MAX_ATTEMPTS).map(|a| retry_delay(base, a)).collect();
        assert_eq!(delays[0], Some(Duration::from_secs(5)));
        assert_eq!(delays[1], Some(Duration::from_secs(30)));
        assert_eq!(delays[6], Some(Duration::from_secs(12 * 3600)));
        assert_eq!(delays[7], None, "the eighth failure gives up");
        assert!(delays.windows(2).all(|w| match (w[0], w[1]) {
            (Some(a), Some(b)) => a < b,
            _ => true,
        }));
        let total: Duration = delays.iter().flatten().sum();
        assert!(total > Duration::from_secs(20 * 3600) && total < Duration::from_secs(22 * 3600));
        assert_eq!(retry_delay(base, 0), None);
    }

    #[test]
    fn urls_are_https_or_loopback() {
        for ok in [
            "https://rp.example/hooks",
            "https://rp.example:8443/h?x=1",
            "http://127.0.0.1:9000/hook",
            "http://localhost/hook",
            "http://[::1]:80/",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://rp.example/hooks",
            "http://127.0.0.1.evil.example/",
            "ftp://rp.example/",
            "rp.example/hooks",
            "https://",
            "https://user:pw@rp.example/",
            "https://rp.example/a b",
        ] {
            let e = check_url(bad).expect_err(bad);
            assert_eq!(e.field(), "url");
        }
        assert!(check_url(&format!("https://rp.example/{}", "a".repeat(MAX_URL))).is_err());
    }

    #[test]
    fn events_default_to_all_and_are_checked() {
        assert_eq!(check_events(None).expect("all").len(), WEBHOOK_EVENTS.len());
        let one = check_events(Some(&["consent.withdrawn".to_owned()])).expect("one");
        assert_eq!(one.into_iter().collect::<Vec<_>>(), ["consent.withdrawn"]);
        assert!(check_events(Some(&[])).is_err());
        assert!(check_events(Some(&["verify".to_owned()])).is_err());
    }

    #[test]
    fn replays_start_at_a_stated_time() {
        assert_eq!(
            parse_since("1970-01-02T00:00:00Z").map(Timestamp::unix),
            Ok(86_400)
        );
        assert!(parse_since("yesterday").is_err());
    }
}
