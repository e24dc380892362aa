//! [`LedgerStore`] on SQL, and the PostgreSQL listener for ledger growth. Leaves are written
//! by the writer with the change they record (see `store::SqlStore::record`); here are the
//! leaves that record no stored change, and the reads.

use async_trait::async_trait;
use bioguard_core::{DecisionId, KeptCheckpoint, LedgerEntry, Pseudonym, Timestamp};
use sqlx::Row;

use crate::error::StoreError;
use crate::records::{AuditCounts, LeafDraft};
use crate::sql::conn::{LEDGER_CHANNEL, corrupt};
use crate::sql::store::SqlStore;
use crate::traits::LedgerStore;

fn entries(rows: &[sqlx::any::AnyRow]) -> Result<Vec<LedgerEntry>, StoreError> {
    rows.iter()
        .map(|r| {
            Ok(LedgerEntry {
                index: r.try_get::<i64, _>("idx")? as u64,
                leaf: r.try_get("leaf")?,
            })
        })
        .collect()
}

#[async_trait]
impl LedgerStore for SqlStore {
    async fn append_audit(&self, leaf: &LeafDraft) -> Result<u64, StoreError> {
        let leaf = leaf.clone();
        self.writer.write_rows(move |b| b.append_leaf(&leaf)).await
    }

    async fn save_checkpoint(
        &self,
        size: u64,
        note: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_checkpoints (size, note, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(size as i64)
        .bind(note)
        .bind(at.unix())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn checkpoints(&self, from: u64, limit: u32) -> Result<Vec<KeptCheckpoint>, StoreError> {
        let rows = sqlx::query(
            "SELECT size, note FROM audit_checkpoints WHERE size >= $1 ORDER BY size LIMIT $2",
        )
        .bind(from as i64)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(KeptCheckpoint {
                    size: r.try_get::<i64, _>("size")? as u64,
                    note: r.try_get("note")?,
                })
            })
            .collect()
    }

    async fn latest_checkpoint_at(&self) -> Result<Option<Timestamp>, StoreError> {
        let at: Option<i64> = sqlx::query_scalar(
            "SELECT created_at FROM audit_checkpoints ORDER BY size DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(at.map(Timestamp::from_unix))
    }

    async fn audit_size(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT size FROM audit_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(n.max(0) as u64)
    }

    async fn audit_leaves(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        let rows =
            sqlx::query("SELECT leaf FROM audit_leaves WHERE idx >= $1 AND idx < $2 ORDER BY idx")
                .bind(start as i64)
                .bind(end as i64)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(|r| Ok(r.try_get("leaf")?)).collect()
    }

    async fn audit_leaves_with_subjects(
        &self,
        start: u64,
        end: u64,
    ) -> Result<Vec<(Vec<u8>, Option<Pseudonym>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT leaf, subject FROM audit_leaves WHERE idx >= $1 AND idx < $2 ORDER BY idx",
        )
        .bind(start as i64)
        .bind(end as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let subject = r
                    .try_get::<Option<String>, _>("subject")?
                    .map(|s| Pseudonym::parse(&s).map_err(|_| corrupt("leaf subject")))
                    .transpose()?;
                Ok((r.try_get("leaf")?, subject))
            })
            .collect()
    }

    async fn audit_leaf_hashes(&self, start: u64, end: u64) -> Result<Vec<[u8; 32]>, StoreError> {
        let rows =
            sqlx::query("SELECT hash FROM audit_leaves WHERE idx >= $1 AND idx < $2 ORDER BY idx")
                .bind(start as i64)
                .bind(end as i64)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                r.try_get::<Vec<u8>, _>("hash")?
                    .try_into()
                    .map_err(|_| corrupt("leaf hash"))
            })
            .collect()
    }

    async fn subject_history(
        &self,
        subject: &Pseudonym,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        // Each branch walks its (subject, idx) index from `after`.
        let rows = sqlx::query(
            "SELECT idx, leaf FROM audit_leaves WHERE subject = $1 AND idx > $2 \
             UNION ALL SELECT l.idx, l.leaf FROM audit_mentions m \
             JOIN audit_leaves l ON l.idx = m.idx WHERE m.subject = $1 AND m.idx > $2 \
             ORDER BY idx LIMIT $3",
        )
        .bind(subject.as_str())
        .bind(after.map_or(-1, |a| a as i64))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        entries(&rows)
    }

    async fn subject_history_latest(
        &self,
        subject: &Pseudonym,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT idx, leaf FROM audit_leaves WHERE subject = $1 \
             UNION ALL SELECT l.idx, l.leaf FROM audit_mentions m \
             JOIN audit_leaves l ON l.idx = m.idx WHERE m.subject = $1 \
             ORDER BY idx DESC LIMIT $2",
        )
        .bind(subject.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut out = entries(&rows)?;
        out.reverse();
        Ok(out)
    }

    async fn audit_counts(&self) -> Result<AuditCounts, StoreError> {
        let rows = sqlx::query("SELECT op, decision, n FROM audit_counts")
            .fetch_all(&self.pool)
            .await?;
        let mut c = AuditCounts::default();
        for r in &rows {
            let op: String = r.try_get("op")?;
            let decision: String = r.try_get("decision")?;
            let n = r.try_get::<i64, _>("n")?.max(0) as u64;
            if decision.is_empty() {
                c.by_op.insert(op, n);
            } else {
                c.by_decision.insert((op, decision), n);
            }
        }
        Ok(c)
    }

    async fn decision_leaf(
        &self,
        decision: &DecisionId,
    ) -> Result<Option<LedgerEntry>, StoreError> {
        let row = sqlx::query(
            "SELECT l.idx, l.leaf FROM audit_decisions d JOIN audit_leaves l ON l.idx = d.idx \
             WHERE d.decision_id = $1",
        )
        .bind(decision.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(LedgerEntry {
                index: r.try_get::<i64, _>("idx")? as u64,
                leaf: r.try_get("leaf")?,
            })
        })
        .transpose()
    }
}

/// Announcements of ledger growth from PostgreSQL (`LISTEN bioguard_ledger`).
pub struct LedgerListener(sqlx::postgres::PgListener);

impl std::fmt::Debug for LedgerListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LedgerListener")
    }
}

impl LedgerListener {
    /// Listens on the database at `url`; `None` for SQLite, which has no notifications (one
    /// process owns the file; other nodes poll).
    pub async fn connect(url: &str) -> Result<Option<Self>, StoreError> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Ok(None);
        }
        let mut l = sqlx::postgres::PgListener::connect(url).await?;
        l.listen(LEDGER_CHANNEL).await?;
        Ok(Some(Self(l)))
    }

    /// Waits for the next commit that grew the ledger (a lost connection is re-established
    /// by the next call; notifications sent meanwhile are covered by the caller's polling).
    pub async fn recv(&mut self) -> Result<(), StoreError> {
        self.0.recv().await?;
        Ok(())
    }
}
