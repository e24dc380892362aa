//! Consent: a subject's agreement to one purpose, under one version of that purpose's notice,
//! given by one method, and the rules of its life.
//!
//! A consent record is live until it ends, and it ends once: withdrawn by the person, or
//! superseded by a consent under another notice version or method. At most one record per
//! subject and purpose is live. [`ConsentRecord::on_grant`] says what a new grant does to the
//! live record (keep it, or supersede it and add the new one), and [`ConsentRecord::withdrawn`]
//! ends it; the store applies both inside the transaction that reads the live record.

use crate::ids::check_token;
use crate::{ClientId, ConsentId, PurposeId, Timestamp, ValidationError};

/// The version of the privacy notice the person was shown, such as `v1` or `2026-11`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeVersion(String);

impl NoticeVersion {
    /// Parses a notice version.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        check_token("notice_version", s, 64, false)?;
        Ok(Self(s.to_owned()))
    }

    /// The version as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number of a `vN` version name (`v3` is 3); any other name is 0, older than all.
    pub fn number(&self) -> u32 {
        version_number(&self.0)
    }
}

/// The number of a notice version name (`v3` is 3); anything else is 0, older than all.
pub fn version_number(name: &str) -> u32 {
    name.strip_prefix('v')
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// How consent was collected, such as `in-app`, `web` or `paper`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentMethod(String);

impl ConsentMethod {
    /// Parses a method.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        check_token("method", s, 64, false)?;
        Ok(Self(s.to_owned()))
    }

    /// The method as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a consent ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The person withdrew it.
    Withdrawn,
    /// A consent under another notice version or method replaced it.
    Superseded,
}

impl EndReason {
    /// The text form stored and shown in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Withdrawn => "withdrawn",
            EndReason::Superseded => "superseded",
        }
    }

    /// Reads [`EndReason::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "withdrawn" => Some(EndReason::Withdrawn),
            "superseded" => Some(EndReason::Superseded),
            _ => None,
        }
    }
}

/// Where a consent record stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentState {
    /// In force.
    Live,
    /// Ended at a time, for a reason.
    Ended {
        /// When.
        at: Timestamp,
        /// Why.
        reason: EndReason,
    },
}

impl ConsentState {
    /// `granted` while live, else the reason it ended (the API's `status`).
    pub fn status(self) -> &'static str {
        match self {
            ConsentState::Live => "granted",
            ConsentState::Ended { reason, .. } => reason.as_str(),
        }
    }
}

/// A consent to record: what the person agreed to, as the relying party reports it.
#[derive(Debug, Clone)]
pub struct NewConsent {
    /// The record's id.
    pub id: ConsentId,
    /// The purpose consented to.
    pub purpose: PurposeId,
    /// The notice version shown.
    pub notice_version: NoticeVersion,
    /// How consent was collected.
    pub method: ConsentMethod,
    /// The client that recorded it.
    pub client: ClientId,
    /// When it was given.
    pub at: Timestamp,
}

/// A consent record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    /// The record's id.
    pub id: ConsentId,
    /// The purpose.
    pub purpose: PurposeId,
    /// The notice version shown.
    pub notice_version: NoticeVersion,
    /// How consent was collected.
    pub method: ConsentMethod,
    /// The client that recorded it.
    pub client: ClientId,
    /// When it was given.
    pub granted_at: Timestamp,
    /// Live, or when and why it ended.
    pub state: ConsentState,
}

/// What granting consent does, given the live record for the same subject and purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantStep {
    /// The same consent (notice version and method) is live already: nothing changes.
    Keep,
    /// A live consent under another notice or method ends as superseded; the new one starts.
    Supersede(ConsentId),
    /// No consent is live: the new one starts.
    Start,
}

/// A consent that cannot change as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the consent has ended already")]
pub struct ConsentEnded;

