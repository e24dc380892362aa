//! Connection details shared by every file of the SQL store: the SQLite pragmas, database
//! URLs, and small helpers.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::StoreError;

/// Set on every SQLite connection (sqlx's and the store's own, see `lite`). WAL with
/// synchronous=FULL: a commit is on disk before it is acknowledged. secure_delete: deleted
/// rows (withdrawn templates, destroyed keys) are overwritten in the file, not left in free
/// pages. temp_store: savepoint journals stay in memory, never in temp files. cache_size: the
/// default 2 MiB of pages per connection (a larger cache costs every commit a longer sweep of
/// it, measured slower). mmap_size: pages are read through a shared mapping of the file instead
/// of being copied in by `pread` each time another connection's commit has emptied this one's
/// cache (8% less CPU per verification under load, docs/performance.md); writes still go
/// through the log with its fsync. An I/O error on a mapped read stops the process instead of
/// failing the statement; nothing committed is lost by that.
pub(crate) const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA secure_delete = ON; \
     PRAGMA temp_store = MEMORY; PRAGMA cache_size = -2000; PRAGMA wal_autocheckpoint = 16000; \
     PRAGMA mmap_size = 268435456;";

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The system clock in Unix seconds.
pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `head` followed by `rows` groups of `columns` numbered parameters, then `tail`.
pub(crate) fn values_statement(head: &str, rows: usize, columns: usize, tail: &str) -> String {
    let mut sql = String::with_capacity(head.len() + tail.len() + rows * columns * 6);
    sql.push_str(head);
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..columns {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", r * columns + c + 1));
        }
        sql.push(')');
    }
    sql.push_str(tail);
    sql
}

/// A row that does not parse back into its domain type.
pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

/// Percent-encodes a file path for a `sqlite://` URL.
pub(crate) fn sqlite_url(path: &Path) -> Result<String, StoreError> {
    let s = path.to_str().ok_or_else(|| {
        StoreError::Url(format!(
            "the database path {} is not valid UTF-8",
            path.display()
        ))
    })?;
    let mut out = String::from("sqlite://");
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out.push_str("?mode=rwc");
    Ok(out)
}

/// The database file a `sqlite:` URL names; `None` for an in-memory database.
pub(crate) fn sqlite_file(url: &str) -> Option<PathBuf> {
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    let path = options.get_filename();
    let name = path.to_str().unwrap_or_default();
    (name != ":memory:" && !name.starts_with("file:")).then(|| path.to_path_buf())
}

/// The PostgreSQL notification channel on which every commit that grew the audit ledger is
/// announced (payload: the new ledger size).
pub const LEDGER_CHANNEL: &str = "bioguard_ledger";
