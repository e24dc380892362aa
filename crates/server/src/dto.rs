//! Request and response bodies. Requests are raw shapes (`deny_unknown_fields`), parsed into
//! domain types by the `parse` methods; responses are built from domain values.

use std::collections::BTreeSet;

use bioguard_core::{
    Claim, ClientName, ConsentMethod, ConsentRecord, FairnessPolicySpec, FairnessState,
    GalleryName, Grant, Incident, Notice, NoticeSpec, NoticeVersion, Operation, Proposal,
    PurposeDefinition, PurposeId, PurposeRecord, PurposeSpec, RetentionSpec, RiskGroup, RiskSpec,
    SubjectSummary, Timestamp, ValidationError,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use bioguard_core::rfc3339;

fn operations(raw: &[String]) -> Result<BTreeSet<Operation>, ValidationError> {
    raw.iter().map(|s| s.parse()).collect()
}

/// How long templates for a purpose may be kept.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionBody {
    /// Days a template may be kept after enrolment (1 to 3650).
    #[schema(example = 365)]
    pub max_days_since_enrolment: u64,
    /// Days a template may be kept after its last use (1 to 3650), if limited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = 90)]
    pub max_days_since_last_use: Option<u64>,
}

/// A purpose to declare.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PurposeRequest {
    /// Identifier: lowercase ASCII letters, digits, `.`, `_`, `-`; 1 to 64 characters.
    #[schema(example = "payment")]
    pub id: String,
    /// The text shown to people, 1 to 2000 characters.
    #[schema(example = "Pay at the till by looking at the camera")]
    pub description: String,
    /// Allowed operations: `enroll`, `verify`, `identify`.
    #[schema(example = json!(["enroll", "verify"]))]
    pub operations: Vec<String>,
    /// The embedding dimension (2 to 4096).
    #[schema(example = 256)]
    pub dimension: u64,
    /// Match threshold as cosine similarity, in (0, 1]. Default 0.80.
    #[serde(default)]
    #[schema(example = 0.7)]
    pub threshold: Option<f64>,
    /// The retention rule.
    pub retention: RetentionBody,
    /// Protected code length in bits: a multiple of 256 from 512 to 4096. Default 2048.
    #[serde(default)]
    #[schema(example = 2048)]
    pub code_bits: Option<u64>,
    /// The largest gallery 1:N search may cover. Required with `identify`, refused without.
    #[serde(default)]
    #[schema(example = 10000)]
    pub max_gallery_size: Option<u64>,
    /// The calibration record the threshold came from (`bioguard calibrate --json`).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub calibration: Option<serde_json::Value>,
    /// Risk controls (signed captures, liveness, lockout); defaults apply to what is left out.
    #[serde(default)]
    pub risk: Option<RiskBody>,
    /// What a fairness report must show before a threshold goes live; defaults apply to what
    /// is left out.
    #[serde(default)]
    pub fairness_policy: Option<FairnessPolicyBody>,
    /// A fairness report (`bioguard fairness evaluate --json`) for this purpose's matcher at
    /// its threshold. With one, the purpose is created only if the report passes the gate;
    /// without, it is created with fairness status `none`, shown on the transparency report.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub fairness_report: Option<serde_json::Value>,
    /// The purpose's first privacy notice (version v1). Without it, v1 is the description in
    /// English with the operator as controller.
    #[serde(default)]
    pub notice: Option<NoticeRequest>,
}

/// A purpose's fairness policy.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FairnessPolicyBody {
    /// The oldest report accepted, in days (default 180).
    #[serde(default)]
    pub max_report_age_days: Option<u32>,
    /// The largest FMR max/min ratio over groups (default 4).
    #[serde(default)]
    pub max_fmr_ratio: Option<f64>,
    /// The largest FNMR max/min ratio over groups (default 4).
    #[serde(default)]
    pub max_fnmr_ratio: Option<f64>,
    /// The largest GARBE, 0 to 1 (default 0.25).
    #[serde(default)]
    pub max_garbe: Option<f64>,
}

