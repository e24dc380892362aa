//! The person's own portal. A relying party issues a short-lived link for one subject
//! (`POST /v1/subjects/{subject}/portal-links`); whoever opens it sees what is held about that
//! subject and every use of it, and can withdraw, lock, unlock or erase. Only the HMAC digest of
//! a link's token is stored; actions through the portal are recorded with the actor
//! `subject:portal` and the issuing client named.

use std::collections::{BTreeMap, BTreeSet};

use bioguard_core::{
    ClientId, Locker, Pseudonym, PurposeId, SubjectRef, SubjectRight, Timestamp, ValidationError,
    rfc3339,
};
use zeroize::Zeroizing;

use crate::abuse::auth::AuthenticatedClient;
use crate::error::ServiceError;
use crate::facade::Service;
use crate::privacy::consent::Withdrawal;
use crate::privacy::notices::NoticeText;
use crate::privacy::rights::{Erasure, SubjectReport};

/// How long a portal link lives unless the request says otherwise, in seconds.
pub const PORTAL_LINK_SECS: u32 = 900;
/// The longest a portal link may live, in seconds.
pub const PORTAL_LINK_MAX_SECS: u32 = 3600;

/// The prefix of portal link tokens (to tell them from API keys in a leak report).
const PREFIX: &str = "bgp_";
/// The prefix of portal session tokens (the cookie a link's opening sets).
const SESSION_PREFIX: &str = "bgs_";

/// What the portal shows one person.
#[derive(Debug, Clone)]
pub struct PortalView {
    /// The subject report.
    pub report: SubjectReport,
    /// The history entries (by ledger index) whose inclusion in the checkpoint was proved.
    pub proved: BTreeSet<u64>,
    /// The notice each consent was given to, by (purpose, version): its text and hash.
    pub notices: BTreeMap<(String, String), (NoticeText, String)>,
    /// The size of the checkpoint the history was proved against.
    pub checkpoint_size: u64,
    /// That checkpoint, signed.
    pub checkpoint_note: String,
    /// When the link stops working.
    pub link_expires_at: Timestamp,
    /// The names of the relying parties in the history, by actor (`client:<id>`): the
    /// organisations the person dealt with, in their own words.
    pub client_names: BTreeMap<String, String>,
}

/// An open portal: one subject, until the link expires. Holds no secret itself; `digest` is
/// the session token's.
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

/// How long a link lives: `ttl_secs`, or the default, within 60 s and the maximum.
fn link_ttl(ttl_secs: Option<u32>) -> Result<u32, ValidationError> {
    let ttl = ttl_secs.unwrap_or(PORTAL_LINK_SECS);
    if !(60..=PORTAL_LINK_MAX_SECS).contains(&ttl) {
        return Err(ValidationError::new(
            "ttl_secs",
            format!("from 60 to {PORTAL_LINK_MAX_SECS} seconds"),
        ));
    }
    Ok(ttl)
}

