//! Versioned privacy notices and the rule that ties consent to them.
//!
//! Each purpose has numbered notice versions (`v1`, `v2`, ...), published by an admin and
//! never changed: the body is canonical JSON and its SHA-256 is kept, so a consent that names
//! a version names exactly one text. The rule:
//! - consent can be given only to the purpose's current (latest) notice;
//! - enrolment needs a consent given under the latest *material* version or later;
//! - a template whose consent predates the latest material version stays usable for
//!   verification until the subject consents again, or until the deadline that version sets
//!   (`reconsent_days` after its publication), after which verification answers
//!   `reconsent_required` with the fallback and identification no longer returns them.

use bioguard_core::{PurposeId, Timestamp, ValidationError};
use bioguard_store::{NewNotice, NoticeFloor, StoredNotice, StoredPurpose};
use serde_json::{Value, json};
use sha2::Digest;

use crate::documents::DATA_TYPES;
use crate::{Admin, Service, ServiceError};

/// What an admin writes in a notice; the service adds the purpose's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeDraft {
    /// The notice text shown to the person.
    pub text: String,
    /// Its language (a BCP 47 tag such as `en` or `de-CH`).
    pub language: String,
    /// Who is responsible for the processing.
    pub controller: String,
    /// The law that applies.
    pub jurisdiction: String,
    /// Who else receives the data (empty: nobody).
    pub recipients: Vec<String>,
    /// How the person withdraws.
    pub withdrawal_method: String,
    /// Whether existing consents must be given again under this version.
    pub material: bool,
    /// Days templates under earlier consents stay usable for verification (`None`: until
    /// re-consent).
    pub reconsent_days: Option<u32>,
}

impl NoticeDraft {
    /// The notice a purpose gets when its creator gives none: its description, in English.
    pub fn from_purpose(description: &str) -> Self {
        Self {
            text: description.to_owned(),
            language: "en".into(),
            controller: "the operator of this bioguard service".into(),
            jurisdiction: "as stated by the operator".into(),
            recipients: Vec::new(),
            withdrawal_method:
                "ask the service you enrolled with; withdrawal takes effect at once \
                                and destroys the template"
                    .into(),
            material: true,
            reconsent_days: None,
        }
    }

    /// Checks lengths and characters.
    pub fn check(&self) -> Result<(), ValidationError> {
        let text = |field: &'static str, v: &str, max: usize| {
            if v.trim().is_empty()
                || v.len() > max
                || v.chars().any(|c| c.is_control() && c != '\n')
            {
                Err(ValidationError::new(
                    field,
                    format!("must be 1 to {max} bytes of text without control characters"),
                ))
            } else {
                Ok(())
            }
        };
        text("notice.text", &self.text, 20_000)?;
        text("notice.controller", &self.controller, 300)?;
        text("notice.jurisdiction", &self.jurisdiction, 300)?;
        text("notice.withdrawal_method", &self.withdrawal_method, 1000)?;
        let lang_ok = (2..=35).contains(&self.language.len())
            && self.language.split('-').all(|p| {
                !p.is_empty() && p.len() <= 8 && p.bytes().all(|b| b.is_ascii_alphanumeric())
            });
        if !lang_ok {
            return Err(ValidationError::new(
                "notice.language",
                "must be a BCP 47 language tag such as en or de-CH",
            ));
        }
        if self.recipients.len() > 50 {
            return Err(ValidationError::new(
                "notice.recipients",
                "at most 50 recipients",
            ));
        }
        for r in &self.recipients {
            text("notice.recipients", r, 300)?;
        }
        if self
            .reconsent_days
            .is_some_and(|d| !(1..=3650).contains(&d))
        {
            return Err(ValidationError::new(
                "notice.reconsent_days",
                "must be 1 to 3650 days",
            ));
        }
        Ok(())
    }

    /// The notice as published: canonical JSON with the purpose's facts, and its hash.
    pub(crate) fn publish(
        &self,
        purpose: &bioguard_core::Purpose,
        version: u32,
        at: Timestamp,
    ) -> NewNotice {
        let body = json!({
            "purpose": purpose.id.as_str(),
            "version": format!("v{version}"),
            "description": purpose.description.as_str(),
            "language": self.language,
            "controller": self.controller,
            "jurisdiction": self.jurisdiction,
            "recipients": self.recipients,
            "withdrawal_method": self.withdrawal_method,
            "data_types": [DATA_TYPES],
            "retention": {
                "max_days_since_enrolment": purpose.retention.max_days_since_enrolment(),
                "max_days_since_last_use": purpose.retention.max_days_since_last_use(),
            },
            "material": self.material,
            "reconsent_days": self.reconsent_days,
            "text": self.text,
        })
        .to_string();
        let hash = bioguard_crypto::hex_encode(&sha2::Sha256::digest(body.as_bytes()));
        NewNotice {
            version,
            body,
            hash,
            material: self.material,
            reconsent_days: self.reconsent_days,
            at,
        }
    }
}

