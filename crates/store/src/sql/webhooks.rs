//! [`WebhookStore`] on SQL, and the outbox rows every change writes with its leaf.

use std::collections::BTreeSet;

use async_trait::async_trait;
use bioguard_core::{ClientId, Pseudonym, Timestamp};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::error::StoreError;
use crate::records::{DueMessage, LeafDraft, MessageState, Settlement, WebhookEndpoint};
use crate::sql::conn::corrupt;
use crate::sql::store::{Recorded, SqlStore};
use crate::traits::{ReplayTarget, WebhookStore};

const ENDPOINT_COLUMNS: &str =
    "e.id, e.client_id, e.url, e.events, e.secret, e.created_at, e.disabled_at";

fn endpoint_from_row(row: &AnyRow) -> Result<WebhookEndpoint, StoreError> {
    let client: String = row.try_get("client_id")?;
    let events: String = row.try_get("events")?;
    let disabled: Option<i64> = row.try_get("disabled_at")?;
    Ok(WebhookEndpoint {
        id: row.try_get("id")?,
        client: ClientId::parse(&client).map_err(|_| corrupt("webhook endpoint client"))?,
        url: row.try_get("url")?,
        events: events
            .split(',')
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect::<BTreeSet<_>>(),
        secret: row.try_get("secret")?,
        created_at: Timestamp::from_unix(row.try_get("created_at")?),
        disabled_at: disabled.map(Timestamp::from_unix),
    })
}

fn count(n: i64, what: &str) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| corrupt(what))
}

fn status(n: Option<i64>) -> Result<Option<u16>, StoreError> {
    n.map(|s| u16::try_from(s).map_err(|_| corrupt("webhook attempt status")))
        .transpose()
}