/// Whether `token` could be a portal token at all (anything else is refused before it is
/// hashed or looked up).
fn plausible_token(token: &str, prefix: &str) -> bool {
    token.starts_with(prefix)
        && token.len() <= 128
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Whether two texts are equal, in time that depends only on their length.
fn same_text(want: &str, given: &str) -> bool {
    want.len() == given.len()
        && want
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
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
        client.require_right(SubjectRight::Portal)?;
        let ttl = link_ttl(ttl_secs)?;
        let token = Zeroizing::new(bioguard_crypto::random_token(PREFIX)?);
        let pseudonym = self.secrets.pseudonym(client.tenant(), subject);
        let now = self.now();
        let expires = Timestamp::from_unix(now.unix() + i64::from(ttl));
        let key = self.known_subject_key(&pseudonym).await?;
        let mut leaf = self.leaf("portal.link", client.actor());
        leaf.subject = Some(self.leaf_subject(&pseudonym, &key)?);
        leaf.decision = Some("issued".into());
        leaf.detail = vec![("expires_at".into(), rfc3339(expires))];
        self.db
            .portal
            .create_portal_link(
                &self.portal_digest(&token),
                &pseudonym,
                &client.record().id,
                now,
                expires,
                &leaf,
            )
            .await?;
        // What the person does in the portal is told to the relying parties by this name.
        self.remember_ref(&pseudonym, &key, subject, &client.record().id)
            .await?;
        tracing::info!(client = %client.record().id, ttl, "portal link issued");
        Ok((token, expires))
    }

    /// Opens a portal link, once: returns the session and its token (for the cookie; the
    /// link itself stops working). [`ServiceError::PortalLinkInvalid`] for a link that is
    /// malformed, unknown (forged, its subject erased, its client suspended or re-keyed),
    /// expired, or opened before.
    pub async fn open_portal(
        &self,
        link: &str,
    ) -> Result<(PortalSession, Zeroizing<String>), ServiceError> {
        if !plausible_token(link, PREFIX) {
            return Err(ServiceError::PortalLinkInvalid);
        }
        let session = Zeroizing::new(bioguard_crypto::random_token(SESSION_PREFIX)?);
        let digest = self.portal_digest(&session);
        let Some(opened) = self
            .db
            .portal
            .open_portal_link(&self.portal_digest(link), &digest, self.now())
            .await?
        else {
            return Err(ServiceError::PortalLinkInvalid);
        };
        Ok((
            PortalSession {
                subject: opened.subject,
                client: opened.client,
                digest,
                expires_at: opened.expires_at,
            },
            session,
        ))
    }

    /// The session of a portal session token (the cookie); [`ServiceError::PortalLinkInvalid`]
    /// for a token that is malformed, unknown (forged, its subject erased, its client suspended
    /// or re-keyed) or expired.
    pub async fn portal_session(&self, token: &str) -> Result<PortalSession, ServiceError> {
        if !plausible_token(token, SESSION_PREFIX) {
            return Err(ServiceError::PortalLinkInvalid);
        }
        let digest = self.portal_digest(token);
        let Some(link) = self.db.portal.portal_session(&digest).await? else {
            return Err(ServiceError::PortalLinkInvalid);
        };
        if self.now() >= link.expires_at {
            return Err(ServiceError::PortalLinkInvalid);
        }
        Ok(PortalSession {
            subject: link.subject,
            client: link.client,
            digest,
            expires_at: link.expires_at,
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
        same_text(&self.portal_csrf(s), given)
    }

    /// Everything the portal shows: the subject report, each consent's notice text, and each
    /// use's inclusion in a freshly signed checkpoint, checked here from the stored leaf.
    pub async fn portal_view(&self, s: &PortalSession) -> Result<PortalView, ServiceError> {
        let history = self
            .db
            .ledger
            .subject_history_latest(&s.subject, crate::supervision::audit::REPORT_HISTORY + 1)
            .await?;
        let report = self.report_with_history(&s.subject, &history).await?;
        let (note, size) = self.signed_checkpoint().await?;
        let key = self.known_subject_key(&s.subject).await?;
        let proved = self.proved(&history, size, &key, &s.subject);
        // The text of the notice each consent was given to.
        let mut notices = BTreeMap::new();
        for c in &report.consents {
            let Ok(id) = PurposeId::parse(&c.purpose) else {
                continue;
            };
            let state = self.notice_state(&id).await?;
            if let Some(n) = state.get(&c.notice_version) {
                notices.insert(
                    (c.purpose.clone(), c.notice_version.clone()),
                    (NoticeText::of(n), n.hash.clone()),
                );
            }
        }
        // Who did what, by name: the clients in the history (of the subject's own tenant).
        let mut client_names = BTreeMap::new();
        for u in &report.history {
            let Some(id) = u.by.strip_prefix("client:") else {
                continue;
            };
            if client_names.contains_key(&u.by) {
                continue;
            }
            if let Ok(id) = ClientId::parse(id)
                && let Some(c) = self.db.clients.client(&id).await?
            {
                client_names.insert(u.by.clone(), c.name.as_str().to_owned());
            }
        }
        Ok(PortalView {
            client_names,
            report,
            proved,
            notices,
            checkpoint_size: size,
            checkpoint_note: note,
            link_expires_at: s.expires_at,
        })
    }

    /// The subject report, for download from the portal.
    pub async fn portal_report(&self, s: &PortalSession) -> Result<SubjectReport, ServiceError> {
        self.report_of(&s.subject).await
    }

    /// Withdraws consent for one purpose, with the withdrawal's receipt.
    pub async fn portal_withdraw(
        &self,
        s: &PortalSession,
        purpose: &PurposeId,
    ) -> Result<Withdrawal, ServiceError> {
        self.withdraw_as(&s.subject, purpose, s.actor()).await
    }

    /// Locks or unlocks every use of the subject's biometrics.
    pub async fn portal_lock(
        &self,
        s: &PortalSession,
        lock: bool,
    ) -> Result<Option<Timestamp>, ServiceError> {
        self.set_lock_as(&s.subject, lock, &Locker::Person, &s.client, s.actor())
            .await
    }

    /// Erases everything held about the subject (and the portal links with it), with the
    /// signed deletion certificate.
    pub async fn portal_erase(&self, s: &PortalSession) -> Result<Erasure, ServiceError> {
        self.erase_as(&s.subject, s.actor()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_live_between_a_minute_and_an_hour() {
        assert_eq!(link_ttl(None), Ok(PORTAL_LINK_SECS));
        assert_eq!(link_ttl(Some(60)), Ok(60));
        assert_eq!(
            link_ttl(Some(PORTAL_LINK_MAX_SECS)),
            Ok(PORTAL_LINK_MAX_SECS)
        );
        assert!(link_ttl(Some(59)).is_err());
        assert!(link_ttl(Some(PORTAL_LINK_MAX_SECS + 1)).is_err());
    }

    #[test]
    fn only_token_shaped_text_is_looked_up() {
        assert!(plausible_token("bgp_abc-DEF_123", PREFIX));
        assert!(plausible_token("bgs_abc", SESSION_PREFIX));
        assert!(
            !plausible_token("bgp_abc", SESSION_PREFIX),
            "a link is not a session"
        );
        for bad in [
            "bgc_abc",
            "bgp_a b",
            "bgp_é",
            &format!("bgp_{}", "a".repeat(125)),
        ] {
            assert!(!plausible_token(bad, PREFIX), "{bad}");
        }
    }

    #[test]
    fn csrf_tokens_compare_whole() {
        assert!(same_text("abcd", "abcd"));
        assert!(!same_text("abcd", "abce"));
        assert!(!same_text("abcd", "abc"));
        assert!(!same_text("", "a"));
    }
}