impl FairnessPolicyBody {
    fn spec(self) -> FairnessPolicySpec {
        FairnessPolicySpec {
            max_report_age_days: self.max_report_age_days,
            max_fmr_ratio: self.max_fmr_ratio,
            max_fnmr_ratio: self.max_fnmr_ratio,
            max_garbe: self.max_garbe,
        }
    }

    fn from_policy(p: &bioguard_core::FairnessPolicy) -> Self {
        Self {
            max_report_age_days: Some(p.max_report_age_days),
            max_fmr_ratio: Some(p.max_fmr_ratio),
            max_fnmr_ratio: Some(p.max_fnmr_ratio),
            max_garbe: Some(p.max_garbe),
        }
    }
}

/// How a purpose's live threshold passed the fairness gate.
#[derive(Debug, Serialize, ToSchema)]
pub struct FairnessStateBody {
    /// `none` (no report accepted), `passed` or `override` (a risk-group quorum set the gate
    /// aside).
    pub status: String,
    /// The SHA-256 of the report it rests on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_sha256: Option<String>,
    /// When the threshold went live through the gate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activated_at: Option<String>,
}

impl From<&FairnessState> for FairnessStateBody {
    fn from(s: &FairnessState) -> Self {
        Self {
            status: s.status.as_str().to_owned(),
            report_sha256: s.report_sha256.clone(),
            activated_at: s.at.map(rfc3339),
        }
    }
}

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

/// A new threshold for a purpose, with the fairness report that supports it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatcherRequest {
    /// The threshold to activate, as cosine similarity in (0, 1].
    #[schema(example = 0.8)]
    pub threshold: f64,
    /// The fairness report (`bioguard fairness evaluate --json --threshold T`) for the
    /// purpose's matcher at this threshold.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub fairness_report: Option<serde_json::Value>,
}

/// The outcome of an activation.
#[derive(Debug, Serialize, ToSchema)]
pub struct MatcherBody {
    /// The purpose.
    pub purpose: String,
    /// The threshold now live.
    pub threshold: f64,
    /// How it passed the gate.
    pub fairness: FairnessStateBody,
}

/// A purpose's risk controls.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RiskBody {
    /// Every verify and identify needs a capture signed by a registered device over a fresh
    /// challenge (default false).
    #[serde(default)]
    pub require_capture: Option<bool>,
    /// The lowest liveness score a capture may carry, 0 to 1 (default 0.5).
    #[serde(default)]
    pub min_liveness: Option<f64>,
    /// Failed verifications of one subject in the window that lock further attempts
    /// (default 5; 0: none).
    #[serde(default)]
    pub lockout_failures: Option<u32>,
    /// The window, in seconds (default 30).
    #[serde(default)]
    pub lockout_window_secs: Option<u32>,
    /// How long the lockout lasts, in seconds (default 300).
    #[serde(default)]
    pub lockout_secs: Option<u32>,
    /// A match with a risk score above this (0 to 100) answers `"step_up":"required"`
    /// (default 100: never).
    #[serde(default)]
    pub step_up_score: Option<u32>,
}

impl RiskBody {
    fn spec(self) -> RiskSpec {
        RiskSpec {
            require_capture: self.require_capture,
            min_liveness: self.min_liveness,
            lockout_failures: self.lockout_failures,
            lockout_window_secs: self.lockout_window_secs,
            lockout_secs: self.lockout_secs,
            step_up_score: self.step_up_score,
        }
    }

    /// The answer form of a policy.
    pub fn from_policy(p: &bioguard_core::RiskPolicy) -> Self {
        Self {
            require_capture: Some(p.require_capture),
            min_liveness: Some(p.min_liveness),
            lockout_failures: Some(p.lockout_failures),
            lockout_window_secs: Some(p.lockout_window_secs),
            lockout_secs: Some(p.lockout_secs),
            step_up_score: Some(p.step_up_score),
        }
    }
}

