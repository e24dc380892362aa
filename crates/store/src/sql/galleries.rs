//! [`GalleryStore`] on SQL: the templates 1:N search may find, and the confirmation of each
//! candidate.

use async_trait::async_trait;
use bioguard_core::{GalleryName, Pseudonym, PurposeId, TemplateId, Timestamp};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::error::StoreError;
use crate::records::{CandidateMaterial, ConsentEvidence, IndexRecord, LeafDraft};
use crate::sql::conn::corrupt;
use crate::sql::decode::{
    FLOOR_COLUMNS, TEMPLATE_COLUMNS, floor_join, notice_floor_from_row, template_from_row,
};
use crate::sql::store::SqlStore;
use crate::traits::GalleryStore;

/// The query behind the gallery index: templates of purpose `$1` under version `$2` that are
/// in a gallery and whose subject's consent is live, narrowed by `filter`, with their
/// gallery rows.
fn index_sql(filter: &str) -> String {
    format!(
        "SELECT t.subject AS subject, g.gallery AS gallery, {TEMPLATE_COLUMNS} \
         FROM (SELECT id FROM templates WHERE purpose_id = $1 AND protection_version = $2 \
               AND EXISTS (SELECT 1 FROM template_galleries tg \
                           WHERE tg.template_id = templates.id) \
               AND EXISTS (SELECT 1 FROM consents c WHERE c.subject = templates.subject \
                           AND c.purpose_id = templates.purpose_id AND c.ended_at IS NULL) \
               {filter}) page \
         JOIN templates t ON t.id = page.id \
         JOIN data_keys k ON k.id = t.data_key_id \
         JOIN template_galleries g ON g.template_id = t.id \
         ORDER BY t.id, g.gallery"
    )
}

/// Rows of [`index_sql`] grouped into records, one per template.
fn index_records(rows: &[AnyRow]) -> Result<Vec<IndexRecord>, StoreError> {
    let mut out: Vec<IndexRecord> = Vec::new();
    for r in rows {
        let id: String = r.try_get("t_id")?;
        let gallery = GalleryName::parse(&r.try_get::<String, _>("gallery")?)
            .map_err(|_| corrupt("gallery name"))?;
        match out.last_mut() {
            Some(last) if last.template.id.as_str() == id => last.galleries.push(gallery),
            _ => out.push(IndexRecord {
                subject: Pseudonym::parse(&r.try_get::<String, _>("subject")?)
                    .map_err(|_| corrupt("template subject"))?,
                template: template_from_row(r)?,
                galleries: vec![gallery],
            }),
        }
    }
    Ok(out)
}

#[async_trait]
impl GalleryStore for SqlStore {
    async fn gallery_size(
        &self,
        purpose: &PurposeId,
        gallery: &GalleryName,
    ) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM template_galleries WHERE purpose_id = $1 AND gallery = $2",
        )
        .bind(purpose.as_str())
        .bind(gallery.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok(n.max(0) as u64)
    }

    async fn candidate(
        &self,
        purpose: &PurposeId,
        template: &TemplateId,
    ) -> Result<Option<CandidateMaterial>, StoreError> {
        // One row per gallery of the template; consent and template are read together.
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT t.subject AS subject, c.id AS consent_id, g.gallery AS gallery, \
             c.notice_version AS consent_notice, s.ledger_salt AS ledger_salt, \
             l.locked_at AS locked_at, {FLOOR_COLUMNS}, {TEMPLATE_COLUMNS} \
             FROM templates t JOIN data_keys k ON k.id = t.data_key_id \
             LEFT JOIN consents c ON c.subject = t.subject AND c.purpose_id = t.purpose_id \
                 AND c.ended_at IS NULL \
             LEFT JOIN template_galleries g ON g.template_id = t.id \
             LEFT JOIN subject_locks l ON l.subject = t.subject \
             LEFT JOIN subjects s ON s.pseudonym = t.subject {} \
             WHERE t.id = $1 AND t.purpose_id = $2",
            floor_join("t.purpose_id")
        )))
        .bind(template.as_str())
        .bind(purpose.as_str())
        .fetch_all(&self.pool)
        .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let mut galleries = Vec::new();
        for r in &rows {
            if let Some(g) = r.try_get::<Option<String>, _>("gallery")? {
                galleries.push(GalleryName::parse(&g).map_err(|_| corrupt("gallery name"))?);
            }
        }
        Ok(Some(CandidateMaterial {
            subject: Pseudonym::parse(&first.try_get::<String, _>("subject")?)
                .map_err(|_| corrupt("template subject"))?,
            consent: ConsentEvidence {
                live: first.try_get::<Option<String>, _>("consent_id")?.is_some(),
                notice: first.try_get("consent_notice")?,
                floor: notice_floor_from_row(first)?,
                locked: first.try_get::<Option<i64>, _>("locked_at")?.is_some(),
            },
            template: template_from_row(first)?,
            galleries,
            ledger_salt: first
                .try_get::<Option<Vec<u8>>, _>("ledger_salt")?
                .map(|b| b.try_into().map_err(|_| corrupt("ledger salt")))
                .transpose()?,
        }))
    }

    async fn index_page(
        &self,
        purpose: &PurposeId,
        version: u32,
        after: Option<&TemplateId>,
        limit: u32,
    ) -> Result<Vec<IndexRecord>, StoreError> {
        // Page over templates first, then fetch their gallery rows, so a page never splits
        // one template's galleries.
        let rows = sqlx::query(AssertSqlSafe(index_sql("AND id > $3 ORDER BY id LIMIT $4")))
            .bind(purpose.as_str())
            .bind(i64::from(version))
            .bind(after.map_or("", |a| a.as_str()).to_owned())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        index_records(&rows)
    }

    async fn index_records_of(
        &self,
        purpose: &PurposeId,
        version: u32,
        subject: &Pseudonym,
    ) -> Result<Vec<IndexRecord>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(index_sql("AND subject = $3")))
            .bind(purpose.as_str())
            .bind(i64::from(version))
            .bind(subject.as_str())
            .fetch_all(&self.pool)
            .await?;
        index_records(&rows)
    }

    async fn template_exists(&self, template: &TemplateId) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM templates WHERE id = $1")
            .bind(template.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    async fn record_identification(
        &self,
        templates: &[TemplateId],
        at: Timestamp,
        leaves: &[LeafDraft],
    ) -> Result<Vec<u64>, StoreError> {
        let (templates, leaves) = (templates.to_vec(), leaves.to_vec());
        // One leaf per decision, so this change appends its leaves itself.
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    for t in &templates {
                        sqlx::query("UPDATE templates SET last_used_at = $1 WHERE id = $2")
                            .bind(at.unix())
                            .bind(t.as_str())
                            .execute(b.conn())
                            .await?;
                    }
                    let mut indexes = Vec::with_capacity(leaves.len());
                    for leaf in &leaves {
                        indexes.push(b.append_leaf(leaf)?);
                    }
                    Ok(indexes)
                })
            })
            .await
    }
}
