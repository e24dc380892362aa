//! Bodies of the purpose endpoints: declaring a purpose (with its risk and fairness
//! policies and first notice), notices, thresholds, the retention schedule.

use bioguard_core::{
    FairnessPolicySpec, FairnessState, Notice, NoticeSpec, PurposeDefinition, PurposeRecord,
    PurposeSpec, RetentionSpec, RiskSpec, ValidationError, rfc3339,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
    /// Identifier inside its tenant: lowercase ASCII letters, digits, `.`, `_`, `-`; 1 to 64
    /// characters. Unique within the tenant.
    #[schema(example = "payment")]
    pub id: String,
    /// The tenant the purpose belongs to (omitted: the default tenant). The purpose's full id
    /// is then `tenant:id`, as the operator and the ledger name it; the tenant's clients name
    /// it by `id` alone.
    #[serde(default)]
    #[schema(example = "acme")]
    pub tenant: Option<String>,
    /// The text shown to people, 1 to 2000 characters.
    #[schema(example = "Pay at the till by looking at the camera")]
    pub description: String,
    /// Allowed operations: `enroll`, `verify`, `identify`.
    #[schema(example = json!(["enroll", "verify"]), value_type = Vec<crate::dto::enums::Operation>)]
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
    pub calibration: Option<bioguard_core::JsonText>,
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
    pub fairness_report: Option<bioguard_core::JsonText>,
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
    #[schema(value_type = crate::dto::enums::FairnessStatus)]
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
    pub fairness_report: Option<bioguard_core::JsonText>,
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
        if self.tenant.is_some() && self.id.contains(':') {
            return Err(ValidationError::new(
                "id",
                "with `tenant`, give the purpose's name alone",
            ));
        }
        PurposeSpec {
            id: self.id,
            tenant: self.tenant,
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
    /// Full identifier: `tenant:name`, or the name alone for the default tenant.
    pub id: String,
    /// The tenant (the controller) it belongs to.
    pub tenant: String,
    /// The name the tenant's clients use.
    pub name: String,
    /// The text shown to people.
    pub description: String,
    /// Allowed operations.
    #[schema(value_type = Vec<crate::dto::enums::Operation>)]
    pub operations: Vec<&'static str>,
    /// Embedding dimension.
    pub dimension: usize,
    /// Match threshold as cosine similarity between the embeddings as the matcher compares
    /// them: centred on the calibration's mean when `matcher.centred`, as sent otherwise.
    pub threshold: f64,
    /// The retention rule.
    pub retention: RetentionBody,
    /// Protected code length in bits.
    pub code_bits: usize,
    /// How the current protection key makes codes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matcher: Option<KeyMatcherBody>,
    /// The largest gallery 1:N search may cover (purposes with `identify`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_gallery_size: Option<u32>,
    /// The calibration record the threshold came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub calibration: Option<bioguard_core::JsonText>,
    /// The version of the purpose's protection key; codes made under earlier versions no
    /// longer match.
    pub protection_key_version: u32,
    /// Risk controls on every use.
    pub risk: RiskBody,
    /// What a fairness report must show before a threshold goes live.
    pub fairness_policy: FairnessPolicyBody,
    /// How the live threshold passed the fairness gate.
    pub fairness: FairnessStateBody,
    /// When the operator retired the purpose (RFC 3339): it takes no new consents or
    /// enrolments, and its templates are used until retention deletes them. Absent while live.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<String>,
}

impl From<&PurposeRecord> for PurposeBody {
    fn from(sp: &PurposeRecord) -> Self {
        let p = &sp.purpose;
        Self {
            id: p.id.to_string(),
            tenant: p.id.tenant().to_string(),
            name: p.id.name().to_owned(),
            description: p.description.as_str().to_owned(),
            operations: p.operations.iter().map(|o| o.as_str()).collect(),
            dimension: p.dimension.get(),
            threshold: p.threshold.get(),
            retention: RetentionBody {
                max_days_since_enrolment: u64::from(p.retention.max_days_since_enrolment()),
                max_days_since_last_use: p.retention.max_days_since_last_use().map(u64::from),
            },
            code_bits: p.code_bits.bits(),
            matcher: sp.matcher.map(|m| KeyMatcherBody {
                transform: m.transform.as_str(),
                centred: m.centred,
            }),
            risk: RiskBody::from_policy(&p.risk),
            fairness_policy: FairnessPolicyBody::from_policy(&p.fairness),
            fairness: FairnessStateBody::from(&sp.fairness),
            max_gallery_size: p.max_gallery_size,
            calibration: p
                .calibration
                .as_deref()
                .and_then(|c| bioguard_core::JsonText::parse(c).ok()),
            protection_key_version: sp.protection_version,
            retired_at: sp.retired_at.map(rfc3339),
        }
    }
}

/// How a purpose's current protection key makes codes (ADR 0024).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyMatcherBody {
    /// The keyed transform.
    #[schema(example = "hadamard-sign")]
    pub transform: &'static str,
    /// Whether embeddings are centred on the calibration's mean (its `centre`) before the
    /// transform; the threshold's cosine is then taken between centred embeddings.
    pub centred: bool,
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

/// One purpose's retention rule, as published.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleEntry {
    /// The purpose.
    pub purpose: String,
    /// Who is responsible for it: its tenant, by name.
    pub controller: String,
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

impl ScheduleEntry {
    /// A purpose's entry, naming its controller from `controllers` (tenant id to name).
    pub fn of(
        sp: &PurposeRecord,
        controllers: &std::collections::BTreeMap<bioguard_core::TenantId, String>,
    ) -> Self {
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
        let tenant = p.id.tenant();
        Self {
            purpose: p.id.to_string(),
            controller: controllers
                .get(&tenant)
                .cloned()
                .unwrap_or_else(|| tenant.to_string()),
            description: p.description.as_str().to_owned(),
            max_days_since_enrolment: u64::from(age),
            max_days_since_last_use: unused.map(u64::from),
            rule,
        }
    }
}