/// A version of a purpose's privacy notice.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoticeRequest {
    /// The text shown to the person (up to 20,000 bytes).
    pub text: String,
    /// A BCP 47 language tag. Default `en`.
    #[serde(default)]
    pub language: Option<String>,
    /// Who is responsible for the processing.
    pub controller: String,
    /// The law that applies. Default: as stated by the operator.
    #[serde(default)]
    pub jurisdiction: Option<String>,
    /// Who else receives the data (default: nobody).
    #[serde(default)]
    pub recipients: Vec<String>,
    /// How the person withdraws.
    #[serde(default)]
    pub withdrawal_method: Option<String>,
    /// Whether people who consented to earlier versions must consent again (default true).
    #[serde(default)]
    pub material: Option<bool>,
    /// For a material change: days templates under earlier consents stay usable for
    /// verification (1 to 3650; default: until the person consents again).
    #[serde(default)]
    pub reconsent_days: Option<u32>,
}

impl NoticeRequest {
    /// The notice as the one parser of notices takes it.
    pub fn into_spec(self) -> NoticeSpec {
        NoticeSpec {
            text: self.text,
            language: self.language,
            controller: self.controller,
            jurisdiction: self.jurisdiction,
            recipients: self.recipients,
            withdrawal_method: self.withdrawal_method,
            material: self.material,
            reconsent_days: self.reconsent_days,
        }
    }
}

/// A published notice version.
#[derive(Debug, Serialize, ToSchema)]
pub struct NoticeBody {
    /// `v1`, `v2`, ...
    pub version: String,
    /// SHA-256 (hex) of the notice's canonical JSON, `body` exactly as served in `canonical`.
    pub hash: String,
    /// Whether people who consented to earlier versions must consent again.
    pub material: bool,
    /// Days earlier consents stay usable for verification after publication, if limited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconsent_days: Option<u32>,
    /// When it was published (RFC 3339).
    pub published_at: String,
    /// The notice itself.
    #[schema(value_type = Object)]
    pub notice: serde_json::Value,
    /// The exact bytes hashed.
    pub canonical: String,
}

impl From<&Notice> for NoticeBody {
    fn from(n: &Notice) -> Self {
        Self {
            version: n.name(),
            hash: n.hash.clone(),
            material: n.material,
            reconsent_days: n.reconsent_days,
            published_at: rfc3339(n.published_at),
            notice: serde_json::from_str(&n.body).unwrap_or(serde_json::Value::Null),
            canonical: n.body.clone(),
        }
    }
}

impl PurposeRequest {
    /// Parses the request into a purpose and its first notice, with the one parser of
    /// purposes (the same as a `purpose.create` proposal's).
    pub fn parse(self) -> Result<PurposeDefinition, ValidationError> {
        PurposeSpec {
            id: self.id,
            description: self.description,
            operations: self.operations,
            dimension: self.dimension,
            threshold: self.threshold,
            retention: RetentionSpec {
                max_days_since_enrolment: self.retention.max_days_since_enrolment,
                max_days_since_last_use: self.retention.max_days_since_last_use,
            },
            code_bits: self.code_bits,
            max_gallery_size: self.max_gallery_size,
            calibration: self.calibration,
            risk: self.risk.map(RiskBody::spec),
            fairness_policy: self.fairness_policy.map(FairnessPolicyBody::spec),
            notice: self.notice.map(NoticeRequest::into_spec),
        }
        .parse()
    }
}

