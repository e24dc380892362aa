//! The wire form of a purpose: the fields of `POST /v1/purposes` and of a `purpose.create`
//! proposal, and their one parser.
//!
//! A purpose declared directly and one created through the risk group's quorum go through
//! [`PurposeSpec::parse`], so both keep every field of the request. [`PurposeSpec::canonical`]
//! writes a parsed purpose back in full (every default filled in), which is what a proposal's
//! members sign and what applying the proposal parses again.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::{
    Centre, CodeBits, Description, Dimension, FairnessPolicy, MAX_GALLERY_SIZE, NoticeDraft,
    Operation, Purpose, PurposeId, PurposeName, Retention, RiskPolicy, TenantId, Threshold,
    ValidationError,
};

/// The longest calibration record accepted, in bytes of JSON.
pub const MAX_CALIBRATION_BYTES: usize = 65_536;

/// A JSON document sent as part of a request (a calibration record, a fairness report), kept
/// as its compact text: what is stored, hashed and parsed further is exactly this text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonText(String);

impl JsonText {
    /// Reads JSON text (anything that parses as JSON), kept compact.
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        let v: serde_json::Value = serde_json::from_str(text)?;
        Ok(Self(v.to_string()))
    }

    /// The compact text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The compact text, owned.
    pub fn into_string(self) -> String {
        self.0
    }

    /// Whether it is a JSON object.
    pub fn is_object(&self) -> bool {
        self.0.starts_with('{')
    }
}

impl Serialize for JsonText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v: serde_json::Value =
            serde_json::from_str(&self.0).map_err(serde::ser::Error::custom)?;
        v.serialize(s)
    }
}

impl<'de> Deserialize<'de> for JsonText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        Ok(Self(v.to_string()))
    }
}

/// How long templates for a purpose may be kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSpec {
    /// Days a template may be kept after enrolment.
    pub max_days_since_enrolment: u64,
    /// Days a template may be kept after its last use, if limited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_days_since_last_use: Option<u64>,
}

/// A purpose's risk controls; what is left out takes its default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskSpec {
    /// Every use needs a signed capture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_capture: Option<bool>,
    /// The lowest liveness score a capture may carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_liveness: Option<f64>,
    /// Failed verifications in the window that lock further attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lockout_failures: Option<u32>,
    /// The window, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lockout_window_secs: Option<u32>,
    /// How long a lockout lasts, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lockout_secs: Option<u32>,
    /// A match scored above this asks for a second factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_up_score: Option<u32>,
}

impl RiskSpec {
    /// The policy, defaults filled in (checked with the purpose).
    pub fn policy(&self) -> RiskPolicy {
        let d = RiskPolicy::default();
        RiskPolicy {
            require_capture: self.require_capture.unwrap_or(d.require_capture),
            min_liveness: self.min_liveness.unwrap_or(d.min_liveness),
            lockout_failures: self.lockout_failures.unwrap_or(d.lockout_failures),
            lockout_window_secs: self.lockout_window_secs.unwrap_or(d.lockout_window_secs),
            lockout_secs: self.lockout_secs.unwrap_or(d.lockout_secs),
            step_up_score: self.step_up_score.unwrap_or(d.step_up_score),
        }
    }

    /// The full form of a policy.
    pub fn of(p: &RiskPolicy) -> Self {
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

/// A purpose's fairness policy; what is left out takes its default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FairnessPolicySpec {
    /// The oldest report accepted, in days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_report_age_days: Option<u32>,
    /// The largest FMR max/min ratio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_fmr_ratio: Option<f64>,
    /// The largest FNMR max/min ratio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_fnmr_ratio: Option<f64>,
    /// The largest GARBE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_garbe: Option<f64>,
}

impl FairnessPolicySpec {
    /// The policy, defaults filled in (checked with the purpose).
    pub fn policy(&self) -> FairnessPolicy {
        let d = FairnessPolicy::default();
        FairnessPolicy {
            max_report_age_days: self.max_report_age_days.unwrap_or(d.max_report_age_days),
            max_fmr_ratio: self.max_fmr_ratio.unwrap_or(d.max_fmr_ratio),
            max_fnmr_ratio: self.max_fnmr_ratio.unwrap_or(d.max_fnmr_ratio),
            max_garbe: self.max_garbe.unwrap_or(d.max_garbe),
        }
    }

