//! Purposes: the declared reasons for which biometrics may be used.
//!
//! A purpose fixes everything a use of a template depends on: which operations are allowed,
//! the embedding dimension, the match threshold and how long templates may be kept. Consent is
//! given per purpose, grants are given per purpose, and templates are encrypted per purpose.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::embedding::{MAX_DIMENSION, MIN_DIMENSION};
use crate::{PurposeId, ValidationError};

/// What a client may do with a purpose's templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    /// Create or replace a subject's template.
    Enroll,
    /// Compare a probe with one subject's template (1:1).
    Verify,
    /// Search a gallery for a probe (1:N). Not offered by this version.
    Identify,
}

impl Operation {
    /// Every operation, in API order.
    pub const ALL: [Operation; 3] = [Operation::Enroll, Operation::Verify, Operation::Identify];

    /// The operation's name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Enroll => "enroll",
            Operation::Verify => "verify",
            Operation::Identify => "identify",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Operation {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Operation::ALL
            .into_iter()
            .find(|op| op.as_str() == s)
            .ok_or_else(|| ValidationError::new("operations", "allowed: enroll, verify, identify"))
    }
}

/// The text shown to people to explain a purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    /// The longest description accepted, in characters.
    pub const MAX_CHARS: usize = 2000;

    /// Parses a description: 1 to 2000 characters, no control characters but line breaks.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let n = s.chars().count();
        if s.trim().is_empty()
            || n > Self::MAX_CHARS
            || s.chars().any(|c| c.is_control() && c != '\n')
        {
            return Err(ValidationError::new(
                "description",
                format!(
                    "1 to {} characters of text; no control characters other than line breaks",
                    Self::MAX_CHARS
                ),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The number of values in an embedding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dimension(u16);

impl Dimension {
    /// Parses a dimension.
    pub fn new(n: u64) -> Result<Self, ValidationError> {
        if !(MIN_DIMENSION as u64..=MAX_DIMENSION as u64).contains(&n) {
            return Err(ValidationError::new(
                "dimension",
                format!("an integer from {MIN_DIMENSION} to {MAX_DIMENSION}"),
            ));
        }
        Ok(Self(n as u16))
    }

    /// The dimension as a count.
    pub fn get(self) -> usize {
        usize::from(self.0)
    }
}

/// The threshold used when a purpose does not give one.
///
/// 0.80 is the cosine similarity at which the real voice embeddings shipped with the project
/// reach a false-match rate of about 1e-3. It is a starting point: calibrate your own matcher.
pub const DEFAULT_THRESHOLD: f64 = 0.80;

/// A match threshold, as cosine similarity: a comparison at or above it is a match.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Threshold(f64);

impl Threshold {
    /// Parses a threshold: a number greater than 0 and at most 1. Values at or below 0 would
    /// make unrelated people match about half of the time.
    pub fn new(t: f64) -> Result<Self, ValidationError> {
        if !(t.is_finite() && t > 0.0 && t <= 1.0) {
            return Err(ValidationError::new(
                "threshold",
                "a cosine similarity greater than 0 and at most 1",
            ));
        }
        Ok(Self(t))
    }

    /// The threshold value.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl Default for Threshold {
    fn default() -> Self {
        Self(DEFAULT_THRESHOLD)
    }
}

/// How long templates may be kept. Enforcement of the schedule arrives with the retention
/// work; the rule is part of every purpose from the start so that it is published with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    max_days_since_enrolment: u32,
    max_days_since_last_use: Option<u32>,
}

impl Retention {
    /// The longest retention accepted, in days (ten years).
    pub const MAX_DAYS: u32 = 3650;

    /// Parses a retention rule.
    pub fn new(
        max_days_since_enrolment: u64,
        max_days_since_last_use: Option<u64>,
    ) -> Result<Self, ValidationError> {
        let check = |field: &'static str, d: u64| {
            if (1..=u64::from(Self::MAX_DAYS)).contains(&d) {
                Ok(d as u32)
            } else {
                Err(ValidationError::new(
                    field,
                    format!("a whole number of days from 1 to {}", Self::MAX_DAYS),
                ))
            }
        };
        Ok(Self {
            max_days_since_enrolment: check(
                "retention.max_days_since_enrolment",
                max_days_since_enrolment,
            )?,
            max_days_since_last_use: max_days_since_last_use
                .map(|d| check("retention.max_days_since_last_use", d))
                .transpose()?,
        })
    }

    /// Days a template may be kept after enrolment.
    pub fn max_days_since_enrolment(&self) -> u32 {
        self.max_days_since_enrolment
    }

    /// Days a template may be kept after its last use, if the purpose sets such a limit.
    pub fn max_days_since_last_use(&self) -> Option<u32> {
        self.max_days_since_last_use
    }
}

/// A declared purpose.
#[derive(Debug, Clone, PartialEq)]
pub struct Purpose {
    /// The purpose's identifier.
    pub id: PurposeId,
    /// The text shown to people.
    pub description: Description,
    /// The operations clients may be granted for this purpose.
    pub operations: BTreeSet<Operation>,
    /// The embedding dimension every template and probe must have.
    pub dimension: Dimension,
    /// The match threshold.
    pub threshold: Threshold,
    /// The retention rule.
    pub retention: Retention,
}

impl Purpose {
    /// Checks the operation list of a new purpose: not empty, and only what this version offers.
    pub fn check_operations(ops: &BTreeSet<Operation>) -> Result<(), ValidationError> {
        if ops.is_empty() {
            return Err(ValidationError::new(
                "operations",
                "at least one of: enroll, verify",
            ));
        }
        if ops.contains(&Operation::Identify) {
            return Err(ValidationError::new(
                "operations",
                "identify (1:N search) is not offered by this version; use enroll and verify",
            ));
        }
        Ok(())
    }

    /// Whether the purpose allows `op`.
    pub fn allows(&self, op: Operation) -> bool {
        self.operations.contains(&op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds() {
        assert!(Threshold::new(0.7).is_ok());
        assert!(Threshold::new(1.0).is_ok());
        for bad in [0.0, -0.5, 1.01, f64::NAN, f64::INFINITY] {
            assert!(Threshold::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn retention_bounds() {
        assert!(Retention::new(365, Some(90)).is_ok());
        assert!(Retention::new(0, None).is_err());
        assert!(Retention::new(3651, None).is_err());
        assert!(Retention::new(10, Some(0)).is_err());
    }

    #[test]
    fn operations() {
        assert_eq!("verify".parse::<Operation>(), Ok(Operation::Verify));
        assert!("delete".parse::<Operation>().is_err());
        let ops: BTreeSet<_> = [Operation::Enroll, Operation::Identify].into();
        assert!(Purpose::check_operations(&ops).is_err());
        assert!(Purpose::check_operations(&BTreeSet::new()).is_err());
    }

    #[test]
    fn descriptions() {
        assert!(Description::parse("Pay at the till\nwith your face").is_ok());
        assert!(Description::parse("  ").is_err());
        assert!(Description::parse("a\u{7}b").is_err());
        assert!(Description::parse(&"x".repeat(2001)).is_err());
    }
}
