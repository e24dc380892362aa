//! [`ConsentStore`] on SQL: consent and what it guards, each change one transaction.

use async_trait::async_trait;
use bioguard_core::{
    ClientId, ConsentRecord, GalleryName, GrantStep, LockState, LockStep, Locker, NewConsent,
    Pseudonym, PurposeId, SubjectSummary, TemplateId, TemplateInfo, Timestamp,
};
use sqlx::{AnyConnection, AssertSqlSafe, Row};

use crate::error::StoreError;
use crate::records::{
    ConsentChange, EnrolOutcome, EraseOutcome, LeafDraft, NewTemplate, StoredDataKey,
    WithdrawOutcome,
};
use crate::sql::conn::corrupt;
use crate::sql::decode::{CONSENT_COLUMNS, consent_from_row, data_key_from_row};
use crate::sql::store::{Recorded, SqlStore};
use crate::sql::writer::Batch;
use crate::traits::{Backend, ConsentStore};

/// The live consent of a subject for a purpose, locked until commit (the row on PostgreSQL;
/// SQLite's write lock covers it).
async fn live_consent(
    b: &mut Batch<'_>,
    subject: &Pseudonym,
    purpose: &PurposeId,
) -> Result<Option<ConsentRecord>, StoreError> {
    let for_update = b.for_update();
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {CONSENT_COLUMNS} FROM consents \
         WHERE subject = $1 AND purpose_id = $2 AND ended_at IS NULL{for_update}"
    )))
    .bind(subject.as_str())
    .bind(purpose.as_str())
    .fetch_optional(b.conn())
    .await?;
    row.as_ref().map(consent_from_row).transpose()
}

/// Ends a consent record as `ended` says.
async fn end_consent(b: &mut Batch<'_>, ended: &ConsentRecord) -> Result<(), StoreError> {
    sqlx::query("UPDATE consents SET ended_at = $1, end_reason = $2 WHERE id = $3")
        .bind(ended.ended_at().map(Timestamp::unix))
        .bind(ended.end_reason().map(|r| r.as_str()))
        .bind(ended.id.as_str())
        .execute(b.conn())
        .await?;
    Ok(())
}

/// Deletes a subject's templates (for one purpose, or all) with their gallery memberships,
/// inside the open transaction; returns what was deleted.
async fn delete_templates(
    conn: &mut AnyConnection,
    subject: &Pseudonym,
    purpose: Option<&PurposeId>,
) -> Result<Vec<(PurposeId, TemplateId)>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, purpose_id FROM templates WHERE subject = $1 AND ($2 IS NULL OR purpose_id = $2)",
    )
    .bind(subject.as_str())
    .bind(purpose.map(|p| p.as_str().to_owned()))
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let id: String = r.try_get("id")?;
        sqlx::query("DELETE FROM template_galleries WHERE template_id = $1")
            .bind(&id)
            .execute(&mut *conn)
            .await?;
        sqlx::query("DELETE FROM templates WHERE id = $1")
            .bind(&id)
            .execute(&mut *conn)
            .await?;
        out.push((
            PurposeId::parse(&r.try_get::<String, _>("purpose_id")?)
                .map_err(|_| corrupt("template purpose"))?,
            TemplateId::parse(&id).map_err(|_| corrupt("template id"))?,
        ));
    }
    Ok(out)
}

/// Adds a template to its galleries, refusing a gallery that is full.
async fn join_galleries(
    b: &mut Batch<'_>,
    purpose: &PurposeId,
    t: &NewTemplate,
) -> Result<(), StoreError> {
    let mut galleries: Vec<&GalleryName> = t.galleries.iter().collect();
    galleries.sort();
    galleries.dedup();
    for g in galleries {
        if b.backend() == Backend::Postgres {
            // Serialise enrolments into one gallery so two cannot both see room for one.
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1)::bigint)")
                .bind(format!("bioguard-gallery/{purpose}/{g}"))
                .execute(b.conn())
                .await?;
        }
        if let Some(max) = t.max_gallery_size {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM template_galleries WHERE purpose_id = $1 AND gallery = $2",
            )
            .bind(purpose.as_str())
            .bind(g.as_str())
            .fetch_one(b.conn())
            .await?;
            if n >= i64::from(max) {
                return Err(StoreError::GalleryFull(g.clone()));
            }
        }
        sqlx::query(
            "INSERT INTO template_galleries (template_id, purpose_id, gallery) VALUES ($1, $2, $3)",
        )
        .bind(t.id.as_str())
        .bind(purpose.as_str())
        .bind(g.as_str())
        .execute(b.conn())
        .await?;
    }
    Ok(())
}

