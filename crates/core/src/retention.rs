//! The retention rule of a purpose applied to one template: by when it must be deleted, and
//! which limit that is.

use crate::{Retention, Timestamp};

/// Which retention limit a template passes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpiryReason {
    /// The purpose's maximum age since enrolment.
    SinceEnrolment,
    /// The purpose's maximum time since last use (or since enrolment, if never used).
    SinceLastUse,
}

impl ExpiryReason {
    /// The reason as recorded in the ledger and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ExpiryReason::SinceEnrolment => "max_age_since_enrolment",
            ExpiryReason::SinceLastUse => "max_time_since_last_use",
        }
    }
}

const DAY: i64 = 86_400;

/// When a template enrolled at `enrolled_at` and last used at `last_used_at` passes a limit
/// of `retention`, and which limit that is. When both fall at the same time, it is the
/// enrolment limit.
pub fn deadline(
    retention: &Retention,
    enrolled_at: Timestamp,
    last_used_at: Option<Timestamp>,
) -> (ExpiryReason, Timestamp) {
    let by_age = enrolled_at.unix() + i64::from(retention.max_days_since_enrolment()) * DAY;
    let by_use = retention
        .max_days_since_last_use()
        .map(|d| last_used_at.unwrap_or(enrolled_at).unix() + i64::from(d) * DAY);
    match by_use {
        Some(u) if u < by_age => (ExpiryReason::SinceLastUse, Timestamp::from_unix(u)),
        _ => (ExpiryReason::SinceEnrolment, Timestamp::from_unix(by_age)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(days: i64) -> Timestamp {
        Timestamp::from_unix(days * DAY)
    }

    #[test]
    fn the_earlier_limit_wins() {
        let r = Retention::new(365, Some(90)).expect("valid");
        assert_eq!(
            deadline(&r, t(0), None),
            (ExpiryReason::SinceLastUse, t(90))
        );
        assert_eq!(
            deadline(&r, t(0), Some(t(300))),
            (ExpiryReason::SinceEnrolment, t(365))
        );
        assert_eq!(
            deadline(&r, t(0), Some(t(200))),
            (ExpiryReason::SinceLastUse, t(290))
        );
        let only_age = Retention::new(30, None).expect("valid");
        assert_eq!(
            deadline(&only_age, t(10), Some(t(39))),
            (ExpiryReason::SinceEnrolment, t(40))
        );
        // A tie is the enrolment limit.
        assert_eq!(
            deadline(&r, t(0), Some(t(275))),
            (ExpiryReason::SinceEnrolment, t(365))
        );
    }
}
