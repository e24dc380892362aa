//! Enforcing the retention schedule: every template past a limit of its purpose is deleted
//! with its data key (crypto-shredding), and each deletion is a leaf of the audit ledger.
//! The deadlines themselves are `bioguard_core::retention_deadline`.

use std::collections::BTreeMap;
use std::sync::Arc;

use bioguard_core::Timestamp;
use bioguard_store::{ExpiredTemplate, LeafDraft, RetentionStore};

use crate::error::ServiceError;
use crate::facade::Service;

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

impl SweepReport {
    /// Counts one template the sweep handled: deleted (and why), or left alone.
    fn count(&mut self, deleted: Option<&ExpiredTemplate>) {
        match deleted {
            Some(t) => {
                self.deleted += 1;
                *self.by_reason.entry(t.reason.as_str()).or_default() += 1;
            }
            None => self.skipped += 1,
        }
    }
}

/// The leaf of one deletion, made while the subject's ledger key can still be read.
pub(crate) type LeafFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<LeafDraft, ServiceError>> + Send>>;

/// Deletes every template past a limit at `at`, a page at a time: each page's deletions run
/// concurrently, each one re-checked in its own transaction. `leaf` makes each deletion's
/// leaf; `deleted` hears of each template gone; `progress` gets (handled, expired at start)
/// after each page.
pub(crate) async fn sweep(
    store: Arc<dyn RetentionStore>,
    at: Timestamp,
    leaf: &(dyn Fn(ExpiredTemplate) -> LeafFuture + Send + Sync),
    deleted: &(dyn Fn(&ExpiredTemplate) + Send + Sync),
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<SweepReport, ServiceError> {
    let mut report = SweepReport {
        at: at.unix(),
        expired: store.expired_count(at).await?,
        ..SweepReport::default()
    };
    let mut after = None;
    loop {
        let page = store.expired_templates(at, after.as_ref(), PAGE).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = Some(last.template.clone());
        let mut tasks = tokio::task::JoinSet::new();
        for t in page {
            let (store, leaf) = (store.clone(), leaf(t.clone()).await?);
            tasks.spawn(async move { store.delete_expired(&t.template, at, &leaf).await });
        }
        while let Some(joined) = tasks.join_next().await {
            let gone = joined
                .map_err(|e| ServiceError::Internal(format!("a deletion task failed: {e}")))??;
            if let Some(t) = &gone {
                deleted(t);
            }
            report.count(gone.as_ref());
        }
        progress(report.deleted + report.skipped, report.expired);
    }
    Ok(report)
}

impl Service {
    /// Deletes every template past a retention limit at the service clock's current time.
    /// `progress` is called after each page with (templates handled, templates expired at
    /// the start).
    pub async fn retention_sweep(
        &self,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<SweepReport, ServiceError> {
        let galleries = self.galleries.clone();
        // Whom each deletion is told to is worked out only if anyone listens at all.
        let told = self.db.webhooks.any_live_endpoint().await?;
        let report = sweep(
            self.db.retention.clone(),
            self.now(),
            &|t| {
                // No template id: the template's enrolment leaf would share it.
                let mut leaf = self.leaf("retention.delete", "system:retention");
                let service = self.clone();
                Box::pin(async move {
                    leaf.subject = Some(service.tagged(&t.subject).await?);
                    if !told {
                        return Ok(leaf);
                    }
                    let serving = service
                        .serving_clients(&t.subject, Some(&t.purpose))
                        .await?;
                    leaf.outbox = service
                        .owe(
                            "retention.deleted",
                            &serving,
                            Some(&t.subject),
                            serde_json::json!({
                                "purpose": t.purpose.name(),
                                "reason": t.reason.as_str(),
                            }),
                        )
                        .await?;
                    Ok(leaf)
                })
            },
            &move |t| galleries.remove(&t.purpose, std::slice::from_ref(&t.template)),
            progress,
        )
        .await?;
        tracing::info!(
            deleted = report.deleted,
            skipped = report.skipped,
            "retention sweep done"
        );
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use bioguard_core::{ExpiryReason, Pseudonym, PurposeId, TemplateId};
    use bioguard_store::StoreError;

    use super::*;

    /// Expired templates in memory; those in `raced` were used meanwhile and are not deleted.
    struct Fake {
        expired: Vec<ExpiredTemplate>,
        raced: Vec<TemplateId>,
        deleted: Mutex<Vec<TemplateId>>,
    }

    #[async_trait]
    impl RetentionStore for Fake {
        async fn expired_templates(
            &self,
            _at: Timestamp,
            after: Option<&TemplateId>,
            limit: u32,
        ) -> Result<Vec<ExpiredTemplate>, StoreError> {
            Ok(self
                .expired
                .iter()
                .filter(|t| after.is_none_or(|a| t.template.as_str() > a.as_str()))
                .take(limit as usize)
                .cloned()
                .collect())
        }

        async fn expired_count(&self, _at: Timestamp) -> Result<u64, StoreError> {
            Ok(self.expired.len() as u64)
        }

        async fn delete_expired(
            &self,
            template: &TemplateId,
            _at: Timestamp,
            leaf: &LeafDraft,
        ) -> Result<Option<ExpiredTemplate>, StoreError> {
            assert_eq!(leaf.op, "retention.delete");
            if self.raced.contains(template) {
                return Ok(None);
            }
            self.deleted
                .lock()
                .expect("not poisoned")
                .push(template.clone());
            Ok(self
                .expired
                .iter()
                .find(|t| &t.template == template)
                .cloned())
        }
    }

    fn expired(n: u8, reason: ExpiryReason) -> ExpiredTemplate {
        ExpiredTemplate {
            template: TemplateId::from_random([n; 16]),
            subject: Pseudonym::from_digest([n; 32]),
            purpose: PurposeId::parse("pay").expect("valid"),
            reason,
            deadline: Timestamp::from_unix(0),
        }
    }

    #[tokio::test]
    async fn a_sweep_deletes_what_is_still_expired_and_counts_the_rest() {
        let store = Arc::new(Fake {
            expired: vec![
                expired(1, ExpiryReason::SinceEnrolment),
                expired(2, ExpiryReason::SinceLastUse),
                expired(3, ExpiryReason::SinceLastUse),
            ],
            raced: vec![TemplateId::from_random([2; 16])],
            deleted: Mutex::default(),
        });
        let gone = Mutex::new(Vec::new());
        let mut pages = Vec::new();
        let report = sweep(
            store.clone(),
            Timestamp::from_unix(100),
            &|_| {
                Box::pin(async {
                    Ok(LeafDraft {
                        time: Timestamp::from_unix(100),
                        op: "retention.delete",
                        actor: "test".into(),
                        subject: None,
                        mentions: Vec::new(),
                        purpose: None,
                        decision: None,
                        request: None,
                        detail: Vec::new(),
                        outbox: Vec::new(),
                    })
                })
            },
            &|t| gone.lock().expect("not poisoned").push(t.template.clone()),
            &mut |done, of| pages.push((done, of)),
        )
        .await
        .expect("sweep");
        assert_eq!((report.expired, report.deleted, report.skipped), (3, 2, 1));
        assert_eq!(report.by_reason.get("max_age_since_enrolment"), Some(&1));
        assert_eq!(report.by_reason.get("max_time_since_last_use"), Some(&1));
        assert_eq!(pages, vec![(3, 3)]);
        assert_eq!(gone.lock().expect("not poisoned").len(), 2);
        assert_eq!(store.deleted.lock().expect("not poisoned").len(), 2);
    }
}
