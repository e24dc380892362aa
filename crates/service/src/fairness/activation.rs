//! Making a threshold live through the gate: with a passing report, or by a risk-group
//! quorum's `fairness.override`, which is in the audit ledger and on the transparency
//! report. Every report submitted is kept by its SHA-256, so an override can name the one it
//! sets aside.

use bioguard_core::{
    FairnessState, FairnessStatus, ProposalId, PurposeDefinition, PurposeId, PurposeRecord,
    Threshold, ValidationError,
};

use crate::abuse::auth::Admin;
use crate::error::ServiceError;
use crate::facade::Service;
use crate::fairness::gate::{MAX_REPORT_BYTES, SubmittedReport, Verdict, check_report};

/// The result of an activation.
#[derive(Debug, Clone)]
pub struct Activation {
    /// The purpose.
    pub purpose: PurposeId,
    /// The threshold now live.
    pub threshold: f64,
    /// How it passed the gate.
    pub state: FairnessState,
    /// The gate's findings (for an override: what was set aside).
    pub verdict: Verdict,
}

/// The facts a gate decision records in its leaf: the threshold, the report, each finding.
pub(crate) fn gate_detail(threshold: f64, verdict: &Verdict) -> Vec<(String, String)> {
    let mut d = vec![("threshold".into(), threshold.to_string())];
    if let Some(sha) = &verdict.report_sha256 {
        d.push(("report_sha256".into(), sha.clone()));
    }
    for (i, r) in verdict.reasons.iter().enumerate() {
        d.push((format!("finding_{}", i + 1), r.chars().take(300).collect()));
    }
    d
}

/// The refusal the API answers for a verdict that did not pass.
fn refused(verdict: Verdict) -> ServiceError {
    ServiceError::FairnessGate {
        reasons: verdict.reasons.join("; "),
        report: verdict.report_sha256,
    }
}

impl Service {
    /// Activates `threshold` for a purpose if `report` (its canonical JSON text) passes the
    /// gate. A refusal is recorded in the ledger (`fairness.refuse`) and the report kept, so
    /// that the risk group can override it by its SHA-256.
    pub async fn activate_matcher(
        &self,
        _admin: &Admin,
        purpose: &PurposeId,
        threshold: f64,
        report: Option<String>,
    ) -> Result<Activation, ServiceError> {
        let threshold = Threshold::new(threshold)?.get();
        let stored = self.require_purpose(purpose).await?;
        let report = report.map(SubmittedReport::from_text);
        if let Some(r) = &report {
            self.keep_report(purpose, r).await?;
        }
        let verdict = check_report(&stored.purpose, threshold, report.as_ref(), self.now());
        if !verdict.passed {
            let mut leaf = self.leaf("fairness.refuse", "admin");
            leaf.purpose = Some(purpose.clone());
            leaf.decision = Some("refused".into());
            leaf.detail = gate_detail(threshold, &verdict);
            self.db.ledger.append_audit(&leaf).await?;
            tracing::warn!(purpose = %purpose, reasons = verdict.reasons.len(), "fairness gate refused a threshold");
            return Err(refused(verdict));
        }
        self.activate_now(purpose, threshold, FairnessStatus::Passed, verdict, None)
            .await
    }

    /// Creates a purpose whose first threshold rests on a fairness report: refused (and
    /// nothing created) unless the report passes the gate.
    pub async fn create_purpose_with_report(
        &self,
        admin: &Admin,
        definition: PurposeDefinition,
        report: String,
    ) -> Result<PurposeRecord, ServiceError> {
        definition.purpose.check()?;
        let report = SubmittedReport::from_text(report);
        let threshold = definition.purpose.threshold.get();
        let verdict = check_report(&definition.purpose, threshold, Some(&report), self.now());
        if !verdict.passed {
            return Err(refused(verdict));
        }
        let mut created = self.create_purpose(admin, definition).await?;
        self.keep_report(&created.purpose.id, &report).await?;
        let a = self
            .activate_now(
                &created.purpose.id,
                threshold,
                FairnessStatus::Passed,
                verdict,
                None,
            )
            .await?;
        created.fairness = a.state;
        Ok(created)
    }

