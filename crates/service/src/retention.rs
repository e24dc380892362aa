//! Enforcing the retention schedule: every template past a limit of its purpose is deleted
//! with its data key (crypto-shredding), and each deletion is a leaf of the audit ledger.

use std::collections::BTreeMap;

use bioguard_store::ExpiredTemplate;

use crate::{Service, ServiceError};

/// Templates listed per page, and deleted concurrently (so that their deletions share
/// commits).
const PAGE: u32 = 256;

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// The time the sweep applied the schedule at (Unix seconds).
    pub at: i64,
    /// Templates found past a limit when the sweep started.
    pub expired: u64,
    /// Templates deleted.
    pub deleted: u64,
    /// Deleted, by reason (`max_age_since_enrolment`, `max_time_since_last_use`).
    pub by_reason: BTreeMap<&'static str, u64>,
    /// Found expired but used, replaced or deleted by someone else before the sweep reached
    /// them: left alone.
    pub skipped: u64,
}

impl Service {
    /// Deletes every template past a retention limit at the service clock's current time.
    /// `progress` is called after each page with (templates handled, templates expired at
    /// the start).
    pub async fn retention_sweep(
        &self,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<SweepReport, ServiceError> {
        let at = self.now();
        let mut report = SweepReport {
            at: at.unix(),
            expired: self.store.expired_count(at).await?,
            ..SweepReport::default()
        };
        let mut after = None;
        loop {
            let page = self
                .store
                .expired_templates(at, after.as_ref(), PAGE)
                .await?;
            let Some(last) = page.last() else {
                break;
            };
            after = Some(last.template.clone());
            let mut tasks = tokio::task::JoinSet::new();
            for t in page {
                let service = self.clone();
                tasks.spawn(async move { service.delete_expired(t, at).await });
            }
            while let Some(joined) = tasks.join_next().await {
                let deleted = joined.map_err(|e| {
                    ServiceError::Internal(format!("a deletion task failed: {e}"))
                })??;
                match deleted {
                    Some(t) => {
                        report.deleted += 1;
                        *report.by_reason.entry(t.reason.as_str()).or_default() += 1;
                    }
                    None => report.skipped += 1,
                }
            }
            progress(report.deleted + report.skipped, report.expired);
        }
        tracing::info!(
            deleted = report.deleted,
            skipped = report.skipped,
            "retention sweep done"
        );
        Ok(report)
    }

    async fn delete_expired(
        &self,
        t: ExpiredTemplate,
        at: bioguard_core::Timestamp,
    ) -> Result<Option<ExpiredTemplate>, ServiceError> {
        let mut leaf = self.leaf("retention.delete", "system:retention");
        leaf.detail = vec![("template".into(), t.template.to_string())];
        let deleted = self.store.delete_expired(&t.template, at, &leaf).await?;
        if let Some(d) = &deleted {
            self.galleries
                .remove(&d.purpose, std::slice::from_ref(&d.template));
        }
        Ok(deleted)
    }
}
