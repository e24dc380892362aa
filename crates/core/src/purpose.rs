//! Purposes: the declared reasons for which biometrics may be used.
//!
//! A purpose fixes everything a use of a template depends on: which operations are allowed,
//! the embedding dimension, the match threshold and how long templates may be kept. Consent is
//! given per purpose, grants are given per purpose, and templates are encrypted per purpose.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::{Dimension, PurposeId, ValidationError};

/// What a client may do with a purpose's templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    /// Create or replace a subject's template.
    Enroll,
    /// Compare a probe with one subject's template (1:1).
    Verify,
    /// Search a gallery for a probe (1:N).
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

/// The length of protected codes, in bits: a multiple of 256 from 512 to 4096.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CodeBits(u16);

impl CodeBits {
    /// The default code length.
    pub const DEFAULT: CodeBits = CodeBits(2048);
    /// The shortest code length accepted.
    pub const MIN: usize = 512;
    /// The longest code length accepted.
    pub const MAX: usize = 4096;

    /// Checks a code length.
    pub fn new(bits: u64) -> Option<Self> {
        (bits >= Self::MIN as u64 && bits <= Self::MAX as u64 && bits.is_multiple_of(256))
            .then_some(CodeBits(bits as u16))
    }

    /// The length in bits.
    pub fn bits(self) -> usize {
        usize::from(self.0)
    }

    /// The length in 64-bit words.
    pub fn words(self) -> usize {
        self.bits() / 64
    }

    /// The largest normalised Hamming distance that counts as a match for a cosine threshold.
    ///
    /// For sign random projections the probability that one bit differs between the codes of
    /// two vectors at angle theta is theta / pi (Charikar 2002), so the expected normalised
    /// distance at cosine similarity `s` is arccos(s) / pi. A comparison matches when its
    /// distance is at most `floor(bits * arccos(s) / pi)`.
    pub fn max_distance(self, cosine_threshold: f64) -> u32 {
        let s = cosine_threshold.clamp(-1.0, 1.0);
        let bits = self.bits() as u32;
        let mut d = (f64::from(bits) * s.acos() / std::f64::consts::PI).floor() as u32;
        // Settle the floating-point edge exactly against `cosine_equivalent`, so a threshold
        // calibrated as the cosine equivalent of a distance maps back to that distance.
        while d < bits && self.cosine_equivalent(d + 1) >= s {
            d += 1;
        }
        while d > 0 && self.cosine_equivalent(d) < s {
            d -= 1;
        }
        d
    }

    /// The cosine similarity a normalised Hamming distance corresponds to: cos(pi * d / bits).
    pub fn cosine_equivalent(self, distance: u32) -> f64 {
        (std::f64::consts::PI * f64::from(distance) / self.bits() as f64).cos()
    }
}

impl Default for CodeBits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A purpose's risk controls on every verification and identification.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RiskPolicy {
    /// Whether every use needs a capture signed by a registered device over a fresh
    /// server-issued challenge.
    pub require_capture: bool,
    /// The lowest presentation-attack (liveness) score a capture may carry, in [0, 1].
    pub min_liveness: f64,
    /// Failed verifications of one subject within the window that lock further attempts
    /// (0: no lockout).
    pub lockout_failures: u32,
    /// The window those failures are counted in, in seconds.
    pub lockout_window_secs: u32,
    /// How long the lockout lasts, in seconds.
    pub lockout_secs: u32,
    /// A match whose risk score (0 to 100) is above this asks the relying party to step up
    /// to a second factor (100: never).
    pub step_up_score: u32,
}

impl Default for RiskPolicy {
    fn default() -> Self {
        Self {
            require_capture: false,
            min_liveness: 0.5,
            lockout_failures: 5,
            lockout_window_secs: 30,
            lockout_secs: 300,
            step_up_score: 100,
        }
    }
}

impl RiskPolicy {
    /// Checks ranges.
    pub fn check(&self) -> Result<(), ValidationError> {
        if self.step_up_score > 100 {
            return Err(ValidationError::new("risk.step_up_score", "from 0 to 100"));
        }
        if !(0.0..=1.0).contains(&self.min_liveness) {
            return Err(ValidationError::new("risk.min_liveness", "from 0 to 1"));
        }
        if self.lockout_failures > 1000
            || !(1..=86_400).contains(&self.lockout_window_secs)
            || !(1..=86_400).contains(&self.lockout_secs)
        {
            return Err(ValidationError::new(
                "risk",
                "lockout_failures up to 1000; window and lockout from 1 s to a day",
            ));
        }
        Ok(())
    }

    /// A compact text form for storage: `capture=1;liveness=0.5;failures=5;window=30;lockout=300`.
    pub fn to_text(&self) -> String {
        format!(
            "capture={};liveness={};failures={};window={};lockout={};stepup={}",
            u8::from(self.require_capture),
            self.min_liveness,
            self.lockout_failures,
            self.lockout_window_secs,
            self.lockout_secs,
            self.step_up_score
        )
    }

