//! [`ClientStore`] on SQL.

use std::collections::BTreeSet;

use async_trait::async_trait;
use bioguard_core::{
    ClientId, ClientName, ClientRecord, Grant, PurposeId, SubjectRight, TenantId, Timestamp,
};
use sqlx::{AssertSqlSafe, Row};

use crate::error::StoreError;
use crate::records::{LeafDraft, NewClient};
use crate::sql::conn::corrupt;
use crate::sql::store::{Recorded, SqlStore};
use crate::sql::writer::Batch;
use crate::traits::ClientStore;

/// The one value a client lookup is bound to.
enum Bind {
    Bytes(Vec<u8>),
    Text(String),
}

/// The clients matching `condition` (on `c`, with at most one parameter), each with all its
/// grants, in id order.
async fn clients_where(
    store: &SqlStore,
    condition: &'static str,
    value: Option<Bind>,
) -> Result<Vec<ClientRecord>, StoreError> {
    let sql = format!(
        "SELECT c.id, c.name, c.suspended_at, c.tenant_id, c.rights, g.purpose_id, g.operation \
         FROM clients c LEFT JOIN grants g ON g.client_id = c.id WHERE {condition} ORDER BY c.id"
    );
    let q = sqlx::query(AssertSqlSafe(sql));
    let q = match value {
        Some(Bind::Bytes(b)) => q.bind(b),
        Some(Bind::Text(t)) => q.bind(t),
        None => q,
    };
    let rows = q.fetch_all(&store.pool).await?;
    let mut out: Vec<ClientRecord> = Vec::new();
    for row in &rows {
        let id: String = row.try_get("id")?;
        if out.last().is_none_or(|c| c.id.as_str() != id) {
            out.push(ClientRecord {
                id: ClientId::parse(&id).map_err(|_| corrupt("client id"))?,
                name: ClientName::parse(&row.try_get::<String, _>("name")?)
                    .map_err(|_| corrupt("client name"))?,
                tenant: TenantId::parse(&row.try_get::<String, _>("tenant_id")?)
                    .map_err(|_| corrupt("client tenant"))?,
                grants: BTreeSet::new(),
                rights: SubjectRight::parse_list(&row.try_get::<String, _>("rights")?)
                    .map_err(|_| corrupt("client rights"))?,
                suspended_at: row
                    .try_get::<Option<i64>, _>("suspended_at")?
                    .map(Timestamp::from_unix),
            });
        }
        let purpose: Option<String> = row.try_get("purpose_id")?;
        let op: Option<String> = row.try_get("operation")?;
        if let (Some(p), Some(o), Some(client)) = (purpose, op, out.last_mut()) {
            client.grants.insert(Grant {
                purpose: PurposeId::parse(&p).map_err(|_| corrupt("grant purpose"))?,
                operation: o.parse().map_err(|_| corrupt("grant operation"))?,
            });
        }
    }
    Ok(out)
}

/// The client matching `condition` (on `c`, with one parameter), with all its grants.
async fn client_where(
    store: &SqlStore,
    condition: &'static str,
    value: Bind,
) -> Result<Option<ClientRecord>, StoreError> {
    Ok(clients_where(store, condition, Some(value))
        .await?
        .into_iter()
        .next())
}

/// Deletes the portal links a client issued, opened or not: they end with the client's key or
/// its suspension.
async fn revoke_portal_links(b: &mut Batch<'_>, client: &ClientId) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM portal_links WHERE client_id = $1")
        .bind(client.as_str())
        .execute(b.conn())
        .await?;
    Ok(())
}

#[async_trait]
impl ClientStore for SqlStore {
    async fn create_client(&self, c: &NewClient, leaf: &LeafDraft) -> Result<(), StoreError> {
        let c = c.clone();
        self.change(leaf, move |b, _| {
            Box::pin(async move {
                let inserted = sqlx::query(
                    "INSERT INTO clients (id, name, key_digest, created_at, tenant_id, rights) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(c.id.as_str())
                .bind(c.name.as_str())
                .bind(c.key_digest.to_vec())
                .bind(c.created_at.unix())
                .bind(c.tenant.as_str())
                .bind(SubjectRight::list(&c.rights))
                .execute(b.conn())
                .await;
                match inserted {
                    Ok(_) => {}
                    Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                        return Err(StoreError::Conflict("a client with this id or key"));
                    }
                    Err(e) => return Err(e.into()),
                }
                for g in &c.grants {
                    sqlx::query(
                        "INSERT INTO grants (client_id, purpose_id, operation) VALUES ($1, $2, $3)",
                    )
                    .bind(c.id.as_str())
                    .bind(g.purpose.as_str())
                    .bind(g.operation.as_str())
                    .execute(b.conn())
                    .await?;
                }
                Ok(Recorded::Changed(()))
            })
        })
        .await
    }

