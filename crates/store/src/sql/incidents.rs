//! [`IncidentStore`] on SQL.

use async_trait::async_trait;
use bioguard_core::{
    Incident, IncidentEvent, IncidentId, Notification, NotificationCounts, Opener, Pseudonym,
    PurposeId, Timestamp,
};
use sqlx::Row;

use crate::error::StoreError;
use crate::records::LeafDraft;
use crate::sql::conn::corrupt;
use crate::sql::store::{Recorded, SqlStore};
use crate::sql::writer::Batch;
use crate::traits::IncidentStore;

/// Adds one event at position `seq` of an incident's timeline.
async fn insert_event(
    b: &mut Batch<'_>,
    id: &IncidentId,
    seq: i64,
    e: &IncidentEvent,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO incident_events (incident_id, seq, at, action, detail) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id.as_str())
    .bind(seq)
    .bind(e.at.unix())
    .bind(e.action.as_str())
    .bind(e.detail.as_str())
    .execute(b.conn())
    .await?;
    Ok(())
}

#[async_trait]
impl IncidentStore for SqlStore {
    async fn open_incident(&self, i: &Incident, leaf: &LeafDraft) -> Result<(), StoreError> {
        let i = i.clone();
        self.change(leaf, move |b, _| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO incidents (id, kind, summary, opened_by, opened_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(i.id.as_str())
                .bind(i.kind.as_str())
                .bind(i.summary.as_str())
                .bind(i.opened_by.as_str())
                .bind(i.opened_at.unix())
                .execute(b.conn())
                .await?;
                for (n, e) in i.events.iter().enumerate() {
                    insert_event(b, &i.id, n as i64, e).await?;
                }
                Ok(Recorded::Changed(()))
            })
        })
        .await
    }

    async fn add_incident_event(
        &self,
        id: &IncidentId,
        event: &IncidentEvent,
        close: bool,
        leaf: &LeafDraft,
    ) -> Result<bool, StoreError> {
        let (id, event) = (id.clone(), event.clone());
        self.change(leaf, move |b, _| {
            Box::pin(async move {
                let open: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM incidents WHERE id = $1 AND closed_at IS NULL",
                )
                .bind(id.as_str())
                .fetch_one(b.conn())
                .await?;
                if open == 0 {
                    return Ok(Recorded::Unchanged(false));
                }
                let seq: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM incident_events WHERE incident_id = $1",
                )
                .bind(id.as_str())
                .fetch_one(b.conn())
                .await?;
                insert_event(b, &id, seq, &event).await?;
                if close {
                    sqlx::query("UPDATE incidents SET closed_at = $1 WHERE id = $2")
                        .bind(event.at.unix())
                        .bind(id.as_str())
                        .execute(b.conn())
                        .await?;
                }
                Ok(Recorded::Changed(true))
            })
        })
        .await
    }

    async fn incident(&self, id: &IncidentId) -> Result<Option<Incident>, StoreError> {
        let Some(r) = sqlx::query(
            "SELECT id, kind, summary, opened_by, opened_at, closed_at FROM incidents WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let events = sqlx::query(
            "SELECT at, action, detail FROM incident_events WHERE incident_id = $1 ORDER BY seq",
        )
        .bind(id.as_str())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|e| {
            Ok(IncidentEvent {
                at: Timestamp::from_unix(e.try_get("at")?),
                action: e.try_get("action")?,
                detail: e.try_get("detail")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some(Incident {
            id: IncidentId::parse(&r.try_get::<String, _>("id")?)
                .map_err(|_| corrupt("incident id"))?,
            kind: r.try_get("kind")?,
            summary: r.try_get("summary")?,
            opened_by: Opener::parse(&r.try_get::<String, _>("opened_by")?)
                .ok_or_else(|| corrupt("incident opener"))?,
            opened_at: Timestamp::from_unix(r.try_get("opened_at")?),
            closed_at: r
                .try_get::<Option<i64>, _>("closed_at")?
                .map(Timestamp::from_unix),
            events,
        }))
    }

    async fn subjects_with_templates(
        &self,
        purpose: &PurposeId,
        version: u32,
    ) -> Result<Vec<Pseudonym>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT subject FROM templates WHERE purpose_id = $1 \
             AND protection_version = $2 ORDER BY subject",
        )
        .bind(purpose.as_str())
        .bind(i64::from(version))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|s| Pseudonym::parse(s).map_err(|_| corrupt("template subject")))
            .collect()
    }

    async fn create_notifications(
        &self,
        incident: &IncidentId,
        purpose: &PurposeId,
        subjects: &[Pseudonym],
        at: Timestamp,
        deadline: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError> {
        let (incident, purpose, subjects) = (incident.clone(), purpose.clone(), subjects.to_vec());
        self.change(leaf, move |b, _| {
            Box::pin(async move {
                for s in &subjects {
                    sqlx::query(
                        "INSERT INTO notifications (incident_id, subject, purpose_id, \
                         created_at, deadline) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(incident.as_str())
                    .bind(s.as_str())
                    .bind(purpose.as_str())
                    .bind(at.unix())
                    .bind(deadline.unix())
                    .execute(b.conn())
                    .await?;
                }
                Ok(Recorded::Changed(()))
            })
        })
        .await
    }

    async fn mark_notifications_sent(
        &self,
        incident: &IncidentId,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<u64, StoreError> {
        let incident = incident.clone();
        self.change(leaf, move |b, _| {
            Box::pin(async move {
                let n = sqlx::query(
                    "UPDATE notifications SET sent_at = $1 WHERE incident_id = $2 \
                     AND sent_at IS NULL",
                )
                .bind(at.unix())
                .bind(incident.as_str())
                .execute(b.conn())
                .await?
                .rows_affected();
                Ok(Recorded::Changed(n))
            })
        })
        .await
    }

    async fn notifications(&self, incident: &IncidentId) -> Result<Vec<Notification>, StoreError> {
        sqlx::query(
            "SELECT subject, purpose_id, deadline, sent_at FROM notifications \
             WHERE incident_id = $1 ORDER BY subject, purpose_id",
        )
        .bind(incident.as_str())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(Notification {
                subject: Pseudonym::parse(&r.try_get::<String, _>("subject")?)
                    .map_err(|_| corrupt("notification subject"))?,
                purpose: PurposeId::parse(&r.try_get::<String, _>("purpose_id")?)
                    .map_err(|_| corrupt("notification purpose"))?,
                deadline: Timestamp::from_unix(r.try_get("deadline")?),
                sent_at: r
                    .try_get::<Option<i64>, _>("sent_at")?
                    .map(Timestamp::from_unix),
            })
        })
        .collect()
    }

    async fn notification_counts(&self, now: Timestamp) -> Result<NotificationCounts, StoreError> {
        // The same rule as `Notification::state`, counted by the database.
        let r = sqlx::query(
            "SELECT \
             COALESCE(SUM(CASE WHEN sent_at IS NOT NULL AND sent_at <= deadline THEN 1 ELSE 0 END), 0) AS on_time, \
             COALESCE(SUM(CASE WHEN (sent_at IS NOT NULL AND sent_at > deadline) \
                 OR (sent_at IS NULL AND deadline < $1) THEN 1 ELSE 0 END), 0) AS late, \
             COALESCE(SUM(CASE WHEN sent_at IS NULL AND deadline >= $1 THEN 1 ELSE 0 END), 0) AS pending \
             FROM notifications",
        )
        .bind(now.unix())
        .fetch_one(&self.pool)
        .await?;
        Ok(NotificationCounts {
            on_time: r.try_get::<i64, _>("on_time")? as u64,
            late: r.try_get::<i64, _>("late")? as u64,
            pending: r.try_get::<i64, _>("pending")? as u64,
        })
    }
}