    /// Reads [`RiskPolicy::to_text`]; unknown or missing fields keep their defaults.
    pub fn from_text(s: &str) -> Result<Self, ValidationError> {
        let mut p = Self::default();
        let bad = || ValidationError::new("risk", "unreadable stored risk policy");
        for part in s.split(';').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(bad)?;
            match k {
                "capture" => p.require_capture = v == "1",
                "liveness" => p.min_liveness = v.parse().map_err(|_| bad())?,
                "failures" => p.lockout_failures = v.parse().map_err(|_| bad())?,
                "window" => p.lockout_window_secs = v.parse().map_err(|_| bad())?,
                "lockout" => p.lockout_secs = v.parse().map_err(|_| bad())?,
                "stepup" => p.step_up_score = v.parse().map_err(|_| bad())?,
                _ => {}
            }
        }
        p.check()?;
        Ok(p)
    }
}

/// A purpose's fairness policy: what a fairness report (`bioguard fairness evaluate`) must
/// show before a matcher configuration or threshold goes live for the purpose.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FairnessPolicy {
    /// The oldest report accepted, in days since it was generated.
    pub max_report_age_days: u32,
    /// The largest ratio of the highest to the lowest group false-match rate.
    pub max_fmr_ratio: f64,
    /// The largest ratio of the highest to the lowest group false-non-match rate.
    pub max_fnmr_ratio: f64,
    /// The largest GARBE (0 is perfectly fair, 1 the most unfair).
    pub max_garbe: f64,
}

impl Default for FairnessPolicy {
    fn default() -> Self {
        Self {
            max_report_age_days: 180,
            max_fmr_ratio: 4.0,
            max_fnmr_ratio: 4.0,
            max_garbe: 0.25,
        }
    }
}

impl FairnessPolicy {
    /// Checks ranges.
    pub fn check(&self) -> Result<(), ValidationError> {
        if !(1..=3650).contains(&self.max_report_age_days) {
            return Err(ValidationError::new(
                "fairness.max_report_age_days",
                "from 1 to 3650",
            ));
        }
        for (field, v) in [
            ("fairness.max_fmr_ratio", self.max_fmr_ratio),
            ("fairness.max_fnmr_ratio", self.max_fnmr_ratio),
        ] {
            if !(v.is_finite() && v >= 1.0) {
                return Err(ValidationError::new(field, "a ratio of at least 1"));
            }
        }
        if !(0.0..=1.0).contains(&self.max_garbe) {
            return Err(ValidationError::new("fairness.max_garbe", "from 0 to 1"));
        }
        Ok(())
    }

    /// A compact text form for storage: `age=180;fmr=4;fnmr=4;garbe=0.25`.
    pub fn to_text(&self) -> String {
        format!(
            "age={};fmr={};fnmr={};garbe={}",
            self.max_report_age_days, self.max_fmr_ratio, self.max_fnmr_ratio, self.max_garbe
        )
    }

    /// Reads [`FairnessPolicy::to_text`]; unknown or missing fields keep their defaults.
    pub fn from_text(s: &str) -> Result<Self, ValidationError> {
        let mut p = Self::default();
        let bad = || ValidationError::new("fairness", "unreadable stored fairness policy");
        for part in s.split(';').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(bad)?;
            match k {
                "age" => p.max_report_age_days = v.parse().map_err(|_| bad())?,
                "fmr" => p.max_fmr_ratio = v.parse().map_err(|_| bad())?,
                "fnmr" => p.max_fnmr_ratio = v.parse().map_err(|_| bad())?,
                "garbe" => p.max_garbe = v.parse().map_err(|_| bad())?,
                _ => {}
            }
        }
        p.check()?;
        Ok(p)
    }
}

/// The largest gallery size a purpose may declare.
pub const MAX_GALLERY_SIZE: u32 = 10_000_000;

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
    /// The length of the protected codes templates are turned into.
    pub code_bits: CodeBits,
    /// The largest gallery 1:N search may run over; required when `identify` is allowed.
    pub max_gallery_size: Option<u32>,
    /// The calibration record the threshold came from (JSON text), if any.
    pub calibration: Option<String>,
    /// Risk controls on every use.
    pub risk: RiskPolicy,
    /// What a fairness report must show before a new threshold goes live.
    pub fairness: FairnessPolicy,
}

impl Purpose {
    /// Checks the rules that span fields: at least one operation, and a gallery limit exactly
    /// when 1:N identification is allowed.
    pub fn check(&self) -> Result<(), ValidationError> {
        self.risk.check()?;
        self.fairness.check()?;
        if self.operations.is_empty() {
            return Err(ValidationError::new(
                "operations",
                "at least one of: enroll, verify, identify",
            ));
        }
        match (self.allows(Operation::Identify), self.max_gallery_size) {
            (true, None) => Err(ValidationError::new(
                "max_gallery_size",
                "required when `identify` is allowed: the largest gallery a 1:N search may cover",
            )),
            (false, Some(_)) => Err(ValidationError::new(
                "max_gallery_size",
                "only for purposes that allow `identify`",
            )),
            (_, Some(n)) if !(1..=MAX_GALLERY_SIZE).contains(&n) => Err(ValidationError::new(
                "max_gallery_size",
                format!("from 1 to {MAX_GALLERY_SIZE}"),
            )),
            _ => Ok(()),
        }
    }