/// A declared purpose.
#[derive(Debug, Serialize, ToSchema)]
pub struct PurposeBody {
    /// Identifier.
    pub id: String,
    /// The text shown to people.
    pub description: String,
    /// Allowed operations.
    pub operations: Vec<&'static str>,
    /// Embedding dimension.
    pub dimension: usize,
    /// Match threshold as cosine similarity.
    pub threshold: f64,
    /// The retention rule.
    pub retention: RetentionBody,
    /// Protected code length in bits.
    pub code_bits: usize,
    /// The largest gallery 1:N search may cover (purposes with `identify`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_gallery_size: Option<u32>,
    /// The calibration record the threshold came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub calibration: Option<serde_json::Value>,
    /// The version of the purpose's protection key; codes made under earlier versions no
    /// longer match.
    pub protection_key_version: u32,
    /// Risk controls on every use.
    pub risk: RiskBody,
    /// What a fairness report must show before a threshold goes live.
    pub fairness_policy: FairnessPolicyBody,
    /// How the live threshold passed the fairness gate.
    pub fairness: FairnessStateBody,
}

impl From<&PurposeRecord> for PurposeBody {
    fn from(sp: &PurposeRecord) -> Self {
        let p = &sp.purpose;
        Self {
            id: p.id.to_string(),
            description: p.description.as_str().to_owned(),
            operations: p.operations.iter().map(|o| o.as_str()).collect(),
            dimension: p.dimension.get(),
            threshold: p.threshold.get(),
            retention: RetentionBody {
                max_days_since_enrolment: u64::from(p.retention.max_days_since_enrolment()),
                max_days_since_last_use: p.retention.max_days_since_last_use().map(u64::from),
            },
            code_bits: p.code_bits.bits(),
            risk: RiskBody::from_policy(&p.risk),
            fairness_policy: FairnessPolicyBody::from_policy(&p.fairness),
            fairness: FairnessStateBody::from(&sp.fairness),
            max_gallery_size: p.max_gallery_size,
            calibration: p
                .calibration
                .as_deref()
                .and_then(|c| serde_json::from_str(c).ok()),
            protection_key_version: sp.protection_version,
        }
    }
}

/// A grant: operations a client may perform for a purpose.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    /// The purpose.
    #[schema(example = "payment")]
    pub purpose: String,
    /// The operations.
    #[schema(example = json!(["enroll", "verify"]))]
    pub operations: Vec<String>,
}

/// A client (relying party) to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientRequest {
    /// Display name, 1 to 100 characters.
    #[schema(example = "shop")]
    pub name: String,
    /// What the client may do.
    #[serde(default)]
    pub grants: Vec<GrantBody>,
}

impl ClientRequest {
    /// Parses the request.
    pub fn parse(self) -> Result<(ClientName, BTreeSet<Grant>), ValidationError> {
        let name = ClientName::parse(&self.name)?;
        let mut grants = BTreeSet::new();
        for g in &self.grants {
            let purpose = PurposeId::parse(&g.purpose)
                .map_err(|e| ValidationError::new("grants", format!("purpose: {}", e.rule())))?;
            if g.operations.is_empty() {
                return Err(ValidationError::new(
                    "grants",
                    "each grant needs at least one operation",
                ));
            }
            for op in
                operations(&g.operations).map_err(|e| ValidationError::new("grants", e.rule()))?
            {
                grants.insert(Grant {
                    purpose: purpose.clone(),
                    operation: op,
                });
            }
        }
        Ok((name, grants))
    }
}

/// A created client. The API key is shown only in this response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientCreatedBody {
    /// The client's id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The grants.
    pub grants: Vec<GrantBody>,
    /// The API key: send it as `Authorization: Bearer <key>`. Shown once; only a keyed
    /// digest is stored.
    pub api_key: String,
}

