//! [`TenantStore`] on SQL.

use async_trait::async_trait;
use bioguard_core::{Pseudonym, TenantId, TenantName, TenantRecord, Timestamp};
use sqlx::Row;

use crate::error::StoreError;
use crate::records::LeafDraft;
use crate::sql::conn::corrupt;
use crate::sql::store::{Recorded, SqlStore};
use crate::traits::TenantStore;

fn tenant_from_row(r: &sqlx::any::AnyRow) -> Result<TenantRecord, StoreError> {
    Ok(TenantRecord {
        id: TenantId::parse(&r.try_get::<String, _>("id")?).map_err(|_| corrupt("tenant id"))?,
        name: TenantName::parse(&r.try_get::<String, _>("name")?)
            .map_err(|_| corrupt("tenant name"))?,
        created_at: Timestamp::from_unix(r.try_get("created_at")?),
    })
}

fn salt(bytes: Vec<u8>) -> Result<[u8; 32], StoreError> {
    bytes.try_into().map_err(|_| corrupt("ledger salt"))
}

#[async_trait]
impl TenantStore for SqlStore {
    async fn create_tenant(
        &self,
        tenant: &TenantRecord,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError> {
        let t = tenant.clone();
        self.change(leaf, move |b, _| {
            Box::pin(async move {
                let n = sqlx::query(
                    "INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(t.id.as_str())
                .bind(t.name.as_str())
                .bind(t.created_at.unix())
                .execute(b.conn())
                .await?
                .rows_affected();
                if n == 0 {
                    return Err(StoreError::Conflict("a tenant with this id"));
                }
                Ok(Recorded::Changed(()))
            })
        })
        .await
    }

    async fn tenants(&self) -> Result<Vec<TenantRecord>, StoreError> {
        sqlx::query("SELECT id, name, created_at FROM tenants ORDER BY id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(tenant_from_row)
            .collect()
    }

    async fn tenant(&self, id: &TenantId) -> Result<Option<TenantRecord>, StoreError> {
        sqlx::query("SELECT id, name, created_at FROM tenants WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(tenant_from_row)
            .transpose()
    }

    async fn ledger_salt(
        &self,
        subject: &Pseudonym,
        fresh: [u8; 32],
        at: Timestamp,
    ) -> Result<[u8; 32], StoreError> {
        let subject = subject.clone();
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO subjects (pseudonym, created_at, ledger_salt) \
                         VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    )
                    .bind(subject.as_str())
                    .bind(at.unix())
                    .bind(fresh.to_vec())
                    .execute(b.conn())
                    .await?;
                    sqlx::query(
                        "UPDATE subjects SET ledger_salt = $1 \
                         WHERE pseudonym = $2 AND ledger_salt IS NULL",
                    )
                    .bind(fresh.to_vec())
                    .bind(subject.as_str())
                    .execute(b.conn())
                    .await?;
                    let stored: Vec<u8> =
                        sqlx::query_scalar("SELECT ledger_salt FROM subjects WHERE pseudonym = $1")
                            .bind(subject.as_str())
                            .fetch_one(b.conn())
                            .await?;
                    salt(stored)
                })
            })
            .await
    }

    async fn ledger_salts(
        &self,
        subjects: &[Pseudonym],
    ) -> Result<Vec<(Pseudonym, [u8; 32])>, StoreError> {
        let mut out = Vec::with_capacity(subjects.len());
        // Few at a time (the candidates of one identification): one indexed read each.
        for s in subjects {
            let row: Option<Option<Vec<u8>>> =
                sqlx::query_scalar("SELECT ledger_salt FROM subjects WHERE pseudonym = $1")
                    .bind(s.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
            if let Some(Some(bytes)) = row {
                out.push((s.clone(), salt(bytes)?));
            }
        }
        Ok(out)
    }
}
