//! Failed verifications per subject and purpose on this node, and the lockouts they start.

use std::collections::HashMap;
use std::sync::Mutex;

use bioguard_core::{Pseudonym, PurposeId, RiskPolicy};

/// Recent failure times and the end of any lockout, per subject and purpose.
type Attempts = HashMap<(Pseudonym, PurposeId), (Vec<i64>, i64)>;

/// Failed verifications per subject and purpose on this node.
#[derive(Debug, Default)]
pub(crate) struct Lockouts {
    state: Mutex<Attempts>,
}

impl Lockouts {
    /// Seconds left of a lockout, if one is on.
    pub(crate) fn locked(&self, key: &(Pseudonym, PurposeId), now: i64) -> Option<i64> {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.get(key)
            .map(|(_, until)| *until - now)
            .filter(|left| *left > 0)
    }

    /// Counts a failure; true when it starts a lockout.
    pub(crate) fn fail(&self, key: (Pseudonym, PurposeId), now: i64, p: &RiskPolicy) -> bool {
        if p.lockout_failures == 0 {
            return false;
        }
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (times, until) = s.entry(key).or_default();
        times.retain(|t| now - *t < i64::from(p.lockout_window_secs));
        times.push(now);
        if times.len() as u32 >= p.lockout_failures {
            times.clear();
            *until = now + i64::from(p.lockout_secs);
            return true;
        }
        false
    }

    /// Failures counted for this subject in the current window.
    pub(crate) fn recent(&self, key: &(Pseudonym, PurposeId), now: i64, window: u32) -> u32 {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.get(key).map_or(0, |(times, _)| {
            times
                .iter()
                .filter(|t| now - **t < i64::from(window))
                .count() as u32
        })
    }

    pub(crate) fn succeed(&self, key: &(Pseudonym, PurposeId)) {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lockout_starts_after_the_policy_s_failures_in_its_window() {
        let l = Lockouts::default();
        let p = RiskPolicy {
            lockout_failures: 3,
            lockout_window_secs: 30,
            lockout_secs: 300,
            ..RiskPolicy::default()
        };
        let key = (
            Pseudonym::from_digest([1; 32]),
            PurposeId::parse("pay").expect("valid"),
        );
        assert!(!l.fail(key.clone(), 0, &p));
        assert!(!l.fail(key.clone(), 10, &p));
        // The first failure left the window: two in it, no lockout.
        assert!(!l.fail(key.clone(), 31, &p));
        assert_eq!(l.recent(&key, 31, 30), 2);
        assert!(l.fail(key.clone(), 32, &p), "three within 30 s");
        assert_eq!(l.locked(&key, 33), Some(299));
        assert_eq!(l.locked(&key, 332), None);
        l.succeed(&key);
        assert_eq!(l.recent(&key, 333, 30), 0);
        let off = RiskPolicy {
            lockout_failures: 0,
            ..p
        };
        assert!((0..100).all(|t| !l.fail(key.clone(), t, &off)));
    }
}