/// The number of a notice version name (`v3` is 3); anything else is 0, older than all.
pub(crate) fn version_number(name: &str) -> u32 {
    name.strip_prefix('v')
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Where a purpose's notices stand.
#[derive(Debug, Clone)]
pub(crate) struct NoticeState {
    pub(crate) notices: Vec<StoredNotice>,
}

impl NoticeState {
    /// The latest version.
    pub(crate) fn current(&self) -> Option<&StoredNotice> {
        self.notices.last()
    }

    /// A version by name.
    pub(crate) fn get(&self, name: &str) -> Option<&StoredNotice> {
        let n = version_number(name);
        self.notices.iter().find(|s| s.version == n)
    }
}

/// Whether a consent given under `consent_notice` lets a template be enrolled, given the
/// purpose's latest material notice.
pub(crate) fn allows_enrolment(floor: Option<&NoticeFloor>, consent_notice: &str) -> bool {
    floor.is_none_or(|f| version_number(consent_notice) >= f.version)
}

/// Whether a consent given under `consent_notice` still lets a template be used at `now`, given
/// the purpose's latest material notice: an older consent only within its grace period.
pub(crate) fn allows_use(
    floor: Option<&NoticeFloor>,
    consent_notice: &str,
    now: Timestamp,
) -> bool {
    match floor {
        Some(f) if version_number(consent_notice) < f.version => f
            .reconsent_days
            .is_none_or(|d| now.unix() < f.published_at.unix() + i64::from(d) * 86_400),
        _ => true,
    }
}

impl Service {
    /// Where a purpose's notices stand.
    pub(crate) async fn notice_state(
        &self,
        purpose: &PurposeId,
    ) -> Result<NoticeState, ServiceError> {
        Ok(NoticeState {
            notices: self.store.notices(purpose).await?,
        })
    }

    /// Every published version of a purpose's notice, oldest first (public).
    pub async fn notices(&self, purpose: &PurposeId) -> Result<Vec<StoredNotice>, ServiceError> {
        self.require_purpose(purpose).await?;
        Ok(self.store.notices(purpose).await?)
    }

    /// Publishes the next version of a purpose's notice.
    pub async fn publish_notice(
        &self,
        _admin: &Admin,
        purpose_id: &PurposeId,
        draft: NoticeDraft,
    ) -> Result<StoredNotice, ServiceError> {
        draft.check()?;
        let purpose: StoredPurpose = self.require_purpose(purpose_id).await?;
        let next = self
            .notice_state(purpose_id)
            .await?
            .current()
            .map_or(1, |n| n.version + 1);
        let notice = draft.publish(&purpose.purpose, next, self.now());
        let mut leaf = self.leaf("notice.publish", "admin");
        leaf.purpose = Some(purpose_id.clone());
        leaf.decision = Some(format!("v{next}"));
        leaf.detail = vec![
            ("hash".into(), notice.hash.clone()),
            ("material".into(), notice.material.to_string()),
        ];
        if let Some(d) = notice.reconsent_days {
            leaf.detail.push(("reconsent_days".into(), d.to_string()));
        }
        self.store
            .publish_notice(purpose_id, &notice, &leaf)
            .await?;
        tracing::info!(purpose = %purpose_id, version = next, material = notice.material, "notice published");
        Ok(StoredNotice {
            version: notice.version,
            body: notice.body,
            hash: notice.hash,
            material: notice.material,
            reconsent_days: notice.reconsent_days,
            published_at: notice.at,
        })
    }
}

/// A stored notice's body as JSON (it was written by [`NoticeDraft::publish`]).
pub fn notice_json(n: &StoredNotice) -> Value {
    serde_json::from_str(&n.body).unwrap_or(Value::Null)
}
