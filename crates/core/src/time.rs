/// A point in time, in whole seconds since the Unix epoch (UTC).
///
/// Stored as an integer in both databases so that SQLite and PostgreSQL hold the same value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// A timestamp from seconds since the epoch.
    pub fn from_unix(secs: i64) -> Self {
        Self(secs)
    }

    /// Seconds since the epoch.
    pub fn unix(self) -> i64 {
        self.0
    }
}