    /// The full form of a policy.
    pub fn of(p: &FairnessPolicy) -> Self {
        Self {
            max_report_age_days: Some(p.max_report_age_days),
            max_fmr_ratio: Some(p.max_fmr_ratio),
            max_fnmr_ratio: Some(p.max_fnmr_ratio),
            max_garbe: Some(p.max_garbe),
        }
    }
}

/// A version of a purpose's privacy notice, as written by an admin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoticeSpec {
    /// The text shown to the person.
    pub text: String,
    /// A BCP 47 language tag; default `en`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Who is responsible for the processing.
    pub controller: String,
    /// The law that applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jurisdiction: Option<String>,
    /// Who else receives the data.
    #[serde(default)]
    pub recipients: Vec<String>,
    /// How the person withdraws.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawal_method: Option<String>,
    /// Whether earlier consents must be given again (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub material: Option<bool>,
    /// Days earlier consents stay usable for verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconsent_days: Option<u32>,
}

impl NoticeSpec {
    /// The draft, defaults filled in (checked when published).
    pub fn draft(self) -> NoticeDraft {
        // The jurisdiction left out stays empty: the service fills in the operator's (for the
        // default tenant), or refuses the notice.
        let defaults = NoticeDraft::from_purpose(&self.text, &self.controller, "");
        NoticeDraft {
            text: self.text,
            language: self.language.unwrap_or(defaults.language),
            controller: self.controller,
            jurisdiction: self.jurisdiction.unwrap_or_default(),
            recipients: self.recipients,
            withdrawal_method: self.withdrawal_method.unwrap_or(defaults.withdrawal_method),
            material: self.material.unwrap_or(true),
            reconsent_days: self.reconsent_days,
        }
    }

    /// The full form of a draft.
    pub fn of(d: &NoticeDraft) -> Self {
        Self {
            text: d.text.clone(),
            language: Some(d.language.clone()),
            controller: d.controller.clone(),
            jurisdiction: Some(d.jurisdiction.clone()),
            recipients: d.recipients.clone(),
            withdrawal_method: Some(d.withdrawal_method.clone()),
            material: Some(d.material),
            reconsent_days: d.reconsent_days,
        }
    }
}

/// A purpose to declare, as sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurposeSpec {
    /// Identifier: a name inside `tenant`, or (without `tenant`) a qualified id such as
    /// `acme:login`.
    pub id: String,
    /// The tenant the purpose belongs to (absent: the default tenant, or the one `id` names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The text shown to people.
    pub description: String,
    /// Allowed operations.
    pub operations: Vec<String>,
    /// The embedding dimension.
    pub dimension: u64,
    /// Match threshold as cosine similarity, between the embeddings as the matcher compares them
    /// (centred on the calibration's mean when the calibration has one). Default 0.80, or the
    /// calibration record's `threshold` when it has a centre.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// The retention rule.
    pub retention: RetentionSpec,
    /// Protected code length in bits (default 2048).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_bits: Option<u64>,
    /// The largest gallery 1:N search may cover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_gallery_size: Option<u64>,
    /// The calibration record the threshold came from (a JSON object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<JsonText>,
    /// Risk controls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk: Option<RiskSpec>,
    /// What a fairness report must show before a threshold goes live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fairness_policy: Option<FairnessPolicySpec>,
    /// The purpose's first privacy notice (without it: the description, in English).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<NoticeSpec>,
}

/// A parsed purpose with the notice it is published with (`None`: the default notice).
#[derive(Debug, Clone, PartialEq)]
pub struct PurposeDefinition {
    /// The purpose.
    pub purpose: Purpose,
    /// Its first notice, if the request wrote one.
    pub notice: Option<NoticeDraft>,
}