#[async_trait]
impl ConsentStore for SqlStore {
    async fn grant_consent(
        &self,
        subject: &Pseudonym,
        c: &NewConsent,
        leaf: &LeafDraft,
    ) -> Result<ConsentChange, StoreError> {
        let (subject, c) = (subject.clone(), c.clone());
        self.change(leaf, move |b, _| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO subjects (pseudonym, created_at) VALUES ($1, $2) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(subject.as_str())
                .bind(c.at.unix())
                .execute(b.conn())
                .await?;
                let live = live_consent(b, &subject, &c.purpose).await?;
                match ConsentRecord::on_grant(live.as_ref(), &c) {
                    GrantStep::Keep => {
                        let record = live.ok_or_else(|| corrupt("live consent"))?;
                        return Ok(Recorded::Unchanged(ConsentChange {
                            record,
                            created: false,
                        }));
                    }
                    GrantStep::Supersede(_) => {
                        let ended = live
                            .ok_or_else(|| corrupt("live consent"))?
                            .superseded(c.at)
                            .map_err(|_| corrupt("live consent"))?;
                        end_consent(b, &ended).await?;
                    }
                    GrantStep::Start => {}
                }
                sqlx::query(
                    "INSERT INTO consents (id, subject, purpose_id, notice_version, method, \
                     client_id, granted_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(c.id.as_str())
                .bind(subject.as_str())
                .bind(c.purpose.as_str())
                .bind(c.notice_version.as_str())
                .bind(c.method.as_str())
                .bind(c.client.as_str())
                .bind(c.at.unix())
                .execute(b.conn())
                .await?;
                Ok(Recorded::Changed(ConsentChange {
                    record: ConsentRecord::start(&c),
                    created: true,
                }))
            })
        })
        .await
    }

    async fn withdraw_consent(
        &self,
        subject: &Pseudonym,
        purpose: &PurposeId,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<Option<WithdrawOutcome>, StoreError> {
        let (subject, purpose) = (subject.clone(), purpose.clone());
        self.change(leaf, move |b, _| {
            Box::pin(async move {
                let Some(live) = live_consent(b, &subject, &purpose).await? else {
                    return Ok(Recorded::Unchanged(None));
                };
                let ended = live.withdrawn(at).map_err(|_| corrupt("live consent"))?;
                end_consent(b, &ended).await?;
                let templates = delete_templates(b.conn(), &subject, Some(&purpose)).await?;
                let keys =
                    sqlx::query("DELETE FROM data_keys WHERE subject = $1 AND purpose_id = $2")
                        .bind(subject.as_str())
                        .bind(purpose.as_str())
                        .execute(b.conn())
                        .await?
                        .rows_affected();
                Ok(Recorded::Changed(Some(WithdrawOutcome {
                    consent: ended,
                    template_id: templates.into_iter().next().map(|(_, id)| id),
                    data_key_destroyed: keys > 0,
                })))
            })
        })
        .await
    }

    async fn data_key(
        &self,
        subject: &Pseudonym,
        purpose: &PurposeId,
    ) -> Result<Option<StoredDataKey>, StoreError> {
        let row = sqlx::query(
            "SELECT id, kek, wrapped FROM data_keys WHERE subject = $1 AND purpose_id = $2",
        )
        .bind(subject.as_str())
        .bind(purpose.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(|r| data_key_from_row(r, "")).transpose()
    }

    async fn put_template(
        &self,
        subject: &Pseudonym,
        purpose: &PurposeId,
        key: &StoredDataKey,
        key_is_new: bool,
        t: &NewTemplate,
        leaf: &LeafDraft,
    ) -> Result<EnrolOutcome, StoreError> {
        let (subject, purpose, key, t) = (subject.clone(), purpose.clone(), key.clone(), t.clone());
        self.change(leaf, move |b, _| {
            Box::pin(async move {
                let locked: Option<i64> =
                    sqlx::query_scalar("SELECT locked_at FROM subject_locks WHERE subject = $1")
                        .bind(subject.as_str())
                        .fetch_optional(b.conn())
                        .await?;
                if locked.is_some() {
                    return Err(StoreError::Locked);
                }
                // The consent row is locked until commit, so a withdrawal either happens
                // before this check (and enrolment is refused) or waits and then deletes what
                // is stored here.
                if live_consent(b, &subject, &purpose).await?.is_none() {
                    return Err(StoreError::NoConsent);
                }
                let existing: Option<String> = sqlx::query_scalar(
                    "SELECT id FROM data_keys WHERE subject = $1 AND purpose_id = $2",
                )
                .bind(subject.as_str())
                .bind(purpose.as_str())
                .fetch_optional(b.conn())
                .await?;
                match (key_is_new, existing) {
                    (true, None) => {
                        sqlx::query(
                            "INSERT INTO data_keys (id, subject, purpose_id, kek, wrapped, \
                             created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                        )
                        .bind(key.id.as_str())
                        .bind(subject.as_str())
                        .bind(purpose.as_str())
                        .bind(&key.sealed.kek)
                        .bind(key.sealed.wrapped.clone())
                        .bind(t.at.unix())
                        .execute(b.conn())
                        .await?;
                    }
                    (false, Some(id)) if id == key.id.as_str() => {}
                    _ => return Err(StoreError::KeyChanged),
                }
                let replaced = delete_templates(b.conn(), &subject, Some(&purpose))
                    .await?
                    .into_iter()
                    .next()
                    .map(|(_, id)| id);
                sqlx::query(
                    "INSERT INTO templates (id, subject, purpose_id, data_key_id, format, sealed, \
                     enrolled_at, protection_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(t.id.as_str())
                .bind(subject.as_str())
                .bind(purpose.as_str())
                .bind(key.id.as_str())
                .bind(t.format)
                .bind(t.sealed.clone())
                .bind(t.at.unix())
                .bind(i64::from(t.protection_version))
                .execute(b.conn())
                .await?;
                join_galleries(b, &purpose, &t).await?;
                Ok(Recorded::Changed(EnrolOutcome { replaced }))
            })
        })
        .await
    }

    async fn subject_summary(&self, subject: &Pseudonym) -> Result<SubjectSummary, StoreError> {
        let consents = sqlx::query(AssertSqlSafe(format!(
            "SELECT {CONSENT_COLUMNS} FROM consents WHERE subject = $1 ORDER BY seq"
        )))
        .bind(subject.as_str())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(consent_from_row)
        .collect::<Result<Vec<_>, _>>()?;
        let templates = sqlx::query(
            "SELECT purpose_id, enrolled_at, last_used_at FROM templates WHERE subject = $1 \
             ORDER BY purpose_id",
        )
        .bind(subject.as_str())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(TemplateInfo {
                purpose: PurposeId::parse(&r.try_get::<String, _>("purpose_id")?)
                    .map_err(|_| corrupt("template purpose"))?,
                enrolled_at: Timestamp::from_unix(r.try_get("enrolled_at")?),
                last_used_at: r
                    .try_get::<Option<i64>, _>("last_used_at")?
                    .map(Timestamp::from_unix),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        let locked_at = self.locked_at(subject).await?;
        Ok(SubjectSummary {
            consents,
            templates,
            locked_at,
        })
    }

    async fn set_lock(
        &self,
        subject: &Pseudonym,
        lock: bool,
        by: &Locker,
        client: &ClientId,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<LockStep, StoreError> {
        let (subject, client, by) = (subject.clone(), client.clone(), by.clone());
        self.change(leaf, move |b, _| {
            Box::pin(async move {
                let for_update = b.for_update();
                let row = sqlx::query(AssertSqlSafe(format!(
                    "SELECT client_id, by_subject FROM subject_locks WHERE subject = $1{for_update}"
                )))
                .bind(subject.as_str())
                .fetch_optional(b.conn())
                .await?;
                let current = row
                    .map(|r| {
                        Ok::<_, StoreError>(LockState {
                            client: ClientId::parse(&r.try_get::<String, _>("client_id")?)
                                .map_err(|_| corrupt("lock client"))?,
                            by_person: r.try_get::<i64, _>("by_subject")? != 0,
                        })
                    })
                    .transpose()?;
                let step = LockStep::decide(current.as_ref(), lock, &by);
                match &step {
                    LockStep::Insert { by_person } => {
                        sqlx::query(
                            "INSERT INTO subject_locks (subject, locked_at, client_id, by_subject) \
                             VALUES ($1, $2, $3, $4)",
                        )
                        .bind(subject.as_str())
                        .bind(at.unix())
                        .bind(client.as_str())
                        .bind(i64::from(*by_person))
                        .execute(b.conn())
                        .await?;
                    }
                    LockStep::MarkPerson => {
                        sqlx::query("UPDATE subject_locks SET by_subject = 1 WHERE subject = $1")
                            .bind(subject.as_str())
                            .execute(b.conn())
                            .await?;
                    }
                    LockStep::Delete => {
                        sqlx::query("DELETE FROM subject_locks WHERE subject = $1")
                            .bind(subject.as_str())
                            .execute(b.conn())
                            .await?;
                    }
                    LockStep::Unchanged | LockStep::Refuse(_) => {
                        return Ok(Recorded::Unchanged(step));
                    }
                }
                Ok(Recorded::Changed(step))
            })
        })
        .await
    }

    async fn locked_at(&self, subject: &Pseudonym) -> Result<Option<Timestamp>, StoreError> {
        let at: Option<i64> =
            sqlx::query_scalar("SELECT locked_at FROM subject_locks WHERE subject = $1")
                .bind(subject.as_str())
                .fetch_optional(&self.pool)
                .await?;
        Ok(at.map(Timestamp::from_unix))
    }

    async fn erase_subject(
        &self,
        subject: &Pseudonym,
        leaf: &LeafDraft,
    ) -> Result<EraseOutcome, StoreError> {
        let subject = subject.clone();
        let (mut out, index) = self
            .record(leaf, move |b, _| {
                Box::pin(async move {
                    let mut out = EraseOutcome {
                        template_ids: delete_templates(b.conn(), &subject, None).await?,
                        ..EraseOutcome::default()
                    };
                    for (table, slot) in [
                        ("data_keys", &mut out.data_keys),
                        ("consents", &mut out.consents),
                    ] {
                        *slot = sqlx::query(AssertSqlSafe(format!(
                            "DELETE FROM {table} WHERE subject = $1"
                        )))
                        .bind(subject.as_str())
                        .execute(b.conn())
                        .await?
                        .rows_affected();
                    }
                    for table in ["subject_locks", "portal_links"] {
                        sqlx::query(AssertSqlSafe(format!(
                            "DELETE FROM {table} WHERE subject = $1"
                        )))
                        .bind(subject.as_str())
                        .execute(b.conn())
                        .await?;
                    }
                    // The subject row holds the ledger salt: without it the subject's tags can
                    // never be made or recognised again. The private links from earlier leaves
                    // to the pseudonym go too (those still waiting in this batch included);
                    // only the erasure's own leaf keeps it, so other nodes can drop the
                    // subject's codes from their galleries.
                    sqlx::query("DELETE FROM subjects WHERE pseudonym = $1")
                        .bind(subject.as_str())
                        .execute(b.conn())
                        .await?;
                    sqlx::query("DELETE FROM audit_mentions WHERE subject = $1")
                        .bind(subject.as_str())
                        .execute(b.conn())
                        .await?;
                    sqlx::query("UPDATE audit_leaves SET subject = NULL WHERE subject = $1")
                        .bind(subject.as_str())
                        .execute(b.conn())
                        .await?;
                    b.forget_subject(&subject);
                    Ok(Recorded::Changed(out))
                })
            })
            .await?;
        out.leaf_index = index.ok_or_else(|| corrupt("erasure leaf"))?;
        Ok(out)
    }
}