pub(crate) fn grant_bodies(grants: &BTreeSet<Grant>) -> Vec<GrantBody> {
    let mut out: Vec<GrantBody> = Vec::new();
    for g in grants {
        match out.last_mut() {
            Some(last) if last.purpose == g.purpose.as_str() => {
                last.operations.push(g.operation.as_str().to_owned());
            }
            _ => out.push(GrantBody {
                purpose: g.purpose.to_string(),
                operations: vec![g.operation.as_str().to_owned()],
            }),
        }
    }
    out
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
    #[schema(example = "granted")]
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
            purpose: c.purpose.to_string(),
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

/// The result of rotating a purpose's protection key.
#[derive(Debug, Serialize, ToSchema)]
pub struct RotationBody {
    /// The purpose.
    pub purpose: String,
    /// The new key version.
    pub protection_key_version: u32,
    /// What happens now.
    pub note: &'static str,
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

/// A capture device to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceRequest {
    /// A name for people.
    pub name: String,
    /// The device's Ed25519 public key, base64 (32 bytes).
    pub public_key: String,
}

/// A challenge request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChallengeRequest {
    /// The purpose the capture is for.
    pub purpose: String,
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
    pub risk: &'static str,
    /// `"required"` when the relying party must ask for a second factor before acting on
    /// this match (the purpose's `risk.step_up_score`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_up: Option<&'static str>,
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
            .map(|c| c.purpose.to_string())
            .chain(s.templates.iter().map(|t| t.purpose.to_string()))
            .collect();
        Self {
            purposes: purposes.into_iter().collect(),
            consents: s.consents.iter().map(ConsentBody::from).collect(),
            templates: s
                .templates
                .iter()
                .map(|t| TemplateInfoBody {
                    purpose: t.purpose.to_string(),
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

/// Service health.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthBody {
    /// `ok`.
    pub status: &'static str,
    /// `sqlite` or `postgres`.
    pub database: &'static str,
}

/// The audit log's identity and public key.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditKeyBody {
    /// The origin line of every checkpoint.
    pub origin: String,
    /// The verifier key, `name+keyid+base64(0x01 || Ed25519 public key)`.
    pub verifier_key: String,
    /// The signature algorithm.
    pub algorithm: &'static str,
    /// The checkpoint format.
    pub checkpoint_format: &'static str,
    /// How leaves are hashed.
    pub leaf_hash: &'static str,
}

/// An inclusion proof.
#[derive(Debug, Serialize, ToSchema)]
pub struct InclusionBody {
    /// The leaf's index.
    pub index: u64,
    /// The tree size the proof is for.
    pub size: u64,
    /// The leaf's hash (base64).
    pub leaf_hash: String,
    /// The audit path (base64 hashes, RFC 6962 order).
    pub hashes: Vec<String>,
}

/// A consistency proof.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsistencyBody {
    /// The older tree size.
    pub from: u64,
    /// The newer tree size.
    pub to: u64,
    /// The proof (base64 hashes, RFC 6962 order).
    pub hashes: Vec<String>,
}

/// A run of leaves.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeavesBody {
    /// The index of the first leaf.
    pub start: u64,
    /// The leaves, each the exact text that is hashed.
    pub leaves: Vec<String>,
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
}

/// One kept checkpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckpointEntry {
    /// The tree size it signs.
    pub size: u64,
    /// The signed note.
    pub note: String,
}

/// Kept checkpoints, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckpointsBody {
    /// The checkpoints.
    pub checkpoints: Vec<CheckpointEntry>,
}

/// One purpose's retention rule, as published.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleEntry {
    /// The purpose.
    pub purpose: String,
    /// What it is for.
    pub description: String,
    /// Templates are deleted this many days after enrolment.
    pub max_days_since_enrolment: u64,
    /// Templates are deleted this many days after their last use (or enrolment, if never
    /// used), when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_days_since_last_use: Option<u64>,
    /// The rule in words.
    pub rule: String,
}

/// The published retention schedule.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleBody {
    /// How the schedule is enforced.
    pub enforcement: String,
    /// How often this node sweeps expired templates, in seconds, when it runs a sweeper.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep_interval_seconds: Option<u64>,
    /// Every purpose's rule.
    pub purposes: Vec<ScheduleEntry>,
}

