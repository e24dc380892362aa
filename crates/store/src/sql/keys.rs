//! [`KeyStore`] on SQL: service secrets, and every wrapped key for rotation.

use async_trait::async_trait;
use bioguard_core::{DataKeyId, KekUsage, Pseudonym, PurposeId, Timestamp};
use sqlx::Row;

use crate::error::StoreError;
use crate::records::{SealedKey, WrappedRow};
use crate::sql::conn::corrupt;
use crate::sql::decode::sealed_key_from_row;
use crate::sql::store::SqlStore;
use crate::traits::KeyStore;

#[async_trait]
impl KeyStore for SqlStore {
    async fn system_secret(&self, name: &str) -> Result<Option<SealedKey>, StoreError> {
        let row = sqlx::query("SELECT kek, wrapped FROM system_secrets WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(sealed_key_from_row).transpose()
    }

    async fn insert_system_secret(
        &self,
        name: &str,
        key: &SealedKey,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "INSERT INTO system_secrets (name, kek, wrapped, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(name)
        .bind(&key.kek)
        .bind(key.wrapped.clone())
        .bind(at.unix())
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn kek_usage(&self) -> Result<Vec<KekUsage>, StoreError> {
        let rows = sqlx::query(
            "SELECT kek, COUNT(*) AS n FROM (SELECT kek FROM data_keys \
             UNION ALL SELECT kek FROM protection_keys UNION ALL SELECT kek FROM system_secrets) k \
             GROUP BY kek ORDER BY kek",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(KekUsage {
                    kek: r.try_get("kek")?,
                    keys: r.try_get::<i64, _>("n")? as u64,
                })
            })
            .collect()
    }

    async fn wrapped_not_on(
        &self,
        current: &str,
        limit: u32,
    ) -> Result<Vec<WrappedRow>, StoreError> {
        let mut out = Vec::new();
        for r in sqlx::query(
            "SELECT name, kek, wrapped FROM system_secrets WHERE kek <> $1 ORDER BY name LIMIT $2",
        )
        .bind(current)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        {
            out.push(WrappedRow::SystemSecret {
                name: r.try_get("name")?,
                sealed: sealed_key_from_row(&r)?,
            });
        }
        let left = (i64::from(limit) - out.len() as i64).max(0);
        for r in sqlx::query(
            "SELECT purpose_id, version, kek, wrapped FROM protection_keys WHERE kek <> $1 \
             ORDER BY purpose_id, version LIMIT $2",
        )
        .bind(current)
        .bind(left)
        .fetch_all(&self.pool)
        .await?
        {
            out.push(WrappedRow::ProtectionKey {
                purpose: PurposeId::parse(&r.try_get::<String, _>("purpose_id")?)
                    .map_err(|_| corrupt("protection key purpose"))?,
                version: u32::try_from(r.try_get::<i64, _>("version")?)
                    .map_err(|_| corrupt("protection key version"))?,
                sealed: sealed_key_from_row(&r)?,
            });
        }
        let left = (i64::from(limit) - out.len() as i64).max(0);
        for r in sqlx::query(
            "SELECT id, subject, purpose_id, kek, wrapped FROM data_keys WHERE kek <> $1 \
             ORDER BY id LIMIT $2",
        )
        .bind(current)
        .bind(left)
        .fetch_all(&self.pool)
        .await?
        {
            out.push(WrappedRow::DataKey {
                subject: Pseudonym::parse(&r.try_get::<String, _>("subject")?)
                    .map_err(|_| corrupt("data key subject"))?,
                purpose: PurposeId::parse(&r.try_get::<String, _>("purpose_id")?)
                    .map_err(|_| corrupt("data key purpose"))?,
                id: DataKeyId::parse(&r.try_get::<String, _>("id")?)
                    .map_err(|_| corrupt("data key id"))?,
                sealed: sealed_key_from_row(&r)?,
            });
        }
        Ok(out)
    }

    async fn replace_wrap(&self, row: &WrappedRow, new: &SealedKey) -> Result<bool, StoreError> {
        let old = row.sealed();
        let (sql, key, version): (&str, String, i64) = match row {
            WrappedRow::DataKey { id, .. } => (
                "UPDATE data_keys SET kek = $1, wrapped = $2 \
                 WHERE id = $3 AND kek = $4 AND wrapped = $5 AND $6 = 0",
                id.as_str().to_owned(),
                0,
            ),
            WrappedRow::ProtectionKey {
                purpose, version, ..
            } => (
                "UPDATE protection_keys SET kek = $1, wrapped = $2 \
                 WHERE purpose_id = $3 AND kek = $4 AND wrapped = $5 AND version = $6",
                purpose.as_str().to_owned(),
                i64::from(*version),
            ),
            WrappedRow::SystemSecret { name, .. } => (
                "UPDATE system_secrets SET kek = $1, wrapped = $2 \
                 WHERE name = $3 AND kek = $4 AND wrapped = $5 AND $6 = 0",
                name.clone(),
                0,
            ),
        };
        let n = sqlx::query(sql)
            .bind(&new.kek)
            .bind(new.wrapped.clone())
            .bind(key)
            .bind(&old.kek)
            .bind(old.wrapped.clone())
            .bind(version)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n == 1)
    }
}