impl ConsentRecord {
    /// The record a new consent starts as.
    pub fn start(c: &NewConsent) -> Self {
        Self {
            id: c.id.clone(),
            purpose: c.purpose.clone(),
            notice_version: c.notice_version.clone(),
            method: c.method.clone(),
            client: c.client.clone(),
            granted_at: c.at,
            state: ConsentState::Live,
        }
    }

    /// Whether the consent is in force.
    pub fn is_live(&self) -> bool {
        self.state == ConsentState::Live
    }

    /// When it ended, if it did.
    pub fn ended_at(&self) -> Option<Timestamp> {
        match self.state {
            ConsentState::Live => None,
            ConsentState::Ended { at, .. } => Some(at),
        }
    }

    /// Why it ended, if it did.
    pub fn end_reason(&self) -> Option<EndReason> {
        match self.state {
            ConsentState::Live => None,
            ConsentState::Ended { reason, .. } => Some(reason),
        }
    }

    /// What granting `new` does when `live` is the subject's live consent for the purpose.
    pub fn on_grant(live: Option<&ConsentRecord>, new: &NewConsent) -> GrantStep {
        match live {
            None => GrantStep::Start,
            Some(l) if l.notice_version == new.notice_version && l.method == new.method => {
                GrantStep::Keep
            }
            Some(l) => GrantStep::Supersede(l.id.clone()),
        }
    }

    /// The record ended by the person at `at`; a record that has ended stays as it was.
    pub fn withdrawn(mut self, at: Timestamp) -> Result<Self, ConsentEnded> {
        if !self.is_live() {
            return Err(ConsentEnded);
        }
        self.state = ConsentState::Ended {
            at,
            reason: EndReason::Withdrawn,
        };
        Ok(self)
    }

    /// The record ended by a newer consent at `at`.
    pub fn superseded(mut self, at: Timestamp) -> Result<Self, ConsentEnded> {
        if !self.is_live() {
            return Err(ConsentEnded);
        }
        self.state = ConsentState::Ended {
            at,
            reason: EndReason::Superseded,
        };
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(notice: &str, method: &str) -> NewConsent {
        NewConsent {
            id: ConsentId::from_random([1; 16]),
            purpose: PurposeId::parse("pay").expect("valid"),
            notice_version: NoticeVersion::parse(notice).expect("valid"),
            method: ConsentMethod::parse(method).expect("valid"),
            client: ClientId::from_random([2; 16]),
            at: Timestamp::from_unix(100),
        }
    }

    #[test]
    fn a_grant_starts_keeps_or_supersedes() {
        let live = ConsentRecord::start(&new("v1", "app"));
        assert_eq!(
            ConsentRecord::on_grant(None, &new("v1", "app")),
            GrantStep::Start
        );
        assert_eq!(
            ConsentRecord::on_grant(Some(&live), &new("v1", "app")),
            GrantStep::Keep
        );
        for other in [new("v2", "app"), new("v1", "paper")] {
            assert_eq!(
                ConsentRecord::on_grant(Some(&live), &other),
                GrantStep::Supersede(live.id.clone())
            );
        }
    }

    #[test]
    fn a_consent_ends_once() {
        let live = ConsentRecord::start(&new("v1", "app"));
        assert!(live.is_live());
        assert_eq!(live.state.status(), "granted");
        let ended = live.withdrawn(Timestamp::from_unix(200)).expect("live");
        assert_eq!(ended.ended_at(), Some(Timestamp::from_unix(200)));
        assert_eq!(ended.end_reason(), Some(EndReason::Withdrawn));
        assert_eq!(ended.state.status(), "withdrawn");
        assert_eq!(
            ended.clone().withdrawn(Timestamp::from_unix(300)),
            Err(ConsentEnded)
        );
        assert_eq!(
            ended.superseded(Timestamp::from_unix(300)),
            Err(ConsentEnded)
        );
    }

    #[test]
    fn notice_version_numbers() {
        assert_eq!(version_number("v3"), 3);
        assert_eq!(version_number("2026-11"), 0);
        assert_eq!(NoticeVersion::parse("v12").expect("valid").number(), 12);
    }
}
