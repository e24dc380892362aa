//! Where the request rate and the lockouts are kept: in this node's memory on SQLite (one
//! process owns the database), in the database on PostgreSQL, so that every node sharing it
//! draws on one allowance per client and one count of failures per subject (ADR 0023). A node
//! leases a twentieth of a second's requests at a time from the shared allowance, so that a
//! busy client costs the database a write per lease, not per request.

use bioguard_core::{ClientId, Pseudonym, PurposeId, RiskPolicy};
use bioguard_store::{Backend, LockoutState};

use crate::abuse::ratelimit::lease_size;
use crate::error::ServiceError;
use crate::facade::Service;

/// The system clock in microseconds (rates need more than the service clock's seconds).
fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// The lockout key of a subject and purpose (a pseudonym is already a keyed digest).
fn lockout_key(subject: &Pseudonym, purpose: &PurposeId) -> String {
    format!("{}/{}", subject.as_str(), purpose.as_str())
}

/// The GCRA parameters of `per_second` with a burst of twice that: the interval between
/// requests and the burst's span, in microseconds.
pub(crate) fn gcra(per_second: u32) -> (i64, i64) {
    let interval = (1_000_000 / i64::from(per_second.max(1))).max(1);
    (interval, interval * 2 * i64::from(per_second.max(1)))
}

impl Service {
    /// Whether limits are shared through the database.
    fn shared_limits(&self) -> bool {
        self.db.database.backend() == Backend::Postgres
    }

    /// Takes one request from the client's allowance; 429 with the seconds to wait when spent.
    pub(crate) async fn take_rate(&self, client: &ClientId) -> Result<(), ServiceError> {
        let rate = self.limits.rate();
        if rate == 0 {
            return Ok(());
        }
        if !self.shared_limits() {
            return self.limits.take(client).map_err(ServiceError::RateLimited);
        }
        if self.leases.take(client) {
            return Ok(());
        }
        // Lease a few requests at once (the last few of an allowance one at a time).
        let (interval, burst) = gcra(rate);
        let mut wait_us = 0;
        for n in [lease_size(rate), 1] {
            match self
                .db
                .limits
                .take_rate(client.as_str(), now_us(), interval * i64::from(n), burst)
                .await?
            {
                Ok(()) => {
                    self.leases.add(client, n - 1);
                    return Ok(());
                }
                Err(w) => wait_us = w,
            }
            if n == 1 {
                break;
            }
        }
        Err(ServiceError::RateLimited(
            (wait_us as u64).div_ceil(1_000_000).max(1),
        ))
    }

    /// Refuses a verification while the subject is locked out for this purpose; otherwise
    /// returns the subject's recent failures (for the risk score). `shared`: the state of the
    /// shared tables as the verification's own read returned it (used on PostgreSQL; it costs
    /// no query of its own).
    pub(crate) fn check_lockout(
        &self,
        subject: &Pseudonym,
        purpose: &PurposeId,
        policy: &RiskPolicy,
        shared: LockoutState,
    ) -> Result<u32, ServiceError> {
        if policy.lockout_failures == 0 {
            return Ok(0);
        }
        let now = self.now().unix();
        let window = i64::from(policy.lockout_window_secs);
        let (left, recent) = if self.shared_limits() {
            (shared.left(now), shared.recent(now, window))
        } else {
            let key = (subject.clone(), purpose.clone());
            (
                self.lockouts.locked(&key, now),
                self.lockouts.recent(&key, now, policy.lockout_window_secs),
            )
        };
        match left {
            Some(left) if left > 0 => Err(ServiceError::AttemptsExceeded(left as u64)),
            _ => Ok(recent),
        }
    }

    /// Counts a verification's outcome; returns whether a lockout starts with it. A match
    /// forgets the failures (`recent`: how many there were, to spare a write when none).
    pub(crate) async fn lockout_outcome(
        &self,
        subject: &Pseudonym,
        purpose: &PurposeId,
        policy: &RiskPolicy,
        matched: bool,
        recent: u32,
    ) -> Result<bool, ServiceError> {
        if policy.lockout_failures == 0 {
            return Ok(false);
        }
        let now = self.now().unix();
        if !self.shared_limits() {
            let key = (subject.clone(), purpose.clone());
            if matched {
                self.lockouts.succeed(&key);
                return Ok(false);
            }
            return Ok(self.lockouts.fail(key, now, policy));
        }
        let key = lockout_key(subject, purpose);
        if matched {
            if recent > 0 {
                self.db.limits.lockout_clear(&key).await?;
            }
            return Ok(false);
        }
        Ok(self
            .db
            .limits
            .lockout_fail(
                &key,
                now,
                i64::from(policy.lockout_window_secs),
                policy.lockout_failures,
                i64::from(policy.lockout_secs),
            )
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_rate_allows_the_local_burst() {
        // 10 per second, a burst of 20: one request every 100 ms, 2 s of requests ahead.
        assert_eq!(gcra(10), (100_000, 2_000_000));
        assert_eq!(gcra(1_000_000), (1, 2_000_000));
        // Simulated: 20 at once pass, the 21st waits one interval.
        let (interval, burst) = gcra(10);
        let mut tat = 0i64;
        let now = 0i64;
        let mut allowed = 0;
        for _ in 0..25 {
            let next = tat.max(now) + interval;
            if next - now <= burst {
                tat = next;
                allowed += 1;
            }
        }
        assert_eq!(allowed, 20);
    }
}
