//! The transparency report: counts only, drawn from the audit ledger (every change and use is
//! a leaf, so the figures are as checkable as the log itself) and from the notification
//! records. No individual's data. The server renders it as JSON or as a page.

use std::collections::BTreeMap;

use bioguard_core::{NotificationCounts, rfc3339};
use serde::Serialize;

use crate::error::ServiceError;
use crate::facade::Service;

/// Leaves read per page while counting.
const PAGE: u64 = 10_000;

/// Leaves counted by operation, and by operation and decision.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct LeafCounts {
    ops: BTreeMap<String, u64>,
    decisions: BTreeMap<(String, String), u64>,
}

impl LeafCounts {
    /// Counts one leaf.
    pub(crate) fn add(&mut self, op: &str, decision: Option<&str>) {
        *self.ops.entry(op.to_owned()).or_default() += 1;
        if let Some(d) = decision {
            *self
                .decisions
                .entry((op.to_owned(), d.to_owned()))
                .or_default() += 1;
        }
    }

    /// Leaves of one operation.
    pub(crate) fn op(&self, name: &str) -> u64 {
        self.ops.get(name).copied().unwrap_or(0)
    }

    /// Leaves of one operation with one decision.
    pub(crate) fn decided(&self, name: &str, decision: &str) -> u64 {
        self.decisions
            .get(&(name.to_owned(), decision.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// Every decision of one operation, with its count.
    pub(crate) fn decisions_of(&self, name: &str) -> BTreeMap<String, u64> {
        self.decisions
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
#[derive(Debug, Clone, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
pub struct LedgerSize {
    /// Its origin.
    pub origin: String,
    /// Leaves counted.
    pub size: u64,
}

/// Verification counts.
#[derive(Debug, Clone, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
pub struct Consents {
    /// Given.
    pub granted: u64,
    /// Withdrawn.
    pub withdrawn: u64,
}

/// Deletion counts.
#[derive(Debug, Clone, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
pub struct RiskCounts {
    /// Captures refused, by reason.
    pub captures_refused: BTreeMap<String, u64>,
    /// Lockouts after failed attempts.
    pub lockouts: u64,
    /// Clients suspended.
    pub clients_suspended: u64,
}

/// Incident counts.
#[derive(Debug, Clone, Serialize)]
pub struct Incidents {
    /// Opened.
    pub opened: u64,
    /// Notifications owed to people, by state.
    pub notifications: NotificationState,
}

/// Notifications by state.
#[derive(Debug, Clone, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
pub struct Fairness {
    /// Thresholds activated, by how.
    pub activations: Activations,
    /// Thresholds the gate refused.
    pub refused: u64,
    /// Each purpose's live threshold and the report it rests on.
    pub purposes: BTreeMap<String, PurposeFairness>,
}

/// Activations by how they passed the gate.
#[derive(Debug, Clone, Serialize)]
pub struct Activations {
    /// Through the gate.
    pub passed: u64,
    /// Set aside by a risk-group quorum.
    #[serde(rename = "override")]
    pub overridden: u64,
}

/// One purpose's live threshold.
#[derive(Debug, Clone, Serialize)]
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

const NOTES: [&str; 3] = [
    "Counts are derived from the audit ledger up to the size above and can be recomputed from GET /v1/audit/leaves.",
    "access_requests: clients' reads of what is held about a subject (subject.read leaves); reads made before this version were not recorded.",
    "fairness: thresholds activated through the fairness gate, those a risk-group quorum activated over the gate's findings (override), refusals, and each purpose's live threshold with the report it rests on (status none: created without a report).",
];

impl Service {
    /// The transparency report.
    pub async fn transparency(&self) -> Result<TransparencyReport, ServiceError> {
        let size = self.db.ledger.audit_size().await?;
        let mut c = LeafCounts::default();
        let mut start = 0;
        while start < size {
            let end = (start + PAGE).min(size);
            for bytes in self.db.ledger.audit_leaves(start, end).await? {
                let leaf = bioguard_ledger::Leaf::decode(&bytes).ok_or_else(|| {
                    ServiceError::Internal("a stored leaf does not decode".into())
                })?;
                c.add(&leaf.op, leaf.decision.as_deref());
            }
            start = end;
        }
        let notifications = self.db.incidents.notification_counts(self.now()).await?;
        let times = self.db.claims.claim_decision_times().await?;
        let controllers = self.tenant_names().await?;
        let purposes = self
            .db
            .purposes
            .purposes()
            .await?
            .into_iter()
            .map(|p| {
                (
                    p.purpose.id.to_string(),
                    PurposeFairness {
                        controller: controllers
                            .get(&p.purpose.id.tenant())
                            .cloned()
                            .unwrap_or_else(|| p.purpose.id.tenant().to_string()),
                        threshold: p.purpose.threshold.get(),
                        status: p.fairness.status.as_str(),
                        report_sha256: p.fairness.report_sha256,
                        activated_at: p.fairness.at.map(rfc3339),
                    },
                )
            })
            .collect();
        Ok(TransparencyReport {
            generated_at: self.now().unix(),
            ledger: LedgerSize {
                origin: self.secrets.origin().to_owned(),
                size,
            },
            enrolments: c.op("enrol"),
            verifications: Verifications {
                total: c.op("verify"),
                matched: c.decided("verify", "match"),
                no_match: c.decided("verify", "no_match"),
            },
            identifications: c.op("identify"),
            consents: Consents {
                granted: c.op("consent.grant"),
                withdrawn: c.op("consent.withdraw"),
            },
            deletions: Deletions {
                erasure_requests: c.op("subject.erase"),
                withdrawals: c.op("consent.withdraw"),
                retention: c.op("retention.delete"),
                key_revocations: c.op("protection_key.rotate"),
            },
            subject_locks: c.op("subject.lock"),
            risk: RiskCounts {
                captures_refused: c.decisions_of("capture.refused"),
                lockouts: c.op("subject.lockout"),
                clients_suspended: c.op("client.suspend"),
            },
            incidents: Incidents {
                opened: c.op("incident.open"),
                notifications: notifications.into(),
            },
            access_requests: Some(c.op("subject.read")),
            claims: Claims {
                filed: c.op("claim.file"),
                paid: c.decided("claim.decide", "paid"),
                denied: c.decided("claim.decide", "denied"),
                median_days_to_decision: median_days(&times),
            },
            fairness: Fairness {
                activations: Activations {
                    passed: c.decided("purpose.matcher.activate", "passed"),
                    overridden: c.decided("purpose.matcher.activate", "override"),
                },
                refused: c.op("fairness.refuse"),
                purposes,
            },
            notes: NOTES.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_are_counted_by_operation_and_decision() {
        let mut c = LeafCounts::default();
        for (op, d) in [
            ("verify", Some("match")),
            ("verify", Some("no_match")),
            ("verify", Some("match")),
            ("capture.refused", Some("low_liveness")),
            ("capture.refused", Some("challenge_reused")),
            ("enrol", None),
        ] {
            c.add(op, d);
        }
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
