//! The abuse detector: on this node, the distinct subjects each client verifies in a minute
//! (enumeration) and the distances of its recent failed probes near the threshold
//! (hill-climbing). What to do when it fires is `incidents`.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use bioguard_core::{ClientId, Pseudonym, PurposeId};

/// The window distinct subjects are counted in.
const WINDOW_SECS: i64 = 60;

/// The window near-threshold probes are watched over, for hill-climbing.
const CLIMB_WINDOW_SECS: i64 = 600;

/// Recent near-threshold probe distances per (client, subject, purpose).
type Climbs = HashMap<(ClientId, Pseudonym, PurposeId), Vec<(i64, u32)>>;

/// Distinct subjects each client verified on this node in the current window, and the
/// distances of its recent near-threshold failed probes.
#[derive(Debug, Default)]
pub(crate) struct Detector {
    limit: std::sync::atomic::AtomicU32,
    pub(crate) climb_probes: std::sync::atomic::AtomicU32,
    seen: Mutex<HashMap<ClientId, (i64, HashSet<Pseudonym>)>>,
    climbs: Mutex<Climbs>,
}

impl Detector {
    pub(crate) fn set(&self, limit: u32) {
        self.limit
            .store(limit, std::sync::atomic::Ordering::Relaxed);
    }

    /// Records a failed probe's distance; true when the last `climb_probes` failed probes of
    /// this client on this subject, all in the band just above the threshold, came strictly
    /// closer each time: someone is climbing towards a match.
    pub(crate) fn climb(
        &self,
        key: (ClientId, Pseudonym, PurposeId),
        now: i64,
        distance: u32,
        band: u32,
    ) -> bool {
        let n = self.climb_probes.load(std::sync::atomic::Ordering::Relaxed) as usize;
        if n == 0 {
            return false;
        }
        let mut climbs = self.climbs.lock().unwrap_or_else(|p| p.into_inner());
        let probes = climbs.entry(key).or_default();
        probes.retain(|(t, _)| now - *t < CLIMB_WINDOW_SECS);
        if distance > band {
            probes.clear();
            return false;
        }
        probes.push((now, distance));
        let recent = &probes[probes.len().saturating_sub(n)..];
        if recent.len() == n && recent.windows(2).all(|w| w[1].1 < w[0].1) {
            probes.clear();
            return true;
        }
        false
    }

    /// Counts a subject for a client; true when the client passes the limit now.
    pub(crate) fn note(&self, client: &ClientId, subject: &Pseudonym, now: i64) -> bool {
        let limit = self.limit.load(std::sync::atomic::Ordering::Relaxed);
        if limit == 0 {
            return false;
        }
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let (start, subjects) = seen.entry(client.clone()).or_insert((now, HashSet::new()));
        if now - *start >= WINDOW_SECS {
            *start = now;
            subjects.clear();
        }
        subjects.insert(subject.clone());
        if subjects.len() as u32 > limit {
            subjects.clear();
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> (ClientId, Pseudonym, PurposeId) {
        (
            ClientId::from_random([n; 16]),
            Pseudonym::from_digest([n; 32]),
            PurposeId::parse("pay").expect("valid"),
        )
    }

    #[test]
    fn enumeration_is_more_distinct_subjects_in_a_minute_than_allowed() {
        let d = Detector::default();
        let c = ClientId::from_random([1; 16]);
        let s = |n: u8| Pseudonym::from_digest([n; 32]);
        assert!(!d.note(&c, &s(1), 0), "off by default");
        d.set(2);
        assert!(!d.note(&c, &s(1), 0));
        assert!(!d.note(&c, &s(1), 1), "the same subject again counts once");
        assert!(!d.note(&c, &s(2), 2));
        assert!(
            d.note(&c, &s(3), 3),
            "a third distinct subject passes the limit"
        );
        // A new window starts afresh.
        assert!(!d.note(&c, &s(4), 70));
        assert!(!d.note(&c, &s(5), 71));
    }

    #[test]
    fn hill_climbing_is_strictly_closer_probes_near_the_threshold() {
        let d = Detector::default();
        d.climb_probes
            .store(3, std::sync::atomic::Ordering::Relaxed);
        let band = 600;
        assert!(!d.climb(key(1), 0, 590, band));
        assert!(!d.climb(key(1), 1, 580, band));
        assert!(d.climb(key(1), 2, 570, band), "three closer each time");
        // Not strictly closer: no alarm.
        for (t, dist) in [(10, 590), (11, 590), (12, 580)] {
            assert!(!d.climb(key(2), t, dist, band));
        }
        // A probe outside the band resets the series.
        assert!(!d.climb(key(3), 0, 590, band));
        assert!(!d.climb(key(3), 1, 700, band));
        assert!(!d.climb(key(3), 2, 580, band));
        assert!(!d.climb(key(3), 3, 570, band));
        assert!(d.climb(key(3), 4, 560, band));
    }
}
