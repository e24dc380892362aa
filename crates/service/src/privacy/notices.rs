//! Versioned privacy notices and the rules that tie consent to them.
//!
//! Each purpose has numbered notice versions (`v1`, `v2`, ...), published by an admin and
//! never changed: the body is canonical JSON and its SHA-256 is kept, so a consent that names
//! a version names exactly one text. The rules:
//! - consent can be given only to the purpose's current (latest) notice;
//! - enrolment needs a consent given under the latest *material* version or later;
//! - a template whose consent predates the latest material version stays usable for
//!   verification until the subject consents again, or until the deadline that version sets
//!   (`reconsent_days` after its publication), after which verification answers
//!   `reconsent_required` with the fallback and identification no longer returns them.

use bioguard_core::{
    Notice, NoticeDraft, NoticeFloor, Purpose, PurposeId, Timestamp, ValidationError,
    version_number,
};
use serde_json::{Value, json};
use sha2::Digest;

use crate::abuse::auth::Admin;
use crate::error::ServiceError;
use crate::facade::Service;

/// What is collected under every purpose: the protected template only, never an image.
pub(crate) const DATA_TYPES: &str = "biometric template: a protected binary code derived from an \
                          embedding; no image, audio or raw embedding is kept";

/// The notice as published: canonical JSON with the purpose's facts, and its hash.
pub(crate) fn publish(
    draft: &NoticeDraft,
    purpose: &Purpose,
    version: u32,
    at: Timestamp,
) -> Notice {
    let body = json!({
        "purpose": purpose.id.as_str(),
        "version": format!("v{version}"),
        "description": purpose.description.as_str(),
        "language": draft.language,
        "controller": draft.controller,
        "jurisdiction": draft.jurisdiction,
        "recipients": draft.recipients,
        "withdrawal_method": draft.withdrawal_method,
        "data_types": [DATA_TYPES],
        "retention": {
            "max_days_since_enrolment": purpose.retention.max_days_since_enrolment(),
            "max_days_since_last_use": purpose.retention.max_days_since_last_use(),
        },
        "material": draft.material,
        "reconsent_days": draft.reconsent_days,
        "text": draft.text,
    })
    .to_string();
    let hash = bioguard_crypto::hex_encode(&sha2::Sha256::digest(body.as_bytes()));
    Notice {
        version,
        body,
        hash,
        material: draft.material,
        reconsent_days: draft.reconsent_days,
        published_at: at,
    }
}

/// What a published notice says, as written by [`publish`].
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct NoticeText {
    /// The notice text shown to the person.
    pub text: String,
    /// Its language.
    pub language: String,
    /// Who is responsible for the processing.
    pub controller: String,
    /// The law that applies.
    pub jurisdiction: String,
    /// Who else receives the data.
    pub recipients: Vec<String>,
    /// How the person withdraws.
    pub withdrawal_method: String,
}

impl NoticeText {
    /// Reads a published notice's body.
    pub fn of(n: &Notice) -> Self {
        serde_json::from_str(&n.body).unwrap_or_default()
    }
}

/// Where a purpose's notices stand.
#[derive(Debug, Clone)]
pub(crate) struct NoticeState {
    pub(crate) notices: Vec<Notice>,
}

impl NoticeState {
    /// The latest version.
    pub(crate) fn current(&self) -> Option<&Notice> {
        self.notices.last()
    }

