//! Bodies of the subject endpoints: consent, enrolment, what is held, erasure, locks,
//! history, portal links.

use std::collections::BTreeSet;

use bioguard_core::{
    ConsentMethod, ConsentRecord, GalleryName, NoticeVersion, SubjectSummary, Timestamp,
    ValidationError, rfc3339,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A portal link to issue.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalLinkRequest {
    /// How long the link works, 60 to 3600 seconds (default 900).
    #[serde(default)]
    #[schema(example = 900)]
    pub ttl_secs: Option<u32>,
}

/// An issued portal link.
#[derive(Debug, Serialize, ToSchema)]
pub struct PortalLinkBody {
    /// The path to give the person, after this service's public address. It holds a secret
    /// token: send it only to the person.
    #[schema(example = "/portal/open/bgp_...")]
    pub url: String,
    /// When it stops working.
    pub expires_at: String,
}

/// Consent to record.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentRequest {
    /// The version of the privacy notice the person was shown.
    #[schema(example = "v1")]
    pub notice_version: String,
    /// How consent was collected.
    #[schema(example = "in-app")]
    pub method: String,
}

impl ConsentRequest {
    /// Parses the request.
    pub fn parse(self) -> Result<(NoticeVersion, ConsentMethod), ValidationError> {
        Ok((
            NoticeVersion::parse(&self.notice_version)?,
            ConsentMethod::parse(&self.method)?,
        ))
    }
}

/// A consent record.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentBody {
    /// The record's id.
    pub id: String,
    /// The purpose.
    pub purpose: String,
    /// The notice version shown.
    pub notice_version: String,
    /// How consent was collected.
    pub method: String,
    /// `granted`, `withdrawn` or `superseded`.
    #[schema(value_type = crate::dto::enums::ConsentStatus)]
    pub status: &'static str,
    /// When consent was given.
    pub granted_at: String,
    /// When it ended, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    /// The client that recorded it.
    pub recorded_by: String,
    /// The signed consent receipt for the person to keep (a compact JWS, EdDSA; check it
    /// with `GET /v1/keys` or `bioguard receipt verify`). Only in answers to grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
}

impl From<&ConsentRecord> for ConsentBody {
    fn from(c: &ConsentRecord) -> Self {
        Self {
            id: c.id.to_string(),
            purpose: c.purpose.name().to_owned(),
            notice_version: c.notice_version.as_str().to_owned(),
            method: c.method.as_str().to_owned(),
            status: c.state.status(),
            granted_at: rfc3339(c.granted_at),
            ended_at: c.ended_at().map(rfc3339),
            recorded_by: c.client.to_string(),
            receipt: None,
        }
    }
}

/// The result of a withdrawal.
#[derive(Debug, Serialize, ToSchema)]
pub struct WithdrawalBody {
    /// The consent record, now withdrawn.
    pub consent: ConsentBody,
    /// Whether a template was deleted (and its data key destroyed) in the same transaction.
    pub template_destroyed: bool,
    /// The signed receipt of the withdrawal, for the person to keep (compact JWS, EdDSA).
    pub receipt: String,
}

/// An embedding to enrol.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateRequest {
    /// The embedding: the purpose's dimension of finite numbers.
    #[schema(example = json!([0.12, -0.03, 0.4]))]
    pub embedding: Vec<f32>,
    /// Galleries 1:N search may find this template in (purposes with `identify`; at most 16).
    #[serde(default)]
    #[schema(example = json!(["store-1"]))]
    pub galleries: Vec<String>,
}

pub(crate) fn galleries(raw: &[String]) -> Result<Vec<GalleryName>, ValidationError> {
    raw.iter()
        .map(|g| GalleryName::parse(g).map_err(|e| ValidationError::new("galleries", e.rule())))
        .collect()
}

/// The result of an enrolment.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnrolmentBody {
    /// The purpose.
    pub purpose: String,
    /// When the template was stored.
    pub enrolled_at: String,
    /// Whether an earlier template was replaced.
    pub replaced: bool,
    /// The galleries 1:N search can find it in.
    pub galleries: Vec<String>,
}

/// A template held for a purpose (never its bytes).
#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateInfoBody {
    /// The purpose.
    pub purpose: String,
    /// When it was enrolled.
    pub enrolled_at: String,
    /// When it was last used, if ever.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
}

/// Everything held about a subject.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubjectBody {
    /// Purposes for which anything is held.
    pub purposes: Vec<String>,
    /// Consent records, oldest first, live and ended.
    pub consents: Vec<ConsentBody>,
    /// Templates held, by purpose.
    pub templates: Vec<TemplateInfoBody>,
    /// Since when (RFC 3339) the subject has locked the use of their biometrics, if locked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked_at: Option<String>,
}

impl From<&SubjectSummary> for SubjectBody {
    fn from(s: &SubjectSummary) -> Self {
        let purposes: BTreeSet<String> = s
            .consents
            .iter()
            .map(|c| c.purpose.name().to_owned())
            .chain(s.templates.iter().map(|t| t.purpose.name().to_owned()))
            .collect();
        Self {
            purposes: purposes.into_iter().collect(),
            consents: s.consents.iter().map(ConsentBody::from).collect(),
            templates: s
                .templates
                .iter()
                .map(|t| TemplateInfoBody {
                    purpose: t.purpose.name().to_owned(),
                    enrolled_at: rfc3339(t.enrolled_at),
                    last_used_at: t.last_used_at.map(rfc3339),
                })
                .collect(),
            locked_at: s.locked_at.map(rfc3339),
        }
    }
}

/// What an erasure deleted.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErasureBody {
    /// Always true: nothing is held about the subject any more.
    pub erased: bool,
    /// Templates deleted.
    pub templates_deleted: u64,
    /// Data keys destroyed.
    pub data_keys_destroyed: u64,
    /// Consent records deleted.
    pub consents_deleted: u64,
    /// The audit leaf that records the erasure.
    pub ledger_index: u64,
    /// The signed deletion certificate for the person to keep (compact JWS, EdDSA).
    pub certificate: String,
}

impl From<bioguard_service::Erasure> for ErasureBody {
    fn from(e: bioguard_service::Erasure) -> Self {
        Self {
            erased: true,
            templates_deleted: e.templates,
            data_keys_destroyed: e.data_keys,
            consents_deleted: e.consents,
            ledger_index: e.ledger_index,
            certificate: e.certificate,
        }
    }
}

/// One entry of a subject's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEntry {
    /// The leaf's index, for `GET /v1/audit/proof/inclusion`.
    pub index: u64,
    /// The leaf, exactly as hashed.
    pub leaf: String,
}

/// A subject's history: every change and use recorded about them.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryBody {
    /// The entries, oldest first.
    pub entries: Vec<HistoryEntry>,
    /// The `after` of the next page, when there may be one (absent on the last page).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<u64>,
}

/// Whether a subject's biometrics are locked.
#[derive(Debug, Serialize, ToSchema)]
pub struct LockBody {
    /// Whether verification, enrolment and identification are refused for the subject.
    pub locked: bool,
    /// Since when (RFC 3339), if locked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked_at: Option<String>,
}

impl LockBody {
    /// The answer for a lock state.
    pub fn new(at: Option<Timestamp>) -> Self {
        Self {
            locked: at.is_some(),
            locked_at: at.map(rfc3339),
        }
    }
}
