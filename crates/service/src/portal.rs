//! The person's own portal. A relying party issues a short-lived link for one subject
//! (`POST /v1/subjects/{subject}/portal-links`); whoever opens it sees what is held about that
//! subject and every use of it, and can withdraw, lock, unlock or erase. Only the HMAC digest of
//! a link's token is stored; actions through the portal are recorded with the actor
//! `subject:portal` and the issuing client named.

use bioguard_core::{ClientId, Pseudonym, PurposeId, SubjectRef, Timestamp, rfc3339};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::{AuthenticatedClient, Service, ServiceError};

/// How long a portal link lives unless the request says otherwise, in seconds.
pub const PORTAL_LINK_SECS: u32 = 900;
/// The longest a portal link may live, in seconds.
pub const PORTAL_LINK_MAX_SECS: u32 = 3600;

/// Portal requests per second one link (or all invalid tokens together) may make on a node,
/// with a burst of twice that.
pub const PORTAL_REQUESTS_PER_SEC: u32 = 5;

/// The prefix of portal tokens (to tell them from API keys in a leak report).
const PREFIX: &str = "bgp_";

/// An open portal: one subject, until the link expires. Holds no secret itself.
#[derive(Debug, Clone)]
pub struct PortalSession {
    subject: Pseudonym,
    client: ClientId,
    digest: String,
    /// When the link stops working.
    pub expires_at: Timestamp,
}

impl PortalSession {
    fn actor(&self) -> String {
        format!("subject:portal (link from client:{})", self.client)
    }

    /// A short key for rate-limiting this link (a prefix of its digest, not a secret).
    pub fn rate_key(&self) -> String {
        self.digest.chars().take(16).collect()
    }
}

impl Service {
    fn portal_digest(&self, token: &str) -> String {
        bioguard_crypto::hex_encode(&self.secrets.token_digest(&format!("portal:{token}")))
    }

    /// Issues a portal link token for one subject, live `ttl_secs` (60 to 3600; default 900).
    /// The issue is a `portal.link` leaf in the subject's history.
    pub async fn issue_portal_link(
        &self,
        client: &AuthenticatedClient,
        subject: &SubjectRef,
        ttl_secs: Option<u32>,
    ) -> Result<(Zeroizing<String>, Timestamp), ServiceError> {
        let ttl = ttl_secs.unwrap_or(PORTAL_LINK_SECS);
        if !(60..=PORTAL_LINK_MAX_SECS).contains(&ttl) {
            return Err(bioguard_core::ValidationError::new(
                "ttl_secs",
                format!("from 60 to {PORTAL_LINK_MAX_SECS} seconds"),
            )
            .into());
        }
        let token = Zeroizing::new(bioguard_crypto::random_token(PREFIX)?);
        let pseudonym = self.secrets.pseudonym(subject);
        let now = self.now();
        let expires = Timestamp::from_unix(now.unix() + i64::from(ttl));
        let mut leaf = self.leaf("portal.link", client.actor());
        leaf.subject = Some(pseudonym.clone());
        leaf.decision = Some("issued".into());
        leaf.detail = vec![("expires_at".into(), rfc3339(expires))];
        self.store
            .create_portal_link(
                &self.portal_digest(&token),
                &pseudonym,
                &client.record().id,
                now,
                expires,
                &leaf,
            )
            .await?;
        tracing::info!(client = %client.record().id, ttl, "portal link issued");
        Ok((token, expires))
    }

