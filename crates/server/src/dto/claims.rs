//! Bodies of claims and the reserve.

use bioguard_core::{Claim, rfc3339};
use serde::{Deserialize, Serialize};
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

/// An amount of money.
#[derive(Debug, Serialize, ToSchema)]
pub struct MoneyBody {
    /// ISO 4217 currency code.
    pub currency: String,
    /// Minor units (cents).
    pub minor_units: i64,
}

/// A compensation claim.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClaimBody {
    /// Its id.
    pub id: String,
    /// The disputed decision.
    pub decision_id: String,
    /// Where it stands.
    #[schema(value_type = crate::dto::enums::ClaimStatus)]
    pub status: &'static str,
    /// The amount claimed.
    pub amount: MoneyBody,
    /// What went wrong, as the client said.
    pub reason: String,
    /// When it was filed (RFC 3339).
    pub filed_at: String,
    /// When a reviewer must have decided it (RFC 3339).
    pub decision_due: String,
    /// When it was decided (null until then).
    pub decided_at: Option<String>,
    /// The reviewer's reason (null until decided).
    pub decision_reason: Option<String>,
    /// The evidence pack (on `GET /v1/claims/{id}` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<bioguard_service::ClaimEvidence>,
}

impl ClaimBody {
    /// A claim as shown, without its evidence.
    pub fn of(c: &Claim) -> Self {
        Self {
            id: c.id.as_str().to_owned(),
            decision_id: c.decision.as_str().to_owned(),
            status: c.status.as_str(),
            amount: MoneyBody {
                currency: c.amount.currency().to_owned(),
                minor_units: c.amount.minor_units(),
            },
            reason: c.reason.clone(),
            filed_at: rfc3339(c.filed_at),
            decision_due: rfc3339(c.deadline),
            decided_at: c.decided_at.map(rfc3339),
            decision_reason: c.decision_reason.clone(),
            evidence: None,
        }
    }
}

/// The reserve's balances.
#[derive(Debug, Serialize, ToSchema)]
pub struct BalancesBody {
    /// One per account and currency.
    pub balances: Vec<BalanceBody>,
}

/// One balance of the reserve.
#[derive(Debug, Serialize, ToSchema)]
pub struct BalanceBody {
    /// The account: `funding`, `reserve` or `payouts`.
    pub account: String,
    /// ISO 4217 currency code.
    pub currency: String,
    /// Minor units.
    pub minor_units: i64,
}

impl BalancesBody {
    /// The balances as shown.
    pub fn of(b: &[bioguard_core::Balance]) -> Self {
        Self {
            balances: b
                .iter()
                .map(|x| BalanceBody {
                    account: x.account.clone(),
                    currency: x.currency.clone(),
                    minor_units: x.minor_units,
                })
                .collect(),
        }
    }
}

/// A claim reviewer, created. The token is in this answer only.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewerCreatedBody {
    /// The reviewer's id.
    pub id: String,
    /// The reviewer's name.
    pub name: String,
    /// The reviewer's token: send it as `Authorization: Bearer <token>`.
    pub token: String,
}

/// A claim reviewer to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewerRequest {
    /// The reviewer's name.
    pub name: String,
}
