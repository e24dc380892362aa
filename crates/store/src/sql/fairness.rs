//! [`FairnessStore`] on SQL.

use async_trait::async_trait;
use bioguard_core::{PurposeId, Timestamp};
use sqlx::Row;

use crate::error::StoreError;
use crate::records::KeptReport;
use crate::sql::conn::corrupt;
use crate::sql::store::SqlStore;
use crate::traits::FairnessStore;

#[async_trait]
impl FairnessStore for SqlStore {
    async fn save_fairness_report(
        &self,
        sha256: &str,
        purpose: &PurposeId,
        body: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let (sha256, purpose, body) = (sha256.to_owned(), purpose.clone(), body.to_owned());
        // Keeping a report records nothing by itself: the gate's decision that follows does.
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO fairness_reports (sha256, purpose_id, body, received_at) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    )
                    .bind(sha256.as_str())
                    .bind(purpose.as_str())
                    .bind(body.as_str())
                    .bind(at.unix())
                    .execute(b.conn())
                    .await?;
                    Ok(())
                })
            })
            .await
    }

    async fn fairness_report(&self, sha256: &str) -> Result<Option<KeptReport>, StoreError> {
        let row = sqlx::query("SELECT purpose_id, body FROM fairness_reports WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(KeptReport {
                purpose: PurposeId::parse(&r.try_get::<String, _>("purpose_id")?)
                    .map_err(|_| corrupt("fairness report purpose"))?,
                body: r.try_get("body")?,
            })
        })
        .transpose()
    }
}