    /// Keeps a report by its SHA-256 (bounded in size).
    async fn keep_report(
        &self,
        purpose: &PurposeId,
        report: &SubmittedReport,
    ) -> Result<String, ServiceError> {
        if report.text().len() > MAX_REPORT_BYTES {
            return Err(ValidationError::new(
                "fairness_report",
                format!("at most {MAX_REPORT_BYTES} bytes of JSON"),
            )
            .into());
        }
        let sha = report.sha256();
        self.db
            .fairness
            .save_fairness_report(&sha, purpose, report.text(), self.now())
            .await?;
        Ok(sha)
    }

    /// Makes the threshold live with its fairness state, in one change with its leaf.
    async fn activate_now(
        &self,
        purpose: &PurposeId,
        threshold: f64,
        status: FairnessStatus,
        verdict: Verdict,
        proposal: Option<&ProposalId>,
    ) -> Result<Activation, ServiceError> {
        let state = FairnessState {
            status,
            report_sha256: verdict.report_sha256.clone(),
            at: Some(self.now()),
        };
        let mut leaf = self.leaf(
            "purpose.matcher.activate",
            if proposal.is_some() {
                "quorum"
            } else {
                "admin"
            },
        );
        leaf.purpose = Some(purpose.clone());
        leaf.decision = Some(status.as_str().to_owned());
        leaf.detail = gate_detail(threshold, &verdict);
        if let Some(p) = proposal {
            leaf.detail.push(("proposal".into(), p.to_string()));
        }
        if !self
            .db
            .purposes
            .activate_matcher(purpose, threshold, &state, &leaf)
            .await?
        {
            return Err(ServiceError::PurposeNotFound);
        }
        tracing::info!(purpose = %purpose, threshold, status = status.as_str(), "matcher threshold activated");
        Ok(Activation {
            purpose: purpose.clone(),
            threshold,
            state,
            verdict,
        })
    }

    /// Applies an approved `fairness.override`: activates the threshold whatever the gate
    /// says, recording what it set aside.
    pub(crate) async fn override_fairness(
        &self,
        proposal: &ProposalId,
        purpose: &PurposeId,
        threshold: f64,
        report_sha256: Option<&str>,
    ) -> Result<String, ServiceError> {
        let stored = self.require_purpose(purpose).await?;
        let report = match report_sha256 {
            None => None,
            Some(sha) => match self.db.fairness.fairness_report(sha).await? {
                Some(kept) if &kept.purpose == purpose => {
                    Some(SubmittedReport::from_text(kept.body))
                }
                _ => {
                    return Err(ValidationError::new(
                        "action.report_sha256",
                        "no report with this SHA-256 was submitted for this purpose",
                    )
                    .into());
                }
            },
        };
        let verdict = check_report(&stored.purpose, threshold, report.as_ref(), self.now());
        let set_aside = verdict.reasons.len();
        self.activate_now(
            purpose,
            threshold,
            FairnessStatus::Override,
            verdict,
            Some(proposal),
        )
        .await?;
        Ok(format!(
            "threshold {threshold} activated for purpose {purpose} by override ({set_aside} gate findings set aside)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gate_decision_records_its_findings_briefly() {
        let v = Verdict {
            passed: false,
            reasons: vec!["a".into(), "b".repeat(400)],
            report_sha256: Some("ab".into()),
        };
        let d = gate_detail(0.8, &v);
        assert_eq!(d[0], ("threshold".into(), "0.8".into()));
        assert_eq!(d[1], ("report_sha256".into(), "ab".into()));
        assert_eq!(d[2], ("finding_1".into(), "a".into()));
        assert_eq!(d[3].1.len(), 300, "each finding is cut to 300 characters");
        let e = refused(v);
        assert!(e.to_string().contains("naming report_sha256 ab"), "{e}");
    }
}
