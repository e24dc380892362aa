//! Per-client rate limits: a token bucket per API client on each node. A client that spends
//! its burst waits for tokens to refill at its rate; the answer says when to retry.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use bioguard_core::ClientId;

/// Portal requests per second one link (or all invalid tokens together) may make on a node,
/// with a burst of twice that.
pub const PORTAL_REQUESTS_PER_SEC: u32 = 5;

/// Requests per second each client may make on one node, with a burst of twice that.
#[derive(Debug)]
pub struct RateLimits<K = ClientId> {
    per_second: std::sync::atomic::AtomicU32,
    buckets: Mutex<HashMap<K, (f64, Instant)>>,
}

impl<K> Default for RateLimits<K> {
    fn default() -> Self {
        Self {
            per_second: std::sync::atomic::AtomicU32::new(0),
            buckets: Mutex::default(),
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone> RateLimits<K> {
    /// Limits at `per_second` from the start.
    pub fn at(per_second: u32) -> Self {
        let l = Self::default();
        l.set(per_second);
        l
    }

    /// The rate (0: no limit).
    pub fn rate(&self) -> u32 {
        self.per_second.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sets the rate (0: no limit).
    pub fn set(&self, per_second: u32) {
        self.per_second
            .store(per_second, std::sync::atomic::Ordering::Relaxed);
    }

    /// Takes one token for `client`; `Err(seconds)` to wait if none is left.
    pub fn take(&self, client: &K) -> Result<(), u64> {
        let rate = f64::from(self.per_second.load(std::sync::atomic::Ordering::Relaxed));
        if rate == 0.0 {
            return Ok(());
        }
        let burst = rate * 2.0;
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 100_000 {
            // Keys idle for a minute have refilled anyway: forget them.
            buckets.retain(|_, (_, last)| now.duration_since(*last).as_secs() < 60);
        }
        let (tokens, last) = buckets.entry(client.clone()).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / rate).ceil().max(1.0) as u64)
        }
    }
}

/// Requests each client may still make on this node from allowances leased from the shared
/// limit (see `limits`): a node takes a few at a time so that the database is asked once per
/// lease, not once per request.
#[derive(Debug, Default)]
pub(crate) struct Leases(Mutex<HashMap<ClientId, u32>>);

impl Leases {
    /// Takes one leased request of `client`; whether there was one.
    pub(crate) fn take(&self, client: &ClientId) -> bool {
        let mut l = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match l.get_mut(client) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    }

    /// Keeps `n` more leased requests of `client`.
    pub(crate) fn add(&self, client: &ClientId, n: u32) {
        let mut l = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if l.len() > 100_000 {
            l.retain(|_, n| *n > 0);
        }
        *l.entry(client.clone()).or_default() += n;
    }
}

/// How many requests a node leases at once at `per_second`: a twentieth of a second's worth,
/// 1 to 100 (one at a time at low rates, where every request counts).
pub(crate) fn lease_size(per_second: u32) -> u32 {
    (per_second / 20).clamp(1, 100)
}

#[cfg(test)]
mod tests {
    #[test]
    fn leases_are_taken_one_by_one_and_sized_by_the_rate() {
        let l = Leases::default();
        let c = ClientId::from_random([1; 16]);
        assert!(!l.take(&c));
        l.add(&c, 2);
        assert!(l.take(&c) && l.take(&c) && !l.take(&c));
        assert_eq!(lease_size(5), 1);
        assert_eq!(lease_size(1000), 50);
        assert_eq!(lease_size(1_000_000), 100);
    }

    use super::*;

    #[test]
    fn a_client_gets_its_burst_then_waits_and_others_are_unaffected() {
        let l = RateLimits::default();
        let (a, b) = (
            ClientId::from_random([1; 16]),
            ClientId::from_random([2; 16]),
        );
        assert!((0..1000).all(|_| l.take(&a).is_ok()), "no limit by default");
        l.set(2);
        let mut ok = 0;
        while l.take(&b).is_ok() {
            ok += 1;
            assert!(ok < 10, "the burst never ended");
        }
        assert_eq!(ok, 4, "a burst of twice the rate");
        assert_eq!(l.take(&b), Err(1));
        assert!(l.take(&ClientId::from_random([3; 16])).is_ok());
    }
}
