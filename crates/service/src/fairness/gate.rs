//! The fairness gate's rule. A threshold may go live for a purpose only with a fairness
//! report (from `bioguard fairness evaluate`) that was made for this purpose's matcher and
//! that threshold, is recent enough, is on real data, and meets the purpose's fairness policy.
//! The runtime API never sees demographic attributes: only the report's aggregate figures
//! reach the service.

use bioguard_core::{FairnessReport, MatcherForm, Num, Purpose, REPORT_FORMAT, Timestamp};
use sha2::{Digest, Sha256};

/// The largest report accepted, in bytes of JSON.
pub const MAX_REPORT_BYTES: usize = 4 << 20;

/// Tolerance when comparing a report's threshold with the one to activate.
const THRESHOLD_TOLERANCE: f64 = 1e-9;

/// A report as submitted: its canonical JSON text (what is hashed and kept) and what it says,
/// if it reads as a report at all.
#[derive(Debug, Clone)]
pub struct SubmittedReport {
    text: String,
    read: Result<FairnessReport, String>,
}

impl SubmittedReport {
    /// A report from its canonical JSON text.
    pub fn from_text(text: String) -> Self {
        let read = serde_json::from_str::<FairnessReport>(&text).map_err(|e| e.to_string());
        Self { text, read }
    }

    /// The canonical text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The SHA-256 of the canonical text, hex.
    pub fn sha256(&self) -> String {
        bioguard_crypto::hex_encode(&Sha256::digest(self.text.as_bytes()))
    }
}

/// What the gate found.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Whether the report meets the policy for this configuration.
    pub passed: bool,
    /// Every reason it does not (empty when it passed).
    pub reasons: Vec<String>,
    /// The report's SHA-256 (hex), when a report was given.
    pub report_sha256: Option<String>,
}

/// Seconds since the epoch of an RFC 3339 UTC time as the CLI writes it.
fn parse_time(s: &str) -> Option<i64> {
    humantime::parse_rfc3339(s)
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
}

/// Checks `report` for activating `threshold` on `purpose` at `now`.
pub fn check_report(
    purpose: &Purpose,
    threshold: f64,
    report: Option<&SubmittedReport>,
    now: Timestamp,
) -> Verdict {
    let Some(submitted) = report else {
        return Verdict {
            passed: false,
            reasons: vec!["no fairness report was given".into()],
            report_sha256: None,
        };
    };
    let reasons = match &submitted.read {
        Ok(r) => findings(purpose, threshold, r, now),
        Err(why) => vec![format!(
            "the report is not a {REPORT_FORMAT} document that can be read ({why})"
        )],
    };
    Verdict {
        passed: reasons.is_empty(),
        reasons,
        report_sha256: Some(submitted.sha256()),
    }
}

/// Every reason `r` does not allow `threshold` on `purpose` at `now`.
fn findings(purpose: &Purpose, threshold: f64, r: &FairnessReport, now: Timestamp) -> Vec<String> {
    let mut reasons = Vec::new();
    let policy = &purpose.fairness;
    if r.format != REPORT_FORMAT {
        reasons.push(format!("the report is not a {REPORT_FORMAT} document"));
    }
    if r.synthetic != Some(false) {
        reasons.push("the report is on synthetic data (or does not say it is not)".into());
    }
    // The matcher: the purpose's protected codes of its length.
    let m = &r.matcher;
    if m.form != MatcherForm::Protected || m.code_bits != Some(purpose.code_bits.bits() as u64) {
        reasons.push(format!(
            "the report is for the matcher {}, not this purpose's protected {}-bit codes",
            serde_json::to_string(m).unwrap_or_default(),
            purpose.code_bits.bits()
        ));
    }
    if let Some(d) = m.dimension
        && d != purpose.dimension.get() as u64
    {
        reasons.push(format!(
            "the report's embeddings have dimension {d}, the purpose's {}",
            purpose.dimension.get()
        ));
    }
    match r.threshold {
        Some(t) if (t - threshold).abs() <= THRESHOLD_TOLERANCE => {}
        Some(t) => reasons.push(format!(
            "the report was made at threshold {t}, not {threshold}: evaluate at the threshold \
             to activate (bioguard fairness evaluate --threshold {threshold})"
        )),
        None => reasons.push("the report names no threshold".into()),
    }
    match parse_time(&r.generated_at) {
        None => reasons.push("the report has no readable generated_at time".into()),
        Some(at) => {
            let age = now.unix() - at;
            let max = i64::from(policy.max_report_age_days) * 86_400;
            if age > max {
                reasons.push(format!(
                    "the report is {} days old; the policy accepts at most {}",
                    age / 86_400,
                    policy.max_report_age_days
                ));
            } else if age < -300 {
                reasons.push("the report is dated in the future".into());
            }
        }
    }
    match &r.differentials {
        None => reasons.push(
            "the report has no differentials (fewer than two groups large enough to compare)"
                .into(),
        ),
        Some(d) => {
            let mut limit = |value: Num, what: &str, max: f64| match value {
                Some(v) if v <= max => {}
                Some(v) => reasons.push(format!("{what} {v:.4} exceeds the policy's {max}")),
                None => reasons.push(format!(
                    "{what} is infinite or missing (a group with no errors of that kind \
                     beside one with some); the policy allows at most {max}"
                )),
            };
            limit(d.fmr_ratio, "the FMR max/min ratio", policy.max_fmr_ratio);
            limit(
                d.fnmr_ratio,
                "the FNMR max/min ratio",
                policy.max_fnmr_ratio,
            );
            limit(d.garbe, "GARBE", policy.max_garbe);
        }
    }
    reasons
}

