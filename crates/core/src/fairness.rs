//! Fairness: the report `bioguard fairness evaluate` writes and the gate reads, and how a
//! purpose's live threshold passed the gate.
//!
//! [`FairnessReport`] is the report's one definition. The evaluator fills every field; the
//! gate reads a report sent by someone else, so every field it reads may be missing (a report
//! with a missing field fails the gate with a reason, it is not a malformed request), and
//! fields it does not know are ignored. Non-finite numbers (an infinite ratio) are written as
//! `null`.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// The report format the gate reads.
pub const REPORT_FORMAT: &str = "bioguard-fairness-report/1";

/// How a purpose's live threshold passed the fairness gate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FairnessStatus {
    /// No report accepted yet (created without one).
    #[default]
    None,
    /// A report met the purpose's fairness policy.
    Passed,
    /// A risk-group quorum activated it regardless of the gate.
    Override,
}

impl FairnessStatus {
    /// The text form stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            FairnessStatus::None => "none",
            FairnessStatus::Passed => "passed",
            FairnessStatus::Override => "override",
        }
    }

    /// Reads [`FairnessStatus::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(FairnessStatus::None),
            "passed" => Some(FairnessStatus::Passed),
            "override" => Some(FairnessStatus::Override),
            _ => None,
        }
    }
}

/// How a purpose's live matcher configuration (its threshold) passed the fairness gate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FairnessState {
    /// How.
    pub status: FairnessStatus,
    /// The SHA-256 of the report it rests on, if any.
    pub report_sha256: Option<String>,
    /// When it was activated.
    pub at: Option<Timestamp>,
}

/// A number that may be infinite or undefined: `None` is written as `null`.
pub type Num = Option<f64>;

/// `x` if it is finite.
pub fn finite(x: f64) -> Num {
    x.is_finite().then_some(x)
}

/// The input the report was computed from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReportInput {
    /// `scores` or `embeddings`.
    pub kind: String,
    /// The file's name.
    pub file: String,
    /// The file's SHA-256, hex.
    pub sha256: String,
    /// Comparisons read.
    pub comparisons: u64,
    /// Whether the input names subjects (for the subject-level bootstrap).
    pub subjects_named: bool,
}

/// The form of the matcher a report evaluated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatcherForm {
    /// Not declared (CSV scores without `--matcher`).
    #[default]
    Undeclared,
    /// Cosine similarity of raw embeddings.
    Raw,
    /// The service's protected codes.
    Protected,
    /// A form this version does not know.
    #[serde(other)]
    Unknown,
}

/// The matcher a report evaluated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MatcherInfo {
    /// Its form.
    pub form: MatcherForm,
    /// The protected code length.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_bits: Option<u64>,
    /// The embedding dimension.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dimension: Option<u64>,
    /// Which protection key the evaluation used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// An error rate with its Clopper-Pearson interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RateReport {
    /// Errors counted.
    pub errors: u64,
    /// Trials.
    pub trials: u64,
    /// errors / trials.
    pub value: Num,
    /// The interval.
    pub ci: [Num; 2],
}

/// An equal-error rate and where it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EerReport {
    /// The rate.
    pub value: Num,
    /// The threshold it is at.
    pub threshold: Num,
}

/// A summary of scores.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScoreSummary {
    /// Scores.
    pub count: u64,
    /// Mean.
    pub mean: Num,
    /// Standard deviation.
    pub sd: Num,
    /// Smallest.
    pub min: Num,
    /// 5th percentile.
    pub p05: Num,
    /// Median.
    pub median: Num,
    /// 95th percentile.
    pub p95: Num,
    /// Largest.
    pub max: Num,
}

