//! Compensation claims: a relying party disputes a decision, a reviewer decides, and an
//! approved claim is paid from a reserve. A claim is filed once and decided once.

use crate::{ClaimId, ClientId, DecisionId, Timestamp, ValidationError};

/// Where a claim stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimStatus {
    /// Waiting for a reviewer.
    Filed,
    /// Approved and paid from the reserve.
    Paid,
    /// Denied.
    Denied,
}

/// A claim that cannot move as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the claim was decided already")]
pub struct ClaimDecided;

impl ClaimStatus {
    /// The text form stored and shown in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimStatus::Filed => "filed",
            ClaimStatus::Paid => "paid",
            ClaimStatus::Denied => "denied",
        }
    }

    /// Reads [`ClaimStatus::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "filed" => Some(ClaimStatus::Filed),
            "paid" => Some(ClaimStatus::Paid),
            "denied" => Some(ClaimStatus::Denied),
            _ => None,
        }
    }

    /// The status a reviewer's decision moves a claim to: only a filed claim moves.
    pub fn decide(self, approve: bool) -> Result<ClaimStatus, ClaimDecided> {
        match self {
            ClaimStatus::Filed if approve => Ok(ClaimStatus::Paid),
            ClaimStatus::Filed => Ok(ClaimStatus::Denied),
            ClaimStatus::Paid | ClaimStatus::Denied => Err(ClaimDecided),
        }
    }
}

/// An amount of money: an ISO 4217 currency and a positive number of minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Money {
    currency: String,
    minor_units: i64,
}

impl Money {
    /// The largest amount accepted, in minor units.
    pub const MAX: i64 = 1_000_000_000_000;

    /// Parses an amount: a three-letter upper-case currency code and 1 to 10^12 minor units.
    pub fn new(currency: &str, minor_units: i64) -> Result<Self, ValidationError> {
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(ValidationError::new(
                "currency",
                "an ISO 4217 code such as EUR",
            ));
        }
        if !(1..=Self::MAX).contains(&minor_units) {
            return Err(ValidationError::new(
                "amount",
                "a positive whole number of minor units (cents), at most 10^12",
            ));
        }
        Ok(Self {
            currency: currency.to_owned(),
            minor_units,
        })
    }

    /// The currency code.
    pub fn currency(&self) -> &str {
        &self.currency
    }

    /// The amount in minor units.
    pub fn minor_units(&self) -> i64 {
        self.minor_units
    }
}

/// A compensation claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Its id.
    pub id: ClaimId,
    /// The disputed decision.
    pub decision: DecisionId,
    /// The decision's leaf in the audit ledger.
    pub leaf_index: u64,
    /// The client that filed it.
    pub client: ClientId,
    /// What is claimed.
    pub amount: Money,
    /// Why.
    pub reason: String,
    /// When it was filed.
    pub filed_at: Timestamp,
    /// When a decision is due.
    pub deadline: Timestamp,
    /// Where it stands.
    pub status: ClaimStatus,
    /// When it was decided.
    pub decided_at: Option<Timestamp>,
    /// The reviewer's reason.
    pub decision_reason: Option<String>,
}

impl Claim {
    /// Whether its decision is late at `now`.
    pub fn overdue(&self, now: Timestamp) -> bool {
        self.status == ClaimStatus::Filed && now > self.deadline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_is_decided_once() {
        assert_eq!(ClaimStatus::Filed.decide(true), Ok(ClaimStatus::Paid));
        assert_eq!(ClaimStatus::Filed.decide(false), Ok(ClaimStatus::Denied));
        for done in [ClaimStatus::Paid, ClaimStatus::Denied] {
            assert_eq!(done.decide(true), Err(ClaimDecided));
            assert_eq!(done.decide(false), Err(ClaimDecided));
        }
        for s in [ClaimStatus::Filed, ClaimStatus::Paid, ClaimStatus::Denied] {
            assert_eq!(ClaimStatus::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn money_is_checked() {
        assert!(Money::new("EUR", 1).is_ok());
        assert!(Money::new("EUR", Money::MAX).is_ok());
        for (c, n) in [
            ("eur", 5),
            ("EURO", 5),
            ("EUR", 0),
            ("EUR", -3),
            ("EUR", Money::MAX + 1),
        ] {
            assert!(Money::new(c, n).is_err(), "{c} {n}");
        }
    }
}