impl PurposeSpec {
    /// Parses the request: every field checked, defaults filled in, the cross-field rules of
    /// [`Purpose::check`] applied.
    pub fn parse(self) -> Result<PurposeDefinition, ValidationError> {
        let operations = self
            .operations
            .iter()
            .map(|s| s.parse())
            .collect::<Result<BTreeSet<Operation>, _>>()?;
        let dimension = Dimension::new(self.dimension)?;
        let calibration = match self.calibration {
            None => None,
            Some(v) if v.is_object() => {
                let text = v.into_string();
                if text.len() > MAX_CALIBRATION_BYTES {
                    return Err(ValidationError::new(
                        "calibration",
                        format!("at most {MAX_CALIBRATION_BYTES} bytes of JSON"),
                    ));
                }
                Some(text)
            }
            Some(_) => {
                return Err(ValidationError::new(
                    "calibration",
                    "a JSON object, as written by `bioguard calibrate --json`",
                ));
            }
        };
        // A calibration with a centre makes a centred matcher, whose threshold is a cosine
        // between centred embeddings: the default (a raw cosine) would mean something else, so
        // the threshold comes from the request or from the record.
        let record: Option<serde_json::Value> = calibration
            .as_deref()
            .map(|t| serde_json::from_str(t).unwrap_or_default());
        let centred = match &record {
            Some(r) => Centre::from_calibration(r, dimension)?.is_some(),
            None => false,
        };
        let threshold = match (self.threshold, &record) {
            (Some(t), _) => Threshold::new(t)?,
            (None, Some(r)) if centred => r
                .get("threshold")
                .and_then(serde_json::Value::as_f64)
                .ok_or_else(|| {
                    ValidationError::new(
                        "threshold",
                        "required with a centred calibration (its record's `threshold`, a \
                         cosine between centred embeddings)",
                    )
                })
                .and_then(Threshold::new)?,
            (None, _) => Threshold::default(),
        };
        let purpose = Purpose {
            id: match &self.tenant {
                None => PurposeId::parse(&self.id),
                Some(t) => PurposeName::parse(&self.id)
                    .and_then(|name| Ok(PurposeId::in_tenant(&TenantId::parse(t)?, &name))),
            }
            .map_err(|e| ValidationError::new("id", e.rule()))?,
            description: Description::parse(&self.description)?,
            operations,
            dimension,
            threshold,
            retention: Retention::new(
                self.retention.max_days_since_enrolment,
                self.retention.max_days_since_last_use,
            )?,
            code_bits: match self.code_bits {
                None => CodeBits::DEFAULT,
                Some(b) => CodeBits::new(b).ok_or_else(|| {
                    ValidationError::new("code_bits", "a multiple of 256 from 512 to 4096")
                })?,
            },
            max_gallery_size: self
                .max_gallery_size
                .map(|n| {
                    u32::try_from(n).map_err(|_| {
                        ValidationError::new(
                            "max_gallery_size",
                            format!("from 1 to {MAX_GALLERY_SIZE}"),
                        )
                    })
                })
                .transpose()?,
            calibration,
            risk: self.risk.as_ref().map(RiskSpec::policy).unwrap_or_default(),
            fairness: self
                .fairness_policy
                .as_ref()
                .map(FairnessPolicySpec::policy)
                .unwrap_or_default(),
        };
        purpose.check()?;
        let notice = self.notice.map(NoticeSpec::draft);
        if let Some(n) = &notice {
            n.check_written()?;
        }
        Ok(PurposeDefinition { purpose, notice })
    }

