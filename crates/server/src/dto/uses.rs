//! Bodies of verification and identification.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A 1:N identification request.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentifyRequestBody {
    /// The purpose (must allow `identify`).
    #[schema(example = "face-pay")]
    pub purpose: String,
    /// The gallery to search: the caller's narrowing (a merchant, a region).
    #[schema(example = "store-1")]
    pub gallery: String,
    /// The probe embedding.
    #[schema(example = json!([0.11, -0.02, 0.41]))]
    pub embedding: Vec<f32>,
    /// The most subjects to return (1 to 100, default 5).
    #[serde(default)]
    pub max_candidates: Option<u64>,
    /// The capture, signed by a registered device (purposes with `risk.require_capture`).
    #[serde(default)]
    pub capture: Option<CaptureBody>,
}

/// A batch of 1:N identifications in one gallery.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentifyBatchRequestBody {
    /// The purpose (must allow `identify`).
    pub purpose: String,
    /// The gallery to search.
    pub gallery: String,
    /// The probe embeddings (1 to 256).
    pub embeddings: Vec<Vec<f32>>,
    /// The most subjects to return per probe (1 to 100, default 5).
    #[serde(default)]
    pub max_candidates: Option<u64>,
}

/// The default number of candidates.
pub const DEFAULT_MAX_CANDIDATES: u64 = 5;

/// One subject found by identification.
#[derive(Debug, Serialize, ToSchema)]
pub struct CandidateBody {
    /// The relying party's subject identifier.
    pub subject: String,
    /// 1 for the best match, then 2, ...
    pub rank: usize,
}

/// The result of one identification: subjects above threshold, best first. No scores.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentificationBody {
    /// The decision's id.
    pub decision_id: String,
    /// The subjects found, best first (empty when none is above threshold).
    pub candidates: Vec<CandidateBody>,
}

impl From<&bioguard_service::Identification> for IdentificationBody {
    fn from(i: &bioguard_service::Identification) -> Self {
        Self {
            decision_id: i.decision.to_string(),
            candidates: i
                .subjects
                .iter()
                .enumerate()
                .map(|(n, s)| CandidateBody {
                    subject: s.expose_str().to_owned(),
                    rank: n + 1,
                })
                .collect(),
        }
    }
}

/// The results of a batch, one per probe, in order.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentifyBatchBody {
    /// One result per probe.
    pub results: Vec<IdentificationBody>,
}

/// A 1:1 verification request.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The relying party's subject identifier.
    #[schema(example = "customer-1234")]
    pub subject: String,
    /// The purpose.
    #[schema(example = "payment")]
    pub purpose: String,
    /// The probe embedding.
    #[schema(example = json!([0.11, -0.02, 0.41]))]
    pub embedding: Vec<f32>,
    /// The capture, signed by a registered device (required by purposes with
    /// `risk.require_capture`).
    #[serde(default)]
    pub capture: Option<CaptureBody>,
}

/// A capture signed by a registered device over a fresh challenge (see docs/api.md for the
/// exact bytes signed).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptureBody {
    /// The device id from `POST /v1/devices`.
    pub device: String,
    /// The challenge from `POST /v1/challenges`.
    pub challenge: String,
    /// The device's liveness score, 0 to 1.
    pub liveness: f64,
    /// Ed25519 signature, base64.
    pub signature: String,
}

impl CaptureBody {
    /// The service's form.
    pub fn into_capture(self) -> bioguard_service::Capture {
        bioguard_service::Capture {
            device: self.device,
            challenge: self.challenge,
            liveness: self.liveness,
            signature: self.signature,
        }
    }
}

/// A verification decision. No score is returned.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionBody {
    /// Whether the probe matched the enrolled template.
    #[serde(rename = "match")]
    pub matched: bool,
    /// The decision's id, for disputes and audit.
    pub decision_id: String,
    /// The decision's risk band from its signals: `low`, `medium` or `high`.
    #[schema(value_type = crate::dto::enums::RiskBand)]
    pub risk: &'static str,
    /// `"required"` when the relying party must ask for a second factor before acting on
    /// this match (the purpose's `risk.step_up_score`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::dto::enums::Required>)]
    pub step_up: Option<&'static str>,
}
