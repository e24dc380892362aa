//! The transparency report's shape, the counts it is drawn from, and the short-lived copy that
//! answers many readers with one computation. Computed in `transparency`.

use std::collections::BTreeMap;

use bioguard_core::NotificationCounts;
use bioguard_store::AuditCounts;
use serde::Serialize;

/// Leaves counted by operation, and by operation and decision, as the store keeps them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct LeafCounts(pub(crate) AuditCounts);

impl LeafCounts {
    /// Leaves of one operation.
    pub(crate) fn op(&self, name: &str) -> u64 {
        self.0.by_op.get(name).copied().unwrap_or(0)
    }

    /// Leaves of one operation with one decision.
    pub(crate) fn decided(&self, name: &str, decision: &str) -> u64 {
        self.0
            .by_decision
            .get(&(name.to_owned(), decision.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// Every decision of one operation, with its count.
    pub(crate) fn decisions_of(&self, name: &str) -> BTreeMap<String, u64> {
        self.0
            .by_decision
            .iter()
            .filter(|((o, _), _)| o == name)
            .map(|((_, d), n)| (d.clone(), *n))
            .collect()
    }
}

/// The median of ascending `seconds`, in days to one decimal.
pub(crate) fn median_days(seconds: &[i64]) -> Option<f64> {
    (!seconds.is_empty()).then(|| {
        let mid = seconds.len() / 2;
        let secs = if seconds.len() % 2 == 1 {
            seconds[mid] as f64
        } else {
            (seconds[mid - 1] + seconds[mid]) as f64 / 2.0
        };
        (secs / 86_400.0 * 10.0).round() / 10.0
    })
}

/// The transparency report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TransparencyReport {
    /// When (Unix seconds).
    pub generated_at: i64,
    /// The ledger the counts come from.
    pub ledger: LedgerSize,
    /// Templates enrolled.
    pub enrolments: u64,
    /// Verifications.
    pub verifications: Verifications,
    /// Identifications.
    pub identifications: u64,
    /// Consents.
    pub consents: Consents,
    /// Deletions, by cause.
    pub deletions: Deletions,
    /// Locks set by people.
    pub subject_locks: u64,
    /// Risk controls.
    pub risk: RiskCounts,
    /// Incidents.
    pub incidents: Incidents,
    /// Reads of what is held about a subject by a client (summary, report, history), each
    /// recorded since tenants; earlier reads were not recorded.
    pub access_requests: Option<u64>,
    /// Compensation claims.
    pub claims: Claims,
    /// The fairness gate.
    pub fairness: Fairness,
    /// How to read the report.
    pub notes: Vec<&'static str>,
}

/// The ledger's identity and size.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = TransparencyLedgerSize)]
pub struct LedgerSize {
    /// Its origin.
    pub origin: String,
    /// Leaves counted.
    pub size: u64,
}

/// Verification counts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = TransparencyVerifications)]
pub struct Verifications {
    /// All.
    pub total: u64,
    /// Matches.
    #[serde(rename = "match")]
    pub matched: u64,
    /// Non-matches.
    pub no_match: u64,
}

/// Consent counts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = TransparencyConsents)]
pub struct Consents {
    /// Given.
    pub granted: u64,
    /// Withdrawn.
    pub withdrawn: u64,
}

/// Deletion counts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = TransparencyDeletions)]
pub struct Deletions {
    /// Erasures asked for.
    pub erasure_requests: u64,
    /// Templates destroyed with a withdrawal.
    pub withdrawals: u64,
    /// Templates deleted by the retention schedule.
    pub retention: u64,
    /// Protection keys revoked (every template under them stops matching).
    pub key_revocations: u64,
}

/// Risk control counts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = TransparencyRiskCounts)]
pub struct RiskCounts {
    /// Captures refused, by reason.
    pub captures_refused: BTreeMap<String, u64>,
    /// Lockouts after failed attempts.
    pub lockouts: u64,
    /// Clients suspended.
    pub clients_suspended: u64,
}

/// Incident counts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = TransparencyIncidents)]
pub struct Incidents {
    /// Opened.
    pub opened: u64,
    /// Notifications owed to people, by state.
    pub notifications: NotificationState,
}

/// Notifications by state.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = TransparencyNotificationState)]
pub struct NotificationState {
    /// Sent on time.
    pub on_time: u64,
    /// Sent late or overdue.
    pub late: u64,
    /// Not due yet.
    pub pending: u64,
}

impl From<NotificationCounts> for NotificationState {
    fn from(c: NotificationCounts) -> Self {
        Self {
            on_time: c.on_time,
            late: c.late,
            pending: c.pending,
        }
    }
}

/// Claim counts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = TransparencyClaims)]
pub struct Claims {
    /// Filed.
    pub filed: u64,
    /// Paid.
    pub paid: u64,
    /// Denied.
    pub denied: u64,
    /// Median days from filing to decision.
    pub median_days_to_decision: Option<f64>,
}

/// The fairness gate's counts and every purpose's live threshold.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = TransparencyFairness)]
pub struct Fairness {
    /// Thresholds activated, by how.
    pub activations: Activations,
    /// Thresholds the gate refused.
    pub refused: u64,
    /// Each purpose's live threshold and the report it rests on.
    pub purposes: BTreeMap<String, PurposeFairness>,
}

/// Activations by how they passed the gate.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = TransparencyActivations)]
pub struct Activations {
    /// Through the gate.
    pub passed: u64,
    /// Set aside by a risk-group quorum.
    #[serde(rename = "override")]
    pub overridden: u64,
}

/// One purpose's live threshold.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = TransparencyPurposeFairness)]
pub struct PurposeFairness {
    /// Who is responsible for the purpose: its tenant, by name.
    pub controller: String,
    /// The threshold.
    pub threshold: f64,
    /// `none`, `passed` or `override`.
    pub status: &'static str,
    /// The report it rests on.
    pub report_sha256: Option<String>,
    /// When it went live.
    pub activated_at: Option<String>,
}

pub(crate) const NOTES: [&str; 3] = [
    "Counts are derived from the audit ledger up to the size above and can be recomputed from GET /v1/audit/leaves.",
    "access_requests: clients' reads of what is held about a subject (subject.read leaves); reads made before this version were not recorded.",
    "fairness: thresholds activated through the fairness gate, those a risk-group quorum activated over the gate's findings (override), refusals, and each purpose's live threshold with the report it rests on (status none: created without a report).",
];

/// The latest report and when its computation began. Readers who arrive while a report is
/// being computed wait for that computation (the lock), then take the next one's result only
/// if it began after they arrived: never an answer older than the request, and however many
/// readers arrive together, they cost one or two computations.
#[derive(Debug, Default)]
pub(crate) struct ReportCache(tokio::sync::Mutex<Option<(std::time::Instant, TransparencyReport)>>);

impl ReportCache {
    /// The report: one whose computation began after `arrived`, or a new one from `make`.
    pub(crate) async fn get_or<F, E>(
        &self,
        arrived: std::time::Instant,
        make: F,
    ) -> Result<TransparencyReport, E>
    where
        F: std::future::Future<Output = Result<TransparencyReport, E>>,
    {
        let mut kept = self.0.lock().await;
        if let Some((began, r)) = kept.as_ref()
            && *began >= arrived
        {
            return Ok(r.clone());
        }
        let began = std::time::Instant::now();
        let r = make.await?;
        *kept = Some((began, r.clone()));
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_are_counted_by_operation_and_decision() {
        let mut a = AuditCounts::default();
        for (op, n) in [("verify", 3), ("capture.refused", 2), ("enrol", 1)] {
            a.by_op.insert(op.into(), n);
        }
        for (op, d, n) in [
            ("verify", "match", 2),
            ("verify", "no_match", 1),
            ("capture.refused", "low_liveness", 1),
            ("capture.refused", "challenge_reused", 1),
        ] {
            a.by_decision.insert((op.into(), d.into()), n);
        }
        let c = LeafCounts(a);
        assert_eq!(c.op("verify"), 3);
        assert_eq!(c.decided("verify", "match"), 2);
        assert_eq!(c.op("identify"), 0);
        let refused = c.decisions_of("capture.refused");
        assert_eq!(refused.len(), 2);
        assert_eq!(refused.get("low_liveness"), Some(&1));
    }

    #[test]
    fn the_median_decision_time_is_in_days() {
        assert_eq!(median_days(&[]), None);
        assert_eq!(median_days(&[86_400]), Some(1.0));
        assert_eq!(median_days(&[86_400, 3 * 86_400]), Some(2.0));
        assert_eq!(median_days(&[3_600, 86_400, 10 * 86_400]), Some(1.0));
        assert_eq!(median_days(&[43_200]), Some(0.5));
    }
}
