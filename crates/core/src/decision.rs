//! Decisions: what one verification answered, and the risk of the signals around it.

use crate::DecisionId;

/// A decision's risk: a score from 0 to 100 from the signals around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Risk {
    /// The score.
    pub score: u32,
}

/// A risk band.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RiskBand {
    /// Under 25.
    Low,
    /// 25 to 49.
    Medium,
    /// 50 and over.
    High,
}

impl RiskBand {
    /// `low`, `medium` or `high`.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskBand::Low => "low",
            RiskBand::Medium => "medium",
            RiskBand::High => "high",
        }
    }
}

impl Risk {
    /// The score's band.
    pub fn band(self) -> RiskBand {
        match self.score {
            0..25 => RiskBand::Low,
            25..50 => RiskBand::Medium,
            _ => RiskBand::High,
        }
    }
}

/// What a comparison found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The probe is within the threshold of the template.
    Match,
    /// It is not.
    NoMatch,
}

impl Outcome {
    /// The text form recorded in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Match => "match",
            Outcome::NoMatch => "no_match",
        }
    }

    /// Whether it matched.
    pub fn matched(self) -> bool {
        self == Outcome::Match
    }
}

/// The result of a verification. The score is not part of it: clients see the decision only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The decision's id.
    pub id: DecisionId,
    /// What the comparison found.
    pub outcome: Outcome,
    /// The decision's risk from the signals around it.
    pub risk: Risk,
    /// Whether the relying party must ask for a second factor before acting on a match.
    pub step_up: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn risk_bands() {
        let band = |score| Risk { score }.band();
        assert_eq!(band(0), RiskBand::Low);
        assert_eq!(band(24), RiskBand::Low);
        assert_eq!(band(25), RiskBand::Medium);
        assert_eq!(band(49), RiskBand::Medium);
        assert_eq!(band(50), RiskBand::High);
        assert_eq!(band(100).as_str(), "high");
    }
}
