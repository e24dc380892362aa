//! Time and randomness for the rooms: the service's clock (which tests move), the system
//! time for records made before a service exists, and random ids.

use std::sync::atomic::{AtomicI64, Ordering};

use bioguard_core::Timestamp;

use crate::error::ServiceError;

/// The service's clock: the system clock plus an offset. Only tests move the offset, to see
/// retention limits and deadlines pass without waiting for them.
#[derive(Debug, Default)]
pub struct Clock {
    offset_secs: AtomicI64,
}

impl Clock {
    /// The current time.
    pub fn now(&self) -> Timestamp {
        let offset = self.offset_secs.load(Ordering::Relaxed);
        Timestamp::from_unix(system_now().saturating_add(offset))
    }

    /// Moves this clock forward by `secs` seconds.
    pub fn advance(&self, secs: i64) {
        self.offset_secs.fetch_add(secs, Ordering::Relaxed);
    }
}

/// The system clock in Unix seconds.
fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The system time, for the few records made before a service (and its clock) exists.
pub(crate) fn now() -> Timestamp {
    Timestamp::from_unix(system_now())
}

/// 16 random bytes, for ids.
pub(crate) fn random16() -> Result<[u8; 16], ServiceError> {
    bioguard_crypto::random_array::<16>().map_err(|e| ServiceError::Internal(e.to_string()))
}

/// A new decision id, ordered by the system clock's milliseconds (see
/// [`bioguard_core::DecisionId::from_time`]).
pub(crate) fn new_decision_id() -> Result<bioguard_core::DecisionId, ServiceError> {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let random =
        bioguard_crypto::random_array::<10>().map_err(|e| ServiceError::Internal(e.to_string()))?;
    Ok(bioguard_core::DecisionId::from_time(ms, random))
}
