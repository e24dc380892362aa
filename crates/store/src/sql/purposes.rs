//! [`PurposeStore`] on SQL.

use async_trait::async_trait;
use bioguard_core::{FairnessState, Notice, Purpose, PurposeId, PurposeRecord, Timestamp};
use sqlx::Row;

use crate::error::StoreError;
use crate::records::{LeafDraft, ProtectionKey};
use crate::sql::conn::corrupt;
use crate::sql::decode::{protection_key_from_row, purpose_with_matcher_from_row};
use crate::sql::store::{Recorded, SqlStore};
use crate::sql::writer::Batch;
use crate::traits::PurposeStore;

/// Inserts a protection key version with its matcher.
async fn insert_protection_key(
    b: &mut Batch<'_>,
    purpose: &PurposeId,
    version: i64,
    key: &ProtectionKey,
    at: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO protection_keys (purpose_id, version, kek, wrapped, created_at, transform, \
         centre) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(purpose.as_str())
    .bind(version)
    .bind(&key.sealed.kek)
    .bind(key.sealed.wrapped.clone())
    .bind(at.unix())
    .bind(key.matcher.transform.as_str())
    .bind(key.matcher.centre.as_ref().map(|c| c.to_bytes()))
    .execute(b.conn())
    .await?;
    Ok(())
}

/// Inserts a notice version; a taken version is [`StoreError::Conflict`].
async fn insert_notice(
    b: &mut Batch<'_>,
    purpose: &PurposeId,
    n: &Notice,
) -> Result<(), StoreError> {
    let r = sqlx::query(
        "INSERT INTO notices (purpose_id, version, body, hash, material, reconsent_days, \
         published_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(purpose.as_str())
    .bind(i64::from(n.version))
    .bind(n.body.as_str())
    .bind(n.hash.as_str())
    .bind(i64::from(n.material))
    .bind(n.reconsent_days.map(i64::from))
    .bind(n.published_at.unix())
    .execute(b.conn())
    .await;
    match r {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            Err(StoreError::Conflict("this notice version"))
        }
        Err(e) => Err(e.into()),
    }
}

#[async_trait]
impl PurposeStore for SqlStore {
    async fn create_purpose(
        &self,
        p: &Purpose,
        protection_key: &ProtectionKey,
        notice: &Notice,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError> {
        let (p, key, notice) = (p.clone(), protection_key.clone(), notice.clone());
        let at = notice.published_at;
        self.change(leaf, move |b, _| {
            Box::pin(async move {
                let ops: Vec<&str> = p.operations.iter().map(|o| o.as_str()).collect();
                let result = sqlx::query(
                    "INSERT INTO purposes (id, description, operations, dimension, threshold, \
                     retention_days_since_enrolment, retention_days_since_last_use, created_at, \
                     code_bits, max_gallery_size, calibration, protection_version, risk, \
                     fairness) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $13)",
                )
                .bind(p.id.as_str())
                .bind(p.description.as_str())
                .bind(ops.join(","))
                .bind(p.dimension.get() as i64)
                .bind(p.threshold.get())
                .bind(i64::from(p.retention.max_days_since_enrolment()))
                .bind(p.retention.max_days_since_last_use().map(i64::from))
                .bind(at.unix())
                .bind(p.code_bits.bits() as i64)
                .bind(p.max_gallery_size.map(i64::from))
                .bind(p.calibration.clone())
                .bind(p.risk.to_text())
                .bind(p.fairness.to_text())
                .execute(b.conn())
                .await;
                match result {
                    Ok(_) => {}
                    Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                        return Err(StoreError::Conflict("a purpose with this id"));
                    }
                    Err(e) => return Err(e.into()),
                }
                insert_protection_key(b, &p.id, 1, &key, at).await?;
                insert_notice(b, &p.id, &notice).await?;
                Ok(Recorded::Changed(()))
            })
        })
        .await
    }