#[cfg(test)]
mod tests {
    use bioguard_core::{PurposeSpec, rfc3339};
    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn purpose() -> Purpose {
        serde_json::from_value::<PurposeSpec>(json!({"id": "door", "description": "Door",
            "operations": ["verify"], "dimension": 4, "threshold": 0.75,
            "retention": {"max_days_since_enrolment": 30}}))
        .expect("spec")
        .parse()
        .expect("valid")
        .purpose
    }

    fn report(change: impl FnOnce(&mut serde_json::Value)) -> SubmittedReport {
        let mut v = json!({
            "format": REPORT_FORMAT,
            "generated_at": rfc3339(Timestamp::from_unix(NOW - 86_400)),
            "synthetic": false,
            "matcher": {"form": "protected", "code_bits": 2048, "dimension": 4},
            "threshold": 0.75,
            "differentials": {"groups": 2, "fmr_ratio": 1.5, "fnmr_ratio": 1.3, "fdr": 0.99,
                              "inequity_rate": 1.5, "garbe": 0.12},
        });
        change(&mut v);
        SubmittedReport::from_text(v.to_string())
    }

    fn check(r: Option<&SubmittedReport>) -> Verdict {
        check_report(&purpose(), 0.75, r, Timestamp::from_unix(NOW))
    }

    #[test]
    fn a_fair_recent_real_report_for_this_matcher_passes() {
        let r = report(|_| {});
        let v = check(Some(&r));
        assert!(v.passed, "{:?}", v.reasons);
        assert_eq!(v.report_sha256, Some(r.sha256()));
        assert!(!check(None).passed);
    }

    #[test]
    fn each_finding_is_named() {
        let cases: Vec<(SubmittedReport, &str)> = vec![
            (
                report(|v| v["differentials"]["fmr_ratio"] = json!(10.0)),
                "FMR max/min ratio 10.0000",
            ),
            (
                report(|v| v["differentials"]["fnmr_ratio"] = json!(null)),
                "FNMR max/min ratio is infinite",
            ),
            (
                report(|v| v["differentials"]["garbe"] = json!(0.3)),
                "GARBE 0.3000",
            ),
            (
                report(|v| v["threshold"] = json!(0.7)),
                "made at threshold 0.7, not 0.75",
            ),
            (
                report(|v| v["matcher"]["code_bits"] = json!(1024)),
                "protected 2048-bit codes",
            ),
            (
                report(|v| v["matcher"]["dimension"] = json!(8)),
                "dimension 8",
            ),
            (report(|v| v["synthetic"] = json!(true)), "synthetic data"),
            (
                report(|v| v["differentials"] = json!(null)),
                "no differentials",
            ),
            (
                report(|v| {
                    v["generated_at"] = json!(rfc3339(Timestamp::from_unix(NOW - 200 * 86_400)))
                }),
                "200 days old",
            ),
            (
                report(|v| v["generated_at"] = json!(rfc3339(Timestamp::from_unix(NOW + 3600)))),
                "dated in the future",
            ),
            (
                SubmittedReport::from_text("{\"hello\":\"world\"}".into()),
                "not a bioguard-fairness-report/1 document",
            ),
            (
                SubmittedReport::from_text("{\"threshold\":\"high\"}".into()),
                "that can be read",
            ),
        ];
        for (r, reason) in cases {
            let v = check(Some(&r));
            assert!(!v.passed, "{reason}");
            assert!(
                v.reasons.iter().any(|x| x.contains(reason)),
                "{reason}: {:?}",
                v.reasons
            );
        }
    }

    #[test]
    fn the_hash_is_of_the_text_as_submitted() {
        let a = SubmittedReport::from_text("{\"a\":1,\"b\":2}".into());
        let b = SubmittedReport::from_text("{\"b\":2,\"a\":1}".into());
        assert_ne!(a.sha256(), b.sha256(), "key order is part of the document");
        assert_eq!(a.text(), "{\"a\":1,\"b\":2}");
    }
}
