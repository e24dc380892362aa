//! The transparency report: counts only, drawn from the counters the store keeps as leaves are
//! written (every change and use is a leaf, so the figures are as checkable as the log
//! itself) and from the notification and claim records. No individual's data. The server
//! renders it as JSON or as a page. Its cost does not grow with the ledger, and one
//! computation answers every reader for a moment (see `report`).

use bioguard_core::rfc3339;

use crate::error::ServiceError;
use crate::facade::Service;
use crate::supervision::report::{
    Activations, Claims, Consents, Deletions, Fairness, Incidents, LeafCounts, LedgerSize, NOTES,
    PurposeFairness, RiskCounts, TransparencyReport, Verifications, median_days,
};

impl Service {
    /// The transparency report, as of this call or later (readers who arrive together share
    /// one computation).
    pub async fn transparency(&self) -> Result<TransparencyReport, ServiceError> {
        let arrived = std::time::Instant::now();
        let cache = self.reports.clone();
        cache.get_or(arrived, self.compute_transparency()).await
    }

    async fn compute_transparency(&self) -> Result<TransparencyReport, ServiceError> {
        // Counters the writer keeps with the leaves: a few rows, whatever the ledger's size.
        let counts = self.db.ledger.audit_counts().await?;
        let size = counts.size();
        let c = LeafCounts(counts);
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
