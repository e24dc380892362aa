use async_trait::async_trait;
use bioguard_core::{Balance, Claim, ClaimId, Money, ReviewerId, Timestamp};

use crate::error::StoreError;
use crate::records::{ClaimRefusal, LeafDraft, ReviewerRecord};

/// Compensation: reviewers, claims, and the reserve that pays them.
#[async_trait]
pub trait ClaimStore: Send + Sync {
    /// Registers a claim reviewer by the digest of their token.
    async fn add_reviewer(
        &self,
        id: &ReviewerId,
        name: &str,
        digest: &[u8; 32],
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError>;

    /// The reviewer whose token has this digest.
    async fn reviewer_by_digest(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<ReviewerRecord>, StoreError>;

    /// Seconds from filing to decision of every decided claim, ascending.
    async fn claim_decision_times(&self) -> Result<Vec<i64>, StoreError>;

    /// Files a claim.
    async fn file_claim(&self, claim: &Claim, leaf: &LeafDraft) -> Result<(), StoreError>;

    /// One claim.
    async fn claim(&self, id: &ClaimId) -> Result<Option<Claim>, StoreError>;

    /// Decides a filed claim: denied, or approved and paid from the reserve in the same
    /// transaction; or why it cannot be. The reserve never goes negative.
    async fn decide_claim(
        &self,
        id: &ClaimId,
        approve: bool,
        reason: &str,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<Result<(), ClaimRefusal>, StoreError>;

    /// Adds funds to the reserve (from the `funding` account).
    async fn reserve_topup(
        &self,
        amount: &Money,
        memo: &str,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError>;

    /// Balances by account and currency.
    async fn reserve_balances(&self) -> Result<Vec<Balance>, StoreError>;
}