impl From<&PurposeRecord> for ScheduleEntry {
    fn from(sp: &PurposeRecord) -> Self {
        let p = &sp.purpose;
        let age = p.retention.max_days_since_enrolment();
        let unused = p.retention.max_days_since_last_use();
        let rule = match unused {
            Some(u) => format!(
                "deleted {age} days after enrolment, or {u} days after its last use if that \
                 comes first"
            ),
            None => format!("deleted {age} days after enrolment"),
        };
        Self {
            purpose: p.id.to_string(),
            description: p.description.as_str().to_owned(),
            max_days_since_enrolment: u64::from(age),
            max_days_since_last_use: unused.map(u64::from),
            rule,
        }
    }
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

/// A member of the risk group.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberBody {
    /// The member's name.
    pub name: String,
    /// The member's Ed25519 public key, base64 (32 bytes).
    pub public_key: String,
}

/// The risk group: members and the quorum of signatures sensitive changes need.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupBody {
    /// Signatures needed (M of N).
    pub quorum: u32,
    /// The members (N, at most 16).
    pub members: Vec<MemberBody>,
}

impl GroupBody {
    /// The group, checked.
    pub fn parse(&self) -> Result<RiskGroup, ValidationError> {
        bioguard_core::GroupSpec {
            quorum: self.quorum,
            members: self
                .members
                .iter()
                .map(|m| bioguard_core::MemberSpec {
                    name: m.name.clone(),
                    public_key: m.public_key.clone(),
                })
                .collect(),
        }
        .parse()
    }

    /// The answer form of a group.
    pub fn from_group(g: &RiskGroup) -> Self {
        let spec = g.spec();
        Self {
            quorum: spec.quorum,
            members: spec
                .members
                .into_iter()
                .map(|m| MemberBody {
                    name: m.name,
                    public_key: m.public_key,
                })
                .collect(),
        }
    }
}

/// A proposal to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposalRequest {
    /// The change: `{"type":"key.destroy_version","version":N}`, `{"type":"key.rotate"}`,
    /// `{"type":"purpose.create","purpose":{...as POST /v1/purposes}}`,
    /// `{"type":"client.create","name":...,"grants":[{"purpose","operation"}]}`,
    /// `{"type":"group.change","quorum":M,"members":[...]}` or
    /// `{"type":"fairness.override","purpose","threshold","report_sha256","reason"}`.
    #[schema(value_type = Object)]
    pub action: bioguard_core::ActionSpec,
    /// Seconds until it expires (60 to 2592000; default 7 days).
    #[serde(default)]
    pub ttl_secs: Option<u64>,
}

/// A proposal.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProposalBody {
    /// Its id.
    pub id: String,
    /// The canonical payload: sign exactly these bytes (UTF-8) with Ed25519.
    pub payload: String,
    /// `open`, `applying`, `applied` or `failed`.
    pub status: String,
    /// When it expires (RFC 3339).
    pub expires_at: String,
    /// The members who approved it.
    pub approvals: Vec<String>,
    /// What applying it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
}

impl From<&Proposal> for ProposalBody {
    fn from(p: &Proposal) -> Self {
        Self {
            id: p.id.to_string(),
            payload: p.payload.clone(),
            status: p.status.as_str().to_owned(),
            expires_at: rfc3339(p.expires_at),
            approvals: p.approvals.clone(),
            result: p.result.clone(),
        }
    }
}

/// A member's signature over a proposal's payload.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequest {
    /// The member's name.
    pub member: String,
    /// The Ed25519 signature over the payload's bytes, base64 (64 bytes).
    pub signature: String,
}

/// Where the proposal stands after an approval.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalBody {
    /// Approvals so far.
    pub approvals: u32,
    /// Approvals needed.
    pub quorum: u32,
    /// `open`, `applied` or `failed`.
    pub status: String,
    /// What applying did, once applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
}

/// An incident to open.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentRequest {
    /// What kind (default `operator`).
    #[serde(default)]
    pub kind: Option<String>,
    /// What happened.
    pub summary: String,
}

