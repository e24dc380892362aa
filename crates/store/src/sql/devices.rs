//! [`DeviceStore`] on SQL.

use async_trait::async_trait;
use bioguard_core::{ChallengeId, ClientId, DeviceId, PurposeId, Timestamp};
use sqlx::Row;

use crate::error::StoreError;
use crate::records::{ChallengeRefusal, Device, LeafDraft};
use crate::sql::conn::corrupt;
use crate::sql::store::{Recorded, SqlStore};
use crate::traits::DeviceStore;

#[async_trait]
impl DeviceStore for SqlStore {
    async fn register_device(
        &self,
        id: &DeviceId,
        client: &ClientId,
        name: &str,
        public_key: &[u8; 32],
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError> {
        let (id, client, name, key) = (id.clone(), client.clone(), name.to_owned(), *public_key);
        self.change(leaf, move |b, _| {
            Box::pin(async move {
                let r = sqlx::query(
                    "INSERT INTO devices (id, client_id, name, public_key, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(id.as_str())
                .bind(client.as_str())
                .bind(name.as_str())
                .bind(key.to_vec())
                .bind(at.unix())
                .execute(b.conn())
                .await;
                match r {
                    Ok(_) => Ok(Recorded::Changed(())),
                    Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                        Err(StoreError::Conflict("a device with this key"))
                    }
                    Err(e) => Err(e.into()),
                }
            })
        })
        .await
    }

    async fn revoke_device(
        &self,
        id: &DeviceId,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<bool, StoreError> {
        let id = id.clone();
        self.change(leaf, move |b, _| {
            Box::pin(async move {
                let n = sqlx::query(
                    "UPDATE devices SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                )
                .bind(at.unix())
                .bind(id.as_str())
                .execute(b.conn())
                .await?
                .rows_affected();
                Ok(Recorded::when(n == 1, n == 1))
            })
        })
        .await
    }

    async fn device(&self, id: &DeviceId) -> Result<Option<Device>, StoreError> {
        let row =
            sqlx::query("SELECT client_id, public_key, revoked_at FROM devices WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| {
            Ok(Device {
                client: ClientId::parse(&r.try_get::<String, _>("client_id")?)
                    .map_err(|_| corrupt("device client"))?,
                public_key: r
                    .try_get::<Vec<u8>, _>("public_key")?
                    .try_into()
                    .map_err(|_| corrupt("device key"))?,
                revoked_at: r
                    .try_get::<Option<i64>, _>("revoked_at")?
                    .map(Timestamp::from_unix),
            })
        })
        .transpose()
    }

    async fn issue_challenge(
        &self,
        id: &ChallengeId,
        client: &ClientId,
        purpose: &PurposeId,
        purge_before: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        // By the expiry index: the table holds only what is live or recently expired.
        sqlx::query("DELETE FROM challenges WHERE expires_at <= $1")
            .bind(purge_before.unix())
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO challenges (id, client_id, purpose_id, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id.as_str())
        .bind(client.as_str())
        .bind(purpose.as_str())
        .bind(expires_at.unix())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn use_challenge(
        &self,
        id: &ChallengeId,
        client: &ClientId,
        purpose: &PurposeId,
        at: Timestamp,
    ) -> Result<Result<(), ChallengeRefusal>, StoreError> {
        let spent = sqlx::query(
            "UPDATE challenges SET used_at = $1 WHERE id = $2 AND client_id = $3 \
             AND purpose_id = $4 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(at.unix())
        .bind(id.as_str())
        .bind(client.as_str())
        .bind(purpose.as_str())
        .execute(&self.pool)
        .await?
        .rows_affected();
        if spent == 1 {
            return Ok(Ok(()));
        }
        let row = sqlx::query(
            "SELECT used_at, expires_at FROM challenges WHERE id = $1 AND client_id = $2 \
             AND purpose_id = $3",
        )
        .bind(id.as_str())
        .bind(client.as_str())
        .bind(purpose.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(Err(match row {
            None => ChallengeRefusal::Unknown,
            Some(r) if r.try_get::<Option<i64>, _>("used_at")?.is_some() => {
                ChallengeRefusal::Reused
            }
            Some(_) => ChallengeRefusal::Expired,
        }))
    }
}