#[async_trait]
impl WebhookStore for SqlStore {
    async fn create_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError> {
        let e = endpoint.clone();
        self.change(leaf, move |b, _| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO webhook_endpoints (id, client_id, url, events, secret, \
                     created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(e.id.as_str())
                .bind(e.client.as_str())
                .bind(e.url.as_str())
                .bind(e.events.iter().cloned().collect::<Vec<_>>().join(","))
                .bind(e.secret.clone())
                .bind(e.created_at.unix())
                .execute(b.conn())
                .await?;
                Ok(Recorded::Changed(()))
            })
        })
        .await
    }

    async fn disable_endpoint(
        &self,
        id: &str,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.change(leaf, move |b, _| {
            Box::pin(async move {
                let n = sqlx::query(
                    "UPDATE webhook_endpoints SET disabled_at = $1 \
                     WHERE id = $2 AND disabled_at IS NULL",
                )
                .bind(at.unix())
                .bind(id.as_str())
                .execute(b.conn())
                .await?
                .rows_affected();
                Ok(Recorded::when(n > 0, n > 0))
            })
        })
        .await
    }

    async fn endpoint(&self, id: &str) -> Result<Option<WebhookEndpoint>, StoreError> {
        let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints e WHERE e.id = $1");
        sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(endpoint_from_row)
            .transpose()
    }

    async fn endpoints_of(&self, client: &ClientId) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints e WHERE e.client_id = $1 \
             ORDER BY e.created_at, e.id"
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(client.as_str())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(endpoint_from_row)
            .collect()
    }

    async fn any_live_endpoint(&self) -> Result<bool, StoreError> {
        let any: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM webhook_endpoints WHERE disabled_at IS NULL LIMIT 1")
                .fetch_optional(&self.pool)
                .await?;
        Ok(any.is_some())
    }

    async fn endpoints_for(
        &self,
        clients: &[ClientId],
    ) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let mut out = Vec::new();
        // The few clients that hold a subject's consents; one indexed read each.
        for c in clients {
            let sql = format!(
                "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints e \
                 WHERE e.client_id = $1 AND e.disabled_at IS NULL ORDER BY e.created_at, e.id"
            );
            for row in sqlx::query(AssertSqlSafe(sql))
                .bind(c.as_str())
                .fetch_all(&self.pool)
                .await?
            {
                out.push(endpoint_from_row(&row)?);
            }
        }
        Ok(out)
    }

    async fn lease_due(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<DueMessage>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // Polled every second by every node: when nothing is due, a read on the index and no
        // write transaction.
        let any: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM webhook_messages WHERE next_attempt_at <= $1 LIMIT 1",
        )
        .bind(now.unix())
        .fetch_optional(&self.pool)
        .await?;
        if any.is_none() {
            return Ok(Vec::new());
        }
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    let rows = sqlx::query(
                        "SELECT m.id, m.endpoint_id, m.event, m.payload, m.attempts, e.url, \
                         e.secret FROM webhook_messages m \
                         JOIN webhook_endpoints e ON e.id = m.endpoint_id \
                         WHERE m.next_attempt_at <= $1 AND e.disabled_at IS NULL \
                         AND (m.leased_until IS NULL OR m.leased_until <= $1) \
                         ORDER BY m.next_attempt_at, m.created_at, m.id LIMIT $2",
                    )
                    .bind(now.unix())
                    .bind(limit)
                    .fetch_all(b.conn())
                    .await?;
                    let mut out = Vec::with_capacity(rows.len());
                    for row in rows {
                        let id: String = row.try_get("id")?;
                        // Another node may have leased it since the read (PostgreSQL): the
                        // conditional update lets one of them have it.
                        let taken = sqlx::query(
                            "UPDATE webhook_messages SET leased_until = $1 WHERE id = $2 \
                             AND (leased_until IS NULL OR leased_until <= $3)",
                        )
                        .bind(lease_until.unix())
                        .bind(id.as_str())
                        .bind(now.unix())
                        .execute(b.conn())
                        .await?
                        .rows_affected();
                        if taken == 0 {
                            continue;
                        }
                        out.push(DueMessage {
                            endpoint: row.try_get("endpoint_id")?,
                            url: row.try_get("url")?,
                            secret: row.try_get("secret")?,
                            event: row.try_get("event")?,
                            payload: row.try_get("payload")?,
                            attempts: count(row.try_get("attempts")?, "webhook attempts")?,
                            id,
                        });
                    }
                    Ok(out)
                })
            })
            .await
    }

    async fn settle(&self, message: &str, outcome: &Settlement) -> Result<(), StoreError> {
        let (id, o) = (message.to_owned(), outcome.clone());
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    let attempts: Option<i64> =
                        sqlx::query_scalar("SELECT attempts FROM webhook_messages WHERE id = $1")
                            .bind(id.as_str())
                            .fetch_optional(b.conn())
                            .await?;
                    // Purged meanwhile: nothing to record.
                    let Some(attempts) = attempts else {
                        return Ok(());
                    };
                    let attempt = attempts + 1;
                    sqlx::query(
                        "INSERT INTO webhook_attempts (message_id, attempt, at, status, error) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(id.as_str())
                    .bind(attempt)
                    .bind(o.at.unix())
                    .bind(o.status.map(i64::from))
                    .bind(o.error.clone())
                    .execute(b.conn())
                    .await?;
                    let given_up = !o.delivered && o.next_attempt_at.is_none();
                    sqlx::query(
                        "UPDATE webhook_messages SET attempts = $1, next_attempt_at = $2, \
                         leased_until = NULL, delivered_at = CASE WHEN $3 = 1 THEN $4 \
                         ELSE delivered_at END, failed_at = CASE WHEN $5 = 1 THEN $4 ELSE NULL END \
                         WHERE id = $6",
                    )
                    .bind(attempt)
                    .bind(o.next_attempt_at.map(Timestamp::unix))
                    .bind(i64::from(o.delivered))
                    .bind(o.at.unix())
                    .bind(i64::from(given_up))
                    .bind(id.as_str())
                    .execute(b.conn())
                    .await?;
                    Ok(())
                })
            })
            .await
    }

    async fn messages(
        &self,
        endpoint: &str,
        limit: usize,
    ) -> Result<Vec<MessageState>, StoreError> {
        let rows = sqlx::query(
            "SELECT m.id, m.event, m.created_at, m.attempts, m.next_attempt_at, \
             m.delivered_at, m.failed_at, a.status, a.error FROM webhook_messages m \
             LEFT JOIN webhook_attempts a ON a.message_id = m.id AND a.attempt = m.attempts \
             WHERE m.endpoint_id = $1 ORDER BY m.created_at DESC, m.id DESC LIMIT $2",
        )
        .bind(endpoint)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let time = |c: &str| -> Result<Option<Timestamp>, StoreError> {
                    Ok(row.try_get::<Option<i64>, _>(c)?.map(Timestamp::from_unix))
                };
                Ok(MessageState {
                    id: row.try_get("id")?,
                    event: row.try_get("event")?,
                    created_at: Timestamp::from_unix(row.try_get("created_at")?),
                    attempts: count(row.try_get("attempts")?, "webhook attempts")?,
                    next_attempt_at: time("next_attempt_at")?,
                    delivered_at: time("delivered_at")?,
                    failed_at: time("failed_at")?,
                    last_status: status(row.try_get("status")?)?,
                    last_error: row.try_get("error")?,
                })
            })
            .collect()
    }

    async fn replay(&self, target: &ReplayTarget, now: Timestamp) -> Result<u64, StoreError> {
        let target = target.clone();
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    let done = match &target {
                        ReplayTarget::Message { id, endpoint: None } => sqlx::query(
                            "UPDATE webhook_messages SET next_attempt_at = $1, failed_at = NULL, \
                             leased_until = NULL WHERE id = $2",
                        )
                        .bind(now.unix())
                        .bind(id.as_str())
                        .execute(b.conn())
                        .await?
                        .rows_affected(),
                        ReplayTarget::Message {
                            id,
                            endpoint: Some(endpoint),
                        } => sqlx::query(
                            "UPDATE webhook_messages SET next_attempt_at = $1, failed_at = NULL, \
                             leased_until = NULL WHERE id = $2 AND endpoint_id = $3",
                        )
                        .bind(now.unix())
                        .bind(id.as_str())
                        .bind(endpoint.as_str())
                        .execute(b.conn())
                        .await?
                        .rows_affected(),
                        ReplayTarget::Endpoint { id, since } => sqlx::query(
                            "UPDATE webhook_messages SET next_attempt_at = $1, failed_at = NULL, \
                             leased_until = NULL WHERE endpoint_id = $2 AND created_at >= $3",
                        )
                        .bind(now.unix())
                        .bind(id.as_str())
                        .bind(since.unix())
                        .execute(b.conn())
                        .await?
                        .rows_affected(),
                    };
                    Ok(done)
                })
            })
            .await
    }

    async fn purge_messages(&self, before: Timestamp) -> Result<u64, StoreError> {
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    let old = "SELECT id FROM webhook_messages WHERE next_attempt_at IS NULL \
                               AND COALESCE(delivered_at, failed_at) < $1";
                    sqlx::query(AssertSqlSafe(format!(
                        "DELETE FROM webhook_attempts WHERE message_id IN ({old})"
                    )))
                    .bind(before.unix())
                    .execute(b.conn())
                    .await?;
                    Ok(sqlx::query(
                        "DELETE FROM webhook_messages WHERE next_attempt_at IS NULL \
                         AND COALESCE(delivered_at, failed_at) < $1",
                    )
                    .bind(before.unix())
                    .execute(b.conn())
                    .await?
                    .rows_affected())
                })
            })
            .await
    }

    async fn sealed_ref(&self, subject: &Pseudonym) -> Result<Option<Vec<u8>>, StoreError> {
        let row: Option<Option<Vec<u8>>> =
            sqlx::query_scalar("SELECT sealed_ref FROM subjects WHERE pseudonym = $1")
                .bind(subject.as_str())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.flatten())
    }

    async fn note_sealed_ref(
        &self,
        subject: &Pseudonym,
        sealed: Vec<u8>,
    ) -> Result<(), StoreError> {
        let subject = subject.clone();
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    sqlx::query(
                        "UPDATE subjects SET sealed_ref = $1 \
                         WHERE pseudonym = $2 AND sealed_ref IS NULL",
                    )
                    .bind(sealed)
                    .bind(subject.as_str())
                    .execute(b.conn())
                    .await?;
                    Ok(())
                })
            })
            .await
    }
}
