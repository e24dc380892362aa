//! [`ClaimStore`] on SQL: claims, reviewers, and the reserve as a double-entry ledger in
//! integer minor units.

use async_trait::async_trait;
use bioguard_core::{
    Balance, Claim, ClaimId, ClaimStatus, ClientId, DecisionId, Money, ReviewerId, Timestamp,
};
use sqlx::Row;

use crate::error::StoreError;
use crate::records::{ClaimRefusal, LeafDraft, ReviewerRecord};
use crate::sql::conn::corrupt;
use crate::sql::store::{Recorded, SqlStore};
use crate::sql::writer::Batch;
use crate::traits::{Backend, ClaimStore};

/// Writes one balanced transaction of the reserve: `amount` from `from` to `to`.
async fn transfer(
    b: &mut Batch<'_>,
    txn: &str,
    at: Timestamp,
    (from, to): (&str, &str),
    amount: &Money,
    memo: &str,
) -> Result<(), StoreError> {
    let value = amount.minor_units();
    for (line, account, value) in [(0_i64, from, -value), (1, to, value)] {
        sqlx::query(
            "INSERT INTO reserve_entries (txn, line, at, account, currency, amount, memo) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(txn)
        .bind(line)
        .bind(at.unix())
        .bind(account)
        .bind(amount.currency())
        .bind(value)
        .bind(memo)
        .execute(b.conn())
        .await?;
    }
    Ok(())
}

#[async_trait]
impl ClaimStore for SqlStore {
    async fn add_reviewer(
        &self,
        id: &ReviewerId,
        name: &str,
        digest: &[u8; 32],
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError> {
        let (id, name, digest) = (id.clone(), name.to_owned(), *digest);
        self.change(leaf, move |b, _| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO reviewers (id, name, digest, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(id.as_str())
                .bind(name.as_str())
                .bind(digest.to_vec())
                .bind(at.unix())
                .execute(b.conn())
                .await?;
                Ok(Recorded::Changed(()))
            })
        })
        .await
    }

    async fn reviewer_by_digest(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<ReviewerRecord>, StoreError> {
        let row = sqlx::query("SELECT id, name FROM reviewers WHERE digest = $1")
            .bind(digest.to_vec())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(ReviewerRecord {
                id: ReviewerId::parse(&r.try_get::<String, _>("id")?)
                    .map_err(|_| corrupt("reviewer id"))?,
                name: r.try_get("name")?,
            })
        })
        .transpose()
    }

    async fn claim_decision_times(&self) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT decided_at - filed_at FROM claims WHERE decided_at IS NOT NULL ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    async fn file_claim(&self, c: &Claim, leaf: &LeafDraft) -> Result<(), StoreError> {
        let c = c.clone();
        self.change(leaf, move |b, _| {
            Box::pin(async move {
                // One open (or paid) claim per decision. PostgreSQL: the table lock makes a
                // concurrent filing wait for this one's commit and then see it; SQLite's
                // write lock already does.
                if b.backend() == Backend::Postgres {
                    sqlx::query("LOCK TABLE claims IN SHARE ROW EXCLUSIVE MODE")
                        .execute(b.conn())
                        .await?;
                }
                let open: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM claims WHERE decision_id = $1 \
                     AND status IN ('filed', 'paid')",
                )
                .bind(c.decision.as_str())
                .fetch_one(b.conn())
                .await?;
                if open > 0 {
                    return Err(StoreError::Conflict(
                        "a claim on this decision that is open or paid",
                    ));
                }
                sqlx::query(
                    "INSERT INTO claims (id, decision_id, leaf_index, client_id, currency, \
                     amount, reason, filed_at, deadline, status) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(c.id.as_str())
                .bind(c.decision.as_str())
                .bind(c.leaf_index as i64)
                .bind(c.client.as_str())
                .bind(c.amount.currency())
                .bind(c.amount.minor_units())
                .bind(c.reason.as_str())
                .bind(c.filed_at.unix())
                .bind(c.deadline.unix())
                .bind(c.status.as_str())
                .execute(b.conn())
                .await?;
                Ok(Recorded::Changed(()))
            })
        })
        .await
    }

    async fn claim(&self, id: &ClaimId) -> Result<Option<Claim>, StoreError> {
        let Some(r) = sqlx::query("SELECT * FROM claims WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(Claim {
            id: ClaimId::parse(&r.try_get::<String, _>("id")?).map_err(|_| corrupt("claim id"))?,
            decision: DecisionId::parse(&r.try_get::<String, _>("decision_id")?)
                .map_err(|_| corrupt("claim decision"))?,
            leaf_index: r.try_get::<i64, _>("leaf_index")? as u64,
            client: ClientId::parse(&r.try_get::<String, _>("client_id")?)
                .map_err(|_| corrupt("claim client"))?,
            amount: Money::new(&r.try_get::<String, _>("currency")?, r.try_get("amount")?)
                .map_err(|_| corrupt("claim amount"))?,
            reason: r.try_get("reason")?,
            filed_at: Timestamp::from_unix(r.try_get("filed_at")?),
            deadline: Timestamp::from_unix(r.try_get("deadline")?),
            status: ClaimStatus::parse(&r.try_get::<String, _>("status")?)
                .ok_or_else(|| corrupt("claim status"))?,
            decided_at: r
                .try_get::<Option<i64>, _>("decided_at")?
                .map(Timestamp::from_unix),
            decision_reason: r.try_get("decision_reason")?,
        }))
    }

    async fn decide_claim(
        &self,
        id: &ClaimId,
        approve: bool,
        reason: &str,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<Result<(), ClaimRefusal>, StoreError> {
        let (id, reason) = (id.clone(), reason.to_owned());
        self.change(leaf, move |b, _| {
            Box::pin(async move {
                let Some(r) =
                    sqlx::query("SELECT currency, amount, status FROM claims WHERE id = $1")
                        .bind(id.as_str())
                        .fetch_optional(b.conn())
                        .await?
                else {
                    return Ok(Recorded::Unchanged(Err(ClaimRefusal::Decided)));
                };
                let status = ClaimStatus::parse(&r.try_get::<String, _>("status")?)
                    .ok_or_else(|| corrupt("claim status"))?;
                let Ok(next) = status.decide(approve) else {
                    return Ok(Recorded::Unchanged(Err(ClaimRefusal::Decided)));
                };
                let amount = Money::new(&r.try_get::<String, _>("currency")?, r.try_get("amount")?)
                    .map_err(|_| corrupt("claim amount"))?;
                if next == ClaimStatus::Paid {
                    let balance: i64 = sqlx::query_scalar(
                        "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM reserve_entries \
                         WHERE account = 'reserve' AND currency = $1",
                    )
                    .bind(amount.currency())
                    .fetch_one(b.conn())
                    .await?;
                    if balance < amount.minor_units() {
                        return Ok(Recorded::Unchanged(Err(ClaimRefusal::ReserveInsufficient)));
                    }
                    transfer(
                        b,
                        &format!("payout:{id}"),
                        at,
                        ("reserve", "payouts"),
                        &amount,
                        &format!("claim {id}"),
                    )
                    .await?;
                }
                sqlx::query(
                    "UPDATE claims SET status = $1, decided_at = $2, decision_reason = $3 \
                     WHERE id = $4",
                )
                .bind(next.as_str())
                .bind(at.unix())
                .bind(reason.as_str())
                .bind(id.as_str())
                .execute(b.conn())
                .await?;
                Ok(Recorded::Changed(Ok(())))
            })
        })
        .await
    }

    async fn reserve_topup(
        &self,
        amount: &Money,
        memo: &str,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError> {
        let (amount, memo) = (amount.clone(), memo.to_owned());
        self.change(leaf, move |b, _| {
            Box::pin(async move {
                // Unique: writes are serialised (and the log head is locked) here.
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reserve_entries")
                    .fetch_one(b.conn())
                    .await?;
                let txn = format!("topup:{}:{n}", at.unix());
                transfer(b, &txn, at, ("funding", "reserve"), &amount, &memo).await?;
                Ok(Recorded::Changed(()))
            })
        })
        .await
    }

    async fn reserve_balances(&self) -> Result<Vec<Balance>, StoreError> {
        sqlx::query(
            "SELECT account, currency, CAST(SUM(amount) AS BIGINT) AS total FROM reserve_entries \
             GROUP BY account, currency ORDER BY account, currency",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(Balance {
                account: r.try_get("account")?,
                currency: r.try_get("currency")?,
                minor_units: r.try_get("total")?,
            })
        })
        .collect()
    }
}