    async fn replace_client_key(
        &self,
        client: &ClientId,
        digest: &[u8; 32],
        approved_only: bool,
        leaf: &LeafDraft,
    ) -> Result<bool, StoreError> {
        let (client, digest) = (client.clone(), *digest);
        self.change(leaf, move |b, _| {
            Box::pin(async move {
                let n = sqlx::query(if approved_only {
                    "UPDATE clients SET key_digest = $1, key_issues_approved = 0 \
                     WHERE id = $2 AND key_issues_approved > 0"
                } else {
                    "UPDATE clients SET key_digest = $1, key_issues_approved = 0 WHERE id = $2"
                })
                .bind(digest.to_vec())
                .bind(client.as_str())
                .execute(b.conn())
                .await?
                .rows_affected();
                if n == 1 {
                    revoke_portal_links(b, &client).await?;
                }
                Ok(Recorded::when(n == 1, n == 1))
            })
        })
        .await
    }

    async fn approve_client_key(
        &self,
        client: &ClientId,
        leaf: &LeafDraft,
    ) -> Result<bool, StoreError> {
        let client = client.clone();
        self.change(leaf, move |b, _| {
            Box::pin(async move {
                let n = sqlx::query("UPDATE clients SET key_issues_approved = 1 WHERE id = $1")
                    .bind(client.as_str())
                    .execute(b.conn())
                    .await?
                    .rows_affected();
                Ok(Recorded::when(n == 1, n == 1))
            })
        })
        .await
    }

    async fn set_client_suspended(
        &self,
        client: &ClientId,
        at: Option<Timestamp>,
        leaf: &LeafDraft,
    ) -> Result<bool, StoreError> {
        let client = client.clone();
        self.change(leaf, move |b, _| {
            Box::pin(async move {
                let n = sqlx::query("UPDATE clients SET suspended_at = $1 WHERE id = $2")
                    .bind(at.map(|t| t.unix()))
                    .bind(client.as_str())
                    .execute(b.conn())
                    .await?
                    .rows_affected();
                if n == 1 && at.is_some() {
                    revoke_portal_links(b, &client).await?;
                }
                Ok(Recorded::when(n == 1, n == 1))
            })
        })
        .await
    }

    async fn client_by_key_digest(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<ClientRecord>, StoreError> {
        client_where(self, "c.key_digest = $1", Bind::Bytes(digest.to_vec())).await
    }

    async fn client(&self, id: &ClientId) -> Result<Option<ClientRecord>, StoreError> {
        client_where(self, "c.id = $1", Bind::Text(id.as_str().to_owned())).await
    }

    async fn clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        clients_where(self, "TRUE", None).await
    }

    async fn has_admin_token(&self) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM admin_tokens")
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    async fn insert_admin_token(
        &self,
        digest: &[u8; 32],
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<bool, StoreError> {
        let digest = *digest;
        self.change(leaf, move |b, _| {
            Box::pin(async move {
                let n = sqlx::query(
                    "INSERT INTO admin_tokens (id, digest, created_at) VALUES ('initial', $1, $2) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(digest.to_vec())
                .bind(at.unix())
                .execute(b.conn())
                .await?
                .rows_affected();
                Ok(Recorded::when(n == 1, n == 1))
            })
        })
        .await
    }

    async fn replace_admin_token(
        &self,
        digest: &[u8; 32],
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError> {
        let digest = *digest;
        self.change(leaf, move |b, _| {
            Box::pin(async move {
                sqlx::query("DELETE FROM admin_tokens")
                    .execute(b.conn())
                    .await?;
                // The one row keeps the id `initial`, which stops a second first start from
                // registering a token of its own.
                sqlx::query(
                    "INSERT INTO admin_tokens (id, digest, created_at) VALUES ('initial', $1, $2)",
                )
                .bind(digest.to_vec())
                .bind(at.unix())
                .execute(b.conn())
                .await?;
                Ok(Recorded::when(true, ()))
            })
        })
        .await
    }

    async fn is_admin_token(&self, digest: &[u8; 32]) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM admin_tokens WHERE digest = $1")
            .bind(digest.to_vec())
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }
}
