//! [`PortalStore`] on SQL.

use async_trait::async_trait;
use bioguard_core::{ClientId, Pseudonym, Timestamp};
use sqlx::Row;

use crate::error::StoreError;
use crate::records::{LeafDraft, PortalLink};
use crate::sql::conn::corrupt;
use crate::sql::store::{Recorded, SqlStore};
use crate::traits::PortalStore;

#[async_trait]
impl PortalStore for SqlStore {
    async fn create_portal_link(
        &self,
        digest: &str,
        subject: &Pseudonym,
        client: &ClientId,
        now: Timestamp,
        expires_at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError> {
        let (digest, subject, client) = (digest.to_owned(), subject.clone(), client.clone());
        self.change(leaf, move |b, _| {
            Box::pin(async move {
                sqlx::query("DELETE FROM portal_links WHERE expires_at < $1")
                    .bind(now.unix())
                    .execute(b.conn())
                    .await?;
                sqlx::query(
                    "INSERT INTO portal_links (digest, subject, client_id, issued_at, \
                     expires_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(digest.as_str())
                .bind(subject.as_str())
                .bind(client.as_str())
                .bind(now.unix())
                .bind(expires_at.unix())
                .execute(b.conn())
                .await?;
                Ok(Recorded::Changed(()))
            })
        })
        .await
    }

    async fn open_portal_link(
        &self,
        link: &str,
        session: &str,
        now: Timestamp,
    ) -> Result<Option<PortalLink>, StoreError> {
        let opened = sqlx::query(
            "UPDATE portal_links SET opened_at = $1, session_digest = $2 \
             WHERE digest = $3 AND opened_at IS NULL AND expires_at > $1",
        )
        .bind(now.unix())
        .bind(session)
        .bind(link)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if opened != 1 {
            return Ok(None);
        }
        self.portal_session(session).await
    }

    async fn portal_session(&self, session: &str) -> Result<Option<PortalLink>, StoreError> {
        let row = sqlx::query(
            "SELECT subject, client_id, expires_at FROM portal_links WHERE session_digest = $1",
        )
        .bind(session)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(PortalLink {
                subject: Pseudonym::parse(&r.try_get::<String, _>("subject")?)
                    .map_err(|_| corrupt("portal link subject"))?,
                client: ClientId::parse(&r.try_get::<String, _>("client_id")?)
                    .map_err(|_| corrupt("portal link client"))?,
                expires_at: Timestamp::from_unix(r.try_get("expires_at")?),
            })
        })
        .transpose()
    }
}