    /// The session of a portal token; [`ServiceError::PortalLinkInvalid`] for a token that is
    /// malformed, unknown (forged, or its subject erased) or expired.
    pub async fn portal_session(&self, token: &str) -> Result<PortalSession, ServiceError> {
        if !token.starts_with(PREFIX)
            || token.len() > 128
            || !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(ServiceError::PortalLinkInvalid);
        }
        let digest = self.portal_digest(token);
        let Some((subject, client, expires_at)) = self.store.portal_link(&digest).await? else {
            return Err(ServiceError::PortalLinkInvalid);
        };
        if self.now() >= expires_at {
            return Err(ServiceError::PortalLinkInvalid);
        }
        Ok(PortalSession {
            subject,
            client,
            digest,
            expires_at,
        })
    }

    /// Spends one portal request for `key` (a session's [`PortalSession::rate_key`], or
    /// `"invalid"` for tokens that did not open); 429 with the seconds to wait when spent.
    pub fn portal_rate(&self, key: &str) -> Result<(), ServiceError> {
        self.portal_limits
            .take(&key.to_owned())
            .map_err(ServiceError::RateLimited)
    }

    /// The anti-forgery token for the forms of a session.
    pub fn portal_csrf(&self, s: &PortalSession) -> String {
        bioguard_crypto::hex_encode(&self.secrets.token_digest(&format!("csrf:{}", s.digest)))
    }

    /// Whether `given` is the session's anti-forgery token (compared in constant time).
    pub fn portal_csrf_ok(&self, s: &PortalSession, given: &str) -> bool {
        let want = self.portal_csrf(s);
        want.len() == given.len()
            && want
                .bytes()
                .zip(given.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }

    /// Everything the portal shows: the subject report, each consent's notice text, and each
    /// use's inclusion in a freshly signed checkpoint, checked here from the stored leaf.
    pub async fn portal_view(&self, s: &PortalSession) -> Result<Value, ServiceError> {
        let history = self.store.subject_history(&s.subject).await?;
        let mut report = self.report_with_history(&s.subject, &history).await?;
        let (note, size) = self.signed_checkpoint().await?;
        let root = bioguard_ledger::root(&*self.ledger.lock(), size);
        let proved: std::collections::BTreeMap<u64, bool> = history
            .iter()
            .map(|(index, bytes)| {
                let ok = *index < size && {
                    let tree = self.ledger.lock();
                    bioguard_ledger::inclusion_proof(&*tree, *index, size).is_ok_and(|p| {
                        bioguard_ledger::verify_inclusion(
                            &bioguard_ledger::leaf_hash(bytes),
                            *index,
                            size,
                            &p,
                            &root,
                        )
                        .is_ok()
                    })
                };
                (*index, ok)
            })
            .collect();
        if let Some(uses) = report["history"].as_array_mut() {
            for u in uses {
                let i = u["ledger_index"].as_u64().unwrap_or(u64::MAX);
                u["proved"] = json!(proved.get(&i).copied().unwrap_or(false));
            }
        }
        // The text of the notice each consent was given to.
        let mut notices = serde_json::Map::new();
        let consents: Vec<(String, String)> = report["consents"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| {
                Some((
                    c["purpose"].as_str()?.to_owned(),
                    c["notice_version"].as_str()?.to_owned(),
                ))
            })
            .collect();
        for (purpose, version) in consents {
            let Ok(id) = PurposeId::parse(&purpose) else {
                continue;
            };
            let state = self.notice_state(&id).await?;
            if let Some(n) = state.get(&version) {
                notices.insert(format!("{purpose}/{version}"), crate::notice_json(n));
            }
        }
        report["notices"] = Value::Object(notices);
        report["checkpoint"] = json!({"size": size, "note": note});
        report["link_expires_at"] = json!(rfc3339(s.expires_at));
        Ok(report)
    }

    /// The subject report, for download from the portal.
    pub async fn portal_report(&self, s: &PortalSession) -> Result<Value, ServiceError> {
        self.report_of(&s.subject).await
    }

    /// Withdraws consent for one purpose; the answer is the withdrawal's receipt.
    pub async fn portal_withdraw(
        &self,
        s: &PortalSession,
        purpose: &PurposeId,
    ) -> Result<String, ServiceError> {
        Ok(self.withdraw_as(&s.subject, purpose, s.actor()).await?.1)
    }

    /// Locks or unlocks every use of the subject's biometrics.
    pub async fn portal_lock(
        &self,
        s: &PortalSession,
        lock: bool,
    ) -> Result<Option<Timestamp>, ServiceError> {
        self.set_lock_as(&s.subject, lock, &s.client, s.actor())
            .await
    }

    /// Erases everything held about the subject (and the portal links with it); the answer is
    /// the signed deletion certificate.
    pub async fn portal_erase(
        &self,
        s: &PortalSession,
    ) -> Result<(bioguard_store::EraseOutcome, String), ServiceError> {
        self.erase_as(&s.subject, s.actor()).await
    }
}