    async fn publish_notice(
        &self,
        purpose: &PurposeId,
        notice: &Notice,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError> {
        let (purpose, notice) = (purpose.clone(), notice.clone());
        self.change(leaf, move |b, _| {
            Box::pin(async move {
                insert_notice(b, &purpose, &notice).await?;
                Ok(Recorded::Changed(()))
            })
        })
        .await
    }

    async fn notices(&self, purpose: &PurposeId) -> Result<Vec<Notice>, StoreError> {
        let rows = sqlx::query(
            "SELECT version, body, hash, material, reconsent_days, published_at FROM notices \
             WHERE purpose_id = $1 ORDER BY version",
        )
        .bind(purpose.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Notice {
                    version: u32::try_from(r.try_get::<i64, _>("version")?)
                        .map_err(|_| corrupt("notice version"))?,
                    body: r.try_get("body")?,
                    hash: r.try_get("hash")?,
                    material: r.try_get::<i64, _>("material")? != 0,
                    reconsent_days: r
                        .try_get::<Option<i64>, _>("reconsent_days")?
                        .map(|d| u32::try_from(d).map_err(|_| corrupt("notice reconsent days")))
                        .transpose()?,
                    published_at: Timestamp::from_unix(r.try_get("published_at")?),
                })
            })
            .collect()
    }

    async fn purpose(&self, id: &PurposeId) -> Result<Option<PurposeRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT p.*, k.transform AS k_transform, \
             CASE WHEN k.centre IS NULL THEN 0 ELSE 1 END AS k_centred \
             FROM purposes p LEFT JOIN protection_keys k \
             ON k.purpose_id = p.id AND k.version = p.protection_version WHERE p.id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(purpose_with_matcher_from_row).transpose()
    }

    async fn purposes(&self) -> Result<Vec<PurposeRecord>, StoreError> {
        sqlx::query(
            "SELECT p.*, k.transform AS k_transform, \
             CASE WHEN k.centre IS NULL THEN 0 ELSE 1 END AS k_centred \
             FROM purposes p LEFT JOIN protection_keys k \
             ON k.purpose_id = p.id AND k.version = p.protection_version ORDER BY p.id",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(purpose_with_matcher_from_row)
        .collect()
    }

    async fn protection_key(
        &self,
        purpose: &PurposeId,
        version: u32,
    ) -> Result<Option<ProtectionKey>, StoreError> {
        let row = sqlx::query(
            "SELECT kek, wrapped, transform, centre FROM protection_keys \
             WHERE purpose_id = $1 AND version = $2",
        )
        .bind(purpose.as_str())
        .bind(i64::from(version))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(protection_key_from_row).transpose()
    }

    async fn rotate_protection_key(
        &self,
        purpose: &PurposeId,
        from: u32,
        key: &ProtectionKey,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<u32, StoreError> {
        let (purpose, key) = (purpose.clone(), key.clone());
        self.change(leaf, move |b, _| {
            Box::pin(async move {
                let next = i64::from(from) + 1;
                let updated = sqlx::query(
                    "UPDATE purposes SET protection_version = $1 \
                     WHERE id = $2 AND protection_version = $3",
                )
                .bind(next)
                .bind(purpose.as_str())
                .bind(i64::from(from))
                .execute(b.conn())
                .await?
                .rows_affected();
                if updated != 1 {
                    return Err(StoreError::ProtectionKeyChanged);
                }
                insert_protection_key(b, &purpose, next, &key, at).await?;
                sqlx::query("DELETE FROM protection_keys WHERE purpose_id = $1 AND version < $2")
                    .bind(purpose.as_str())
                    .bind(next)
                    .execute(b.conn())
                    .await?;
                Ok(Recorded::Changed(from + 1))
            })
        })
        .await
    }

    async fn retire_purpose(
        &self,
        purpose: &PurposeId,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<Option<Timestamp>, StoreError> {
        let purpose = purpose.clone();
        self.change(leaf, move |b, _| {
            Box::pin(async move {
                let updated = sqlx::query(
                    "UPDATE purposes SET retired_at = $1 WHERE id = $2 AND retired_at IS NULL",
                )
                .bind(at.unix())
                .bind(purpose.as_str())
                .execute(b.conn())
                .await?
                .rows_affected();
                if updated == 1 {
                    return Ok(Recorded::Changed(Some(at)));
                }
                let before: Option<Option<i64>> =
                    sqlx::query_scalar("SELECT retired_at FROM purposes WHERE id = $1")
                        .bind(purpose.as_str())
                        .fetch_optional(b.conn())
                        .await?;
                Ok(Recorded::Unchanged(
                    before.flatten().map(Timestamp::from_unix),
                ))
            })
        })
        .await
    }

    async fn activate_matcher(
        &self,
        purpose: &PurposeId,
        threshold: f64,
        state: &FairnessState,
        leaf: &LeafDraft,
    ) -> Result<bool, StoreError> {
        let (purpose, state) = (purpose.clone(), state.clone());
        self.change(leaf, move |b, _| {
            Box::pin(async move {
                let n = sqlx::query(
                    "UPDATE purposes SET threshold = $1, fairness_status = $2, \
                     fairness_report = $3, fairness_at = $4 WHERE id = $5",
                )
                .bind(threshold)
                .bind(state.status.as_str())
                .bind(state.report_sha256.clone())
                .bind(state.at.map(Timestamp::unix))
                .bind(purpose.as_str())
                .execute(b.conn())
                .await?
                .rows_affected();
                Ok(Recorded::when(n == 1, n == 1))
            })
        })
        .await
    }
}
