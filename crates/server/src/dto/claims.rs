//! Bodies of claims and the reserve.

use bioguard_core::{Claim, rfc3339};
use serde::Deserialize;
use utoipa::ToSchema;

/// A claim to file.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    /// The disputed decision's id (`dec_...`).
    pub decision_id: String,
    /// ISO 4217 currency code.
    pub currency: String,
    /// The amount claimed, in minor units (cents).
    pub amount: i64,
    /// What went wrong.
    pub reason: String,
}

/// A reviewer's decision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimDecisionRequest {
    /// Approve (and pay from the reserve) or deny.
    pub approve: bool,
    /// Why.
    pub reason: String,
}

/// A reserve top-up.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopupRequest {
    /// ISO 4217 currency code.
    pub currency: String,
    /// Minor units.
    pub amount: i64,
    /// A note for the books.
    #[serde(default)]
    pub memo: Option<String>,
}

/// A claim as shown.
pub fn claim_json(c: &Claim) -> serde_json::Value {
    serde_json::json!({
        "id": c.id.as_str(), "decision_id": c.decision.as_str(), "status": c.status.as_str(),
        "amount": {"currency": c.amount.currency(), "minor_units": c.amount.minor_units()},
        "reason": c.reason,
        "filed_at": rfc3339(c.filed_at), "decision_due": rfc3339(c.deadline),
        "decided_at": c.decided_at.map(rfc3339), "decision_reason": c.decision_reason,
    })
}

/// A claim reviewer to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewerRequest {
    /// The reviewer's name.
    pub name: String,
}