    /// A version by name.
    pub(crate) fn get(&self, name: &str) -> Option<&Notice> {
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
    /// A purpose's notice ready to publish: the one given, its jurisdiction filled in from
    /// the operator's for the default tenant; or, when none is given, the purpose's
    /// description with the operator as controller (default tenant only). Another tenant's
    /// purposes name their own controller and law. Placeholders are refused.
    pub(crate) fn complete_notice(
        &self,
        purpose: &Purpose,
        notice: Option<NoticeDraft>,
    ) -> Result<NoticeDraft, ServiceError> {
        let operator = self.operator().filter(|_| purpose.id.tenant().is_default());
        let draft = match notice {
            Some(mut n) => {
                if n.jurisdiction.trim().is_empty()
                    && let Some(j) = operator.and_then(|o| o.jurisdiction.as_ref())
                {
                    n.jurisdiction = j.clone();
                }
                n
            }
            None => match operator {
                Some(o) if o.jurisdiction.is_some() => NoticeDraft::from_purpose(
                    purpose.description.as_str(),
                    &o.name,
                    o.jurisdiction.as_deref().unwrap_or_default(),
                ),
                _ => {
                    return Err(ValidationError::new(
                        "notice",
                        "a purpose's notice must name its controller and the law that applies: \
                         send `notice` with `text`, `controller` and `jurisdiction` (or, for the \
                         default tenant, configure operator_name, operator_contact and \
                         operator_jurisdiction to be named by default)",
                    )
                    .into());
                }
            },
        };
        draft.check()?;
        Ok(draft)
    }

    /// Where a purpose's notices stand.
    pub(crate) async fn notice_state(
        &self,
        purpose: &PurposeId,
    ) -> Result<NoticeState, ServiceError> {
        Ok(NoticeState {
            notices: self.db.purposes.notices(purpose).await?,
        })
    }

    /// Every published version of a purpose's notice, oldest first (public).
    pub async fn notices(&self, purpose: &PurposeId) -> Result<Vec<Notice>, ServiceError> {
        self.require_purpose(purpose).await?;
        Ok(self.db.purposes.notices(purpose).await?)
    }

    /// Publishes the next version of a purpose's notice.
    pub async fn publish_notice(
        &self,
        _admin: &Admin,
        purpose_id: &PurposeId,
        draft: NoticeDraft,
    ) -> Result<Notice, ServiceError> {
        let purpose = self.require_purpose(purpose_id).await?;
        let draft = self.complete_notice(&purpose.purpose, Some(draft))?;
        let next = self
            .notice_state(purpose_id)
            .await?
            .current()
            .map_or(1, |n| n.version + 1);
        let notice = publish(&draft, &purpose.purpose, next, self.now());
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
        self.db
            .purposes
            .publish_notice(purpose_id, &notice, &leaf)
            .await?;
        tracing::info!(purpose = %purpose_id, version = next, material = notice.material, "notice published");
        Ok(notice)
    }
}

/// A stored notice's body as JSON (it was written by [`publish`]).
pub(crate) fn notice_json(n: &Notice) -> Value {
    serde_json::from_str(&n.body).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floor(version: u32, days: Option<u32>) -> NoticeFloor {
        NoticeFloor {
            version,
            published_at: Timestamp::from_unix(86_400),
            reconsent_days: days,
        }
    }

    #[test]
    fn enrolment_follows_the_latest_material_notice() {
        assert!(allows_enrolment(None, "v1"));
        assert!(allows_enrolment(Some(&floor(2, None)), "v2"));
        assert!(allows_enrolment(Some(&floor(2, None)), "v3"));
        assert!(!allows_enrolment(Some(&floor(2, None)), "v1"));
        // A version that is not `vN` is older than every numbered one.
        assert!(!allows_enrolment(Some(&floor(1, None)), "2026-11"));
    }

    #[test]
    fn use_under_an_older_consent_ends_with_its_grace() {
        let f = floor(2, Some(10));
        let day = |d: i64| Timestamp::from_unix(86_400 + d * 86_400);
        assert!(allows_use(Some(&f), "v1", day(9)));
        assert!(!allows_use(Some(&f), "v1", day(10)));
        assert!(allows_use(Some(&f), "v2", day(100)));
        assert!(allows_use(Some(&floor(2, None)), "v1", day(10_000)));
        assert!(allows_use(None, "v1", day(10_000)));
    }

    #[test]
    fn a_published_notice_is_canonical_and_hashed() {
        let purpose = bioguard_core::PurposeSpec {
            id: "pay".into(),
            tenant: None,
            description: "Pay by face".into(),
            operations: vec!["verify".into()],
            dimension: 4,
            threshold: None,
            retention: bioguard_core::RetentionSpec {
                max_days_since_enrolment: 30,
                max_days_since_last_use: None,
            },
            code_bits: None,
            max_gallery_size: None,
            calibration: None,
            risk: None,
            fairness_policy: None,
            notice: None,
        }
        .parse()
        .expect("valid")
        .purpose;
        let draft = NoticeDraft::from_purpose("Pay by face", "Shop Ltd", "EU: GDPR");
        let n = publish(&draft, &purpose, 3, Timestamp::from_unix(5));
        assert_eq!(n.name(), "v3");
        assert_eq!(
            n.hash,
            bioguard_crypto::hex_encode(&sha2::Sha256::digest(n.body.as_bytes()))
        );
        let text = NoticeText::of(&n);
        assert_eq!(text.controller, draft.controller);
        assert_eq!(notice_json(&n)["version"], "v3");
    }
}
