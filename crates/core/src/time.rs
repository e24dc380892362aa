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

/// The RFC 3339 UTC form of a timestamp (times before the epoch show as the epoch).
pub fn rfc3339(t: Timestamp) -> String {
    let secs = u64::try_from(t.unix()).unwrap_or(0);
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        .to_string()
}