    /// Whether the purpose allows `op`.
    pub fn allows(&self, op: Operation) -> bool {
        self.operations.contains(&op)
    }
}

/// A declared purpose as stored: the purpose, the version of its current protection key,
/// and how its live threshold passed the fairness gate.
#[derive(Debug, Clone, PartialEq)]
pub struct PurposeRecord {
    /// The purpose.
    pub purpose: Purpose,
    /// The protection key version that new codes are made under; codes made under an older
    /// version no longer match.
    pub protection_version: u32,
    /// How the live matcher configuration passed the fairness gate.
    pub fairness: crate::FairnessState,
    /// How codes are made under the current key, when read with the purpose (the hot path
    /// reads the key's matcher with the key instead).
    pub matcher: Option<MatcherSummary>,
    /// When the operator retired the purpose: from then on it takes no new consents or
    /// enrolments, and the templates it holds are used until retention deletes them.
    pub retired_at: Option<crate::Timestamp>,
}

/// What a purpose's current protection key matches with, as published: the transform, and
/// whether a centre is subtracted first (and so what the threshold's cosine is taken
/// between).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatcherSummary {
    /// The keyed transform.
    pub transform: crate::Transform,
    /// Whether embeddings are centred on the calibration's mean first.
    pub centred: bool,
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
    fn fairness_policy_round_trips_and_checks_ranges() {
        let p = FairnessPolicy {
            max_report_age_days: 30,
            max_fmr_ratio: 2.5,
            max_fnmr_ratio: 3.0,
            max_garbe: 0.1,
        };
        assert_eq!(FairnessPolicy::from_text(&p.to_text()), Ok(p));
        assert_eq!(FairnessPolicy::from_text(""), Ok(FairnessPolicy::default()));
        assert!(FairnessPolicy::from_text("fmr=x").is_err());
        for bad in [
            FairnessPolicy {
                max_report_age_days: 0,
                ..p
            },
            FairnessPolicy {
                max_fmr_ratio: 0.5,
                ..p
            },
            FairnessPolicy {
                max_fnmr_ratio: f64::INFINITY,
                ..p
            },
            FairnessPolicy {
                max_garbe: 1.5,
                ..p
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn operations() {
        assert_eq!("verify".parse::<Operation>(), Ok(Operation::Verify));
        assert!("delete".parse::<Operation>().is_err());
        let mut p = Purpose {
            id: PurposeId::parse("p").expect("valid"),
            description: Description::parse("d").expect("valid"),
            operations: [Operation::Enroll, Operation::Identify].into(),
            dimension: Dimension::new(8).expect("valid"),
            threshold: Threshold::default(),
            retention: Retention::new(1, None).expect("valid"),
            code_bits: CodeBits::DEFAULT,
            max_gallery_size: None,
            calibration: None,
            risk: RiskPolicy::default(),
            fairness: FairnessPolicy::default(),
        };
        assert!(p.check().is_err(), "identify needs a gallery limit");
        p.max_gallery_size = Some(1000);
        assert!(p.check().is_ok());
        p.max_gallery_size = Some(0);
        assert!(p.check().is_err());
        p.operations = [Operation::Verify].into();
        p.max_gallery_size = Some(10);
        assert!(p.check().is_err(), "a gallery limit without identify");
        p.max_gallery_size = None;
        assert!(p.check().is_ok());
        p.operations = BTreeSet::new();
        assert!(p.check().is_err());
    }

    #[test]
    fn code_bits() {
        assert_eq!(CodeBits::new(2048).map(CodeBits::words), Some(32));
        for bad in [0, 256, 500, 4352, 1000] {
            assert!(CodeBits::new(bad).is_none(), "{bad}");
        }
        assert!(CodeBits::new(768).is_some());
    }

    #[test]
    fn threshold_mapping() {
        let b = CodeBits::DEFAULT;
        assert_eq!(b.max_distance(1.0), 0);
        assert_eq!(b.max_distance(0.0), 1024);
        assert_eq!(b.max_distance(-1.0), 2048);
        // cos 60 degrees = 0.5: a third of the bits.
        assert_eq!(b.max_distance(0.5), 682);
        assert!((b.cosine_equivalent(1024)).abs() < 1e-12);
        assert!((b.cosine_equivalent(b.max_distance(0.8)) - 0.8).abs() < 0.01);
        // A threshold just above the cosine equivalent of distance d admits d - 1, not d.
        for d in [1u32, 300, 600, 1023, 1500] {
            let t = b.cosine_equivalent(d);
            assert_eq!(b.max_distance(t), d, "{d}");
            assert_eq!(b.max_distance(t + 1e-12), d - 1, "{d}");
        }
    }

    #[test]
    fn descriptions() {
        assert!(Description::parse("Pay at the till\nwith your face").is_ok());
        assert!(Description::parse("  ").is_err());
        assert!(Description::parse("a\u{7}b").is_err());
        assert!(Description::parse(&"x".repeat(2001)).is_err());
    }
}