/// An action on an incident.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentActionRequest {
    /// `suspend_client`, `reinstate_client`, `note` or `close`.
    pub action: String,
    /// The client, for suspend and reinstate.
    #[serde(default)]
    pub client: Option<String>,
    /// The purpose, for `revoke_purpose_key`.
    #[serde(default)]
    pub purpose: Option<String>,
    /// The device, for `revoke_device`.
    #[serde(default)]
    pub device: Option<String>,
    /// A note, for `note` and `close`.
    #[serde(default)]
    pub note: Option<String>,
}

/// An incident and its timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentBody {
    /// Its id.
    pub id: String,
    /// What kind.
    pub kind: String,
    /// What happened.
    pub summary: String,
    /// `detector` or `admin`.
    pub opened_by: String,
    /// When (RFC 3339).
    pub opened_at: String,
    /// When it was closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<String>,
    /// The timeline: `{"at","action","detail"}`, in order.
    #[schema(value_type = Vec<Object>)]
    pub timeline: Vec<serde_json::Value>,
    /// Notifications owed to affected subjects: counts `on_time`, `late`, `pending`, and
    /// `items` (`subject` pseudonym, `purpose`, `deadline`, `sent_at`).
    #[schema(value_type = Object)]
    pub notifications: serde_json::Value,
}

impl IncidentBody {
    /// With the incident's notifications.
    pub fn with_notifications(mut self, n: &bioguard_service::Notifications) -> Self {
        self.notifications = serde_json::json!({
            "on_time": n.counts.on_time, "late": n.counts.late, "pending": n.counts.pending,
            "items": n.items.iter().map(|i| serde_json::json!({
                "subject": i.subject.as_str(), "purpose": i.purpose.as_str(),
                "deadline": rfc3339(i.deadline), "sent_at": i.sent_at.map(rfc3339)}))
                .collect::<Vec<_>>(),
        });
        self
    }
}

impl From<&Incident> for IncidentBody {
    fn from(i: &Incident) -> Self {
        Self {
            id: i.id.to_string(),
            kind: i.kind.clone(),
            summary: i.summary.clone(),
            opened_by: i.opened_by.as_str().to_owned(),
            opened_at: rfc3339(i.opened_at),
            closed_at: i.closed_at.map(rfc3339),
            timeline: i
                .events
                .iter()
                .map(|e| {
                    serde_json::json!({"at": rfc3339(e.at), "action": e.action, "detail": e.detail})
                })
                .collect(),
            notifications: serde_json::json!({"on_time": 0, "late": 0, "pending": 0, "items": []}),
        }
    }
}

/// A claim to file.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    /// The disputed decision's id (`dec_...`).
    pub decision_id: String,
    /// ISO 4217 currency code.
    pub currency: String,
    /// The amount claimed, in minor units (cents).
    pub amount: i64,
    /// What went wrong.
    pub reason: String,
}

/// A reviewer's decision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimDecisionRequest {
    /// Approve (and pay from the reserve) or deny.
    pub approve: bool,
    /// Why.
    pub reason: String,
}

/// A reserve top-up.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopupRequest {
    /// ISO 4217 currency code.
    pub currency: String,
    /// Minor units.
    pub amount: i64,
    /// A note for the books.
    #[serde(default)]
    pub memo: Option<String>,
}

/// A claim as shown.
pub fn claim_json(c: &Claim) -> serde_json::Value {
    serde_json::json!({
        "id": c.id.as_str(), "decision_id": c.decision.as_str(), "status": c.status.as_str(),
        "amount": {"currency": c.amount.currency(), "minor_units": c.amount.minor_units()},
        "reason": c.reason,
        "filed_at": rfc3339(c.filed_at), "decision_due": rfc3339(c.deadline),
        "decided_at": c.decided_at.map(rfc3339), "decision_reason": c.decision_reason,
    })
}

/// A claim reviewer to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewerRequest {
    /// The reviewer's name.
    pub name: String,
}
