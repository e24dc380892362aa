//! Failed authentications counted on this node, so that a burst of them (someone guessing
//! keys) is recorded in the ledger once per window.

/// Failed authentications within one window that make a burst worth recording.
pub const AUTH_BURST: u32 = 20;
/// The window over which failures are counted.
pub(crate) const AUTH_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

/// This node's count of failed authentications in the current window.
#[derive(Default)]
pub(crate) struct AuthFailures {
    state: std::sync::Mutex<Option<(std::time::Instant, u32)>>,
}

impl AuthFailures {
    /// Counts one failure; true exactly when this one completes a burst in its window.
    pub(crate) fn count(&self) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        let (start, n) = match *s {
            Some((start, n)) if now.duration_since(start) < AUTH_WINDOW => (start, n + 1),
            _ => (now, 1),
        };
        *s = Some((start, n));
        n == AUTH_BURST
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_counted_once_per_window() {
        let f = AuthFailures::default();
        let bursts = (0..AUTH_BURST * 3).filter(|_| f.count()).count();
        assert_eq!(
            bursts, 1,
            "the 20th failure completes the burst; later ones do not"
        );
    }
}