    /// The full form of a parsed purpose: every field written out, so that parsing it again
    /// gives the same purpose and notice.
    pub fn canonical(d: &PurposeDefinition) -> Self {
        let p = &d.purpose;
        Self {
            id: p.id.to_string(),
            tenant: None,
            description: p.description.as_str().to_owned(),
            operations: p.operations.iter().map(|o| o.as_str().to_owned()).collect(),
            dimension: p.dimension.get() as u64,
            threshold: Some(p.threshold.get()),
            retention: RetentionSpec {
                max_days_since_enrolment: u64::from(p.retention.max_days_since_enrolment()),
                max_days_since_last_use: p.retention.max_days_since_last_use().map(u64::from),
            },
            code_bits: Some(p.code_bits.bits() as u64),
            max_gallery_size: p.max_gallery_size.map(u64::from),
            calibration: p
                .calibration
                .as_deref()
                .and_then(|c| JsonText::parse(c).ok()),
            risk: Some(RiskSpec::of(&p.risk)),
            fairness_policy: Some(FairnessPolicySpec::of(&p.fairness)),
            notice: d.notice.as_ref().map(NoticeSpec::of),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> PurposeSpec {
        serde_json::from_value(serde_json::json!({
            "id": "face-pay", "description": "Pay by face", "dimension": 8,
            "operations": ["enroll", "identify"], "max_gallery_size": 100,
            "retention": {"max_days_since_enrolment": 30},
            "calibration": {"target_fmr": 0.001},
            "risk": {"require_capture": true, "lockout_failures": 3},
            "fairness_policy": {"max_garbe": 0.1},
            "notice": {"text": "We pay by face", "controller": "Shop Ltd", "material": false}
        }))
        .expect("a spec")
    }

    #[test]
    fn every_field_survives_the_canonical_form() {
        let parsed = spec().parse().expect("valid");
        assert!(parsed.purpose.risk.require_capture);
        assert_eq!(parsed.purpose.risk.lockout_failures, 3);
        assert_eq!(parsed.purpose.fairness.max_garbe, 0.1);
        assert_eq!(
            parsed.purpose.calibration.as_deref(),
            Some("{\"target_fmr\":0.001}")
        );
        let notice = parsed.notice.clone().expect("a notice");
        assert_eq!(notice.controller, "Shop Ltd");
        assert!(!notice.material);
        let text = serde_json::to_string(&PurposeSpec::canonical(&parsed)).expect("json");
        let again: PurposeSpec = serde_json::from_str(&text).expect("reads back");
        assert_eq!(again.parse().expect("valid"), parsed);
    }

    #[test]
    fn bad_fields_are_named() {
        type Change = fn(&mut PurposeSpec);
        let cases: [(Change, &str); 4] = [
            (
                |s| s.calibration = JsonText::parse("\"0.79\"").ok(),
                "calibration",
            ),
            (|s| s.code_bits = Some(1000), "code_bits"),
            (|s| s.operations = vec!["verify".into()], "max_gallery_size"),
            (|s| s.id = "Face".into(), "id"),
        ];
        for (change, field) in cases {
            let mut s = spec();
            change(&mut s);
            assert_eq!(s.parse().map_err(|e| e.field()), Err(field));
        }
    }

    #[test]
    fn a_centred_calibration_brings_its_threshold_and_is_checked() {
        let centred = |subjects: u64, values: usize| {
            let mut s = spec();
            s.calibration = JsonText::parse(
                &serde_json::json!({"threshold": 0.31, "centre": {
                    "subjects": subjects, "values": vec![0.1; values]}})
                .to_string(),
            )
            .ok();
            s
        };
        // No threshold in the request: the record's, not the raw-cosine default.
        let p = centred(21, 8).parse().expect("valid").purpose;
        assert_eq!(p.threshold.get(), 0.31);
        // A threshold in the request wins.
        let mut s = centred(21, 8);
        s.threshold = Some(0.4);
        assert_eq!(s.parse().expect("valid").purpose.threshold.get(), 0.4);
        // Too few subjects, or a centre of another dimension, are refused by name.
        let few = centred(5, 8).parse().map_err(|e| e.field());
        assert_eq!(few, Err("calibration.centre.subjects"));
        let short = centred(21, 7).parse().map_err(|e| e.field());
        assert_eq!(short, Err("calibration.centre.values"));
        // A calibration without a centre keeps the default.
        assert_eq!(
            spec().parse().expect("valid").purpose.threshold.get(),
            crate::DEFAULT_THRESHOLD
        );
    }
}