/// One group's figures (or the whole population's).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupReport {
    /// The group's name.
    pub name: String,
    /// Distinct subjects, when the input names them.
    pub subjects: Option<u64>,
    /// Genuine comparisons.
    pub genuine_comparisons: u64,
    /// Impostor comparisons.
    pub impostor_comparisons: u64,
    /// False-match rate.
    pub fmr: RateReport,
    /// False-non-match rate.
    pub fnmr: RateReport,
    /// The FMR's subject-level bootstrap interval.
    pub fmr_bootstrap_ci: Option<[Num; 2]>,
    /// The FNMR's subject-level bootstrap interval.
    pub fnmr_bootstrap_ci: Option<[Num; 2]>,
    /// The equal-error rate.
    pub eer: Option<EerReport>,
    /// Failure-to-acquire rate.
    pub fta: Option<RateReport>,
    /// Failure-to-enrol rate.
    pub fte: Option<RateReport>,
    /// Genuine scores.
    pub genuine_scores: ScoreSummary,
    /// Impostor scores.
    pub impostor_scores: ScoreSummary,
    /// DET points: (threshold, FMR, FNMR).
    pub det: Vec<[Num; 3]>,
    /// Genuine score histogram over `histogram_edges`.
    pub genuine_histogram: Vec<u64>,
    /// Impostor score histogram.
    pub impostor_histogram: Vec<u64>,
    /// Why the group is too small for its figures to mean much.
    pub too_small: Vec<String>,
}

/// The differentials between groups.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Differentials {
    /// Groups compared.
    pub groups: u64,
    /// Highest over lowest group FMR (`null`: infinite).
    pub fmr_ratio: Num,
    /// Highest over lowest group FNMR.
    pub fnmr_ratio: Num,
    /// Fairness discrepancy rate.
    pub fdr: Num,
    /// Inequity rate.
    pub inequity_rate: Num,
    /// Gini aggregation rate for biometric equitability.
    pub garbe: Num,
}

/// Bootstrap intervals of the differentials.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DifferentialIntervals {
    /// Replicates.
    pub replicates: u64,
    /// FMR ratio interval.
    pub fmr_ratio: Option<[Num; 2]>,
    /// FNMR ratio interval.
    pub fnmr_ratio: Option<[Num; 2]>,
    /// FDR interval.
    pub fdr: Option<[Num; 2]>,
    /// Inequity rate interval.
    pub inequity_rate: Option<[Num; 2]>,
    /// GARBE interval.
    pub garbe: Option<[Num; 2]>,
}

/// A fairness report: per-group error rates of one matcher at one threshold, and their
/// differentials, in the ISO/IEC 19795-10 manner.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FairnessReport {
    /// [`REPORT_FORMAT`].
    pub format: String,
    /// When it was made (RFC 3339, UTC).
    pub generated_at: String,
    /// What made it.
    pub generator: String,
    /// Whether the scores were generated rather than measured (missing: taken as synthetic).
    pub synthetic: Option<bool>,
    /// What was read.
    pub input: ReportInput,
    /// The matcher evaluated.
    pub matcher: MatcherInfo,
    /// The threshold evaluated.
    pub threshold: Num,
    /// `given` or `target_fmr`.
    pub threshold_from: String,
    /// The FMR the threshold was set at, when not given.
    pub target_fmr: Num,
    /// Confidence of every interval.
    pub confidence: Num,
    /// Weight of false matches in FDR, IR and GARBE.
    pub alpha: Num,
    /// Bootstrap replicates.
    pub bootstrap_replicates: u64,
    /// Seed of the bootstrap and the evaluation key.
    pub seed: u64,
    /// The whole population.
    pub overall: GroupReport,
    /// Each group.
    pub groups: Vec<GroupReport>,
    /// The histogram bins' edges.
    pub histogram_edges: Vec<Num>,
    /// The differentials, when at least two groups are large enough.
    pub differentials: Option<Differentials>,
    /// Their bootstrap intervals.
    pub differential_bootstrap_ci: Option<DifferentialIntervals>,
    /// Groups left out of the differentials.
    pub excluded_groups: Vec<String>,
    /// How to read the report, and its limits.
    pub statements: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_report_reads_with_defaults() {
        let r: FairnessReport =
            serde_json::from_str(r#"{"hello":"world","matcher":{"form":"neural"}}"#)
                .expect("reads");
        assert_eq!(r.format, "");
        assert_eq!(r.synthetic, None);
        assert_eq!(r.matcher.form, MatcherForm::Unknown);
        assert!(r.differentials.is_none());
    }

    #[test]
    fn infinite_figures_are_null() {
        let d = Differentials {
            fmr_ratio: finite(f64::INFINITY),
            fnmr_ratio: finite(1.5),
            ..Differentials::default()
        };
        let v = serde_json::to_value(&d).expect("json");
        assert!(v["fmr_ratio"].is_null());
        assert_eq!(v["fnmr_ratio"], 1.5);
    }
}
