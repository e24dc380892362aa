use async_trait::async_trait;
use bioguard_core::{Approval, Proposal, ProposalId, ProposalStatus, RiskGroup, Timestamp};

use crate::error::StoreError;
use crate::records::LeafDraft;

/// The risk group and its proposals.
#[async_trait]
pub trait GovernanceStore: Send + Sync {
    /// The risk group, if one is registered.
    async fn risk_group(&self) -> Result<Option<RiskGroup>, StoreError>;

    /// Registers (`expect_none`) or replaces the risk group.
    /// [`StoreError::Conflict`] when registering and one exists.
    async fn set_risk_group(
        &self,
        group: &RiskGroup,
        expect_none: bool,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError>;

    /// Stores a new open proposal.
    async fn create_proposal(
        &self,
        proposal: &Proposal,
        leaf: &LeafDraft,
    ) -> Result<(), StoreError>;

    /// One proposal with its approvals.
    async fn proposal(&self, id: &ProposalId) -> Result<Option<Proposal>, StoreError>;

    /// Records a member's approval of a proposal; returns the number of approvals. A
    /// passkey approval moves its credential's signature counter to the one it showed, in
    /// the same transaction.
    /// [`StoreError::Conflict`] if this member approved it already, or the counter did not
    /// move forward (both zero is allowed: the authenticator keeps no counter).
    async fn add_approval(
        &self,
        id: &ProposalId,
        approval: &Approval,
        sign_count: u32,
        at: Timestamp,
        leaf: &LeafDraft,
    ) -> Result<u32, StoreError>;

    /// Moves a proposal from `from` to `to` with a result, appending `leaf` if given; returns
    /// whether it was in `from` (so only one caller applies a proposal).
    async fn set_proposal_status(
        &self,
        id: &ProposalId,
        from: ProposalStatus,
        to: ProposalStatus,
        result: Option<&str>,
        leaf: Option<&LeafDraft>,
    ) -> Result<bool, StoreError>;
}
