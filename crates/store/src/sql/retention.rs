//! [`RetentionStore`] on SQL. The database finds templates past a limit (the same rule as
//! `bioguard_core::retention_deadline`, as a condition); the deadline and reason of each are
//! computed by that rule.

use async_trait::async_trait;
use bioguard_core::{Pseudonym, PurposeId, Retention, TemplateId, Timestamp, retention_deadline};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::error::StoreError;
use crate::records::{ExpiredTemplate, LeafDraft};
use crate::sql::conn::corrupt;
use crate::sql::store::{Recorded, SqlStore};
use crate::traits::RetentionStore;

/// Templates past a retention limit at `$1`: the columns and the condition.
const EXPIRED_SELECT: &str = "SELECT t.id, t.subject, t.purpose_id, t.enrolled_at, t.last_used_at, \
     p.retention_days_since_enrolment AS r1, p.retention_days_since_last_use AS r2 \
     FROM templates t JOIN purposes p ON p.id = t.purpose_id";
const EXPIRED_WHERE: &str = "(t.enrolled_at + p.retention_days_since_enrolment * 86400 <= $1 \
     OR (p.retention_days_since_last_use IS NOT NULL \
         AND COALESCE(t.last_used_at, t.enrolled_at) + p.retention_days_since_last_use * 86400 <= $1))";

fn expired_from_row(r: &AnyRow) -> Result<ExpiredTemplate, StoreError> {
    let retention = Retention::new(
        r.try_get::<i64, _>("r1")? as u64,
        r.try_get::<Option<i64>, _>("r2")?.map(|d| d as u64),
    )
    .map_err(|_| corrupt("purpose retention"))?;
    let (reason, deadline) = retention_deadline(
        &retention,
        Timestamp::from_unix(r.try_get("enrolled_at")?),
        r.try_get::<Option<i64>, _>("last_used_at")?
            .map(Timestamp::from_unix),
    );
    Ok(ExpiredTemplate {
        template: TemplateId::parse(&r.try_get::<String, _>("id")?)
            .map_err(|_| corrupt("template id"))?,
        subject: Pseudonym::parse(&r.try_get::<String, _>("subject")?)
            .map_err(|_| corrupt("template subject"))?,
        purpose: PurposeId::parse(&r.try_get::<String, _>("purpose_id")?)
            .map_err(|_| corrupt("template purpose"))?,
        reason,
        deadline,
    })
}

#[async_trait]
impl RetentionStore for SqlStore {
    async fn expired_templates(
        &self,
        at: Timestamp,
        after: Option<&TemplateId>,
        limit: u32,
    ) -> Result<Vec<ExpiredTemplate>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "{EXPIRED_SELECT} WHERE {EXPIRED_WHERE} AND ($2 IS NULL OR t.id > $2) \
             ORDER BY t.id LIMIT $3"
        )))
        .bind(at.unix())
        .bind(after.map(|t| t.as_str().to_owned()))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(expired_from_row).collect()
    }

    async fn expired_count(&self, at: Timestamp) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM templates t JOIN purposes p ON p.id = t.purpose_id \
             WHERE {EXPIRED_WHERE}"
        )))
        .bind(at.unix())
        .fetch_one(&self.pool)
        .await?;
        Ok(n as u64)
    }

    async fn delete_expired(
        &self,
        template: &TemplateId,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<Option<ExpiredTemplate>, StoreError> {
        let template = template.clone();
        self.change(leaf, move |b, leaf| {
            Box::pin(async move {
                let row = sqlx::query(AssertSqlSafe(format!(
                    "{EXPIRED_SELECT} WHERE {EXPIRED_WHERE} AND t.id = $2"
                )))
                .bind(at.unix())
                .bind(template.as_str())
                .fetch_optional(b.conn())
                .await?;
                let Some(row) = row else {
                    return Ok(Recorded::Unchanged(None));
                };
                let expired = expired_from_row(&row)?;
                sqlx::query("DELETE FROM template_galleries WHERE template_id = $1")
                    .bind(template.as_str())
                    .execute(b.conn())
                    .await?;
                sqlx::query("DELETE FROM templates WHERE id = $1")
                    .bind(template.as_str())
                    .execute(b.conn())
                    .await?;
                sqlx::query("DELETE FROM data_keys WHERE subject = $1 AND purpose_id = $2")
                    .bind(expired.subject.as_str())
                    .bind(expired.purpose.as_str())
                    .execute(b.conn())
                    .await?;
                // The leaf names what this transaction found, not what the sweep listed; the
                // caller tagged the subject it listed, which is the template's own.
                if leaf.subject.as_ref().map(|s| &s.pseudonym) != Some(&expired.subject) {
                    return Err(corrupt(
                        "expired template's subject differs from its listing",
                    ));
                }
                leaf.purpose = Some(expired.purpose.clone());
                leaf.decision = Some("deleted".into());
                leaf.detail
                    .push(("reason".into(), expired.reason.as_str().into()));
                Ok(Recorded::Changed(Some(expired)))
            })
        })
        .await
    }
}
