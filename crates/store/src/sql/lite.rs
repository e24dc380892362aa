//! Reads on SQLite run on the caller's thread, and the writer's batches of rows alone.
//!
//! Through sqlx every SQLite statement is a hand-off to the connection's own thread and back,
//! and every row is copied twice (into sqlx's SQLite row, then into its database-neutral
//! row). A verification's read is one indexed statement answered from the page cache in tens
//! of microseconds; measured under the load benchmark, the hand-offs and copies around it cost
//! more than the statement. So the store keeps a few connections of its own (rusqlite, over
//! the same bundled SQLite) and runs that one statement directly, where it is asked. The read
//! is the same statement as ever, answered by the same decoder; nothing is cached between
//! reads, so a suspension, a revoked grant or a withdrawal is seen by the next verification.
//!
//! A read never takes a write lock (WAL mode: readers see the last commit and do not wait for
//! the writer) and the connections are opened `query_only`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use crate::error::StoreError;
use crate::sql::columns::{Column, Columns};
use crate::sql::conn::{SQLITE_PRAGMAS, corrupt};

/// Idle connections kept for the next reads; more are opened while more reads run at once.
const IDLE: usize = 8;

/// Connections for one read statement on one SQLite database file.
pub(crate) struct LiteReader {
    path: PathBuf,
    /// The statement every read runs.
    sql: &'static str,
    idle: Mutex<Vec<Lite>>,
}

/// A read connection, with the column positions of its statement (looked up by name, they
/// would cost more than the statement's own decoding).
struct Lite {
    conn: Connection,
    columns: HashMap<String, usize>,
    /// How many columns the statement had when the positions were taken: a schema changed
    /// since (a migration by a newer program) makes the connection be opened afresh.
    count: usize,
}

impl std::fmt::Debug for LiteReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiteReader").finish_non_exhaustive()
    }
}

impl LiteReader {
    /// Runs `sql` on the database file at `path` (which the store has opened and migrated).
    pub(crate) fn new(path: PathBuf, sql: &'static str) -> Self {
        Self {
            path,
            sql,
            idle: Mutex::new(Vec::new()),
        }
    }

    fn open(&self) -> Result<Lite, StoreError> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(error)?;
        // query_only: this connection can never change the database. The busy timeout is the
        // store's; in WAL mode a reader waits only while the log itself is being recovered.
        conn.execute_batch(
            "PRAGMA query_only = ON; PRAGMA busy_timeout = 10000; PRAGMA cache_size = -8192; \
             PRAGMA mmap_size = 268435456;",
        )
        .map_err(error)?;
        let mut columns = HashMap::new();
        let count;
        {
            let st = conn.prepare_cached(self.sql).map_err(error)?;
            count = st.column_count();
            for (i, name) in st.column_names().into_iter().enumerate() {
                // The first of two equal names wins, as in a lookup by name.
                columns.entry(name.to_ascii_lowercase()).or_insert(i);
            }
        }
        Ok(Lite {
            conn,
            columns,
            count,
        })
    }

    /// Runs the statement with `params` and decodes its one row with `decode`.
    pub(crate) fn read<T>(
        &self,
        params: &[(&str, &dyn rusqlite::ToSql)],
        decode: impl FnOnce(&Indexed<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let taken = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match taken {
            Some(c) => c,
            None => self.open()?,
        };
        let out = read(self.sql, &conn, params, decode);
        // A connection whose read failed below the statement (I/O, a busy or broken file) is
        // closed rather than kept.
        let keep = match &out {
            Ok(_) => true,
            Err(e) => !matches!(
                e,
                StoreError::Unavailable(_) | StoreError::StorageFull(_) | StoreError::Database(_)
            ),
        };
        if keep
            && let Ok(mut idle) = self.idle.lock()
            && idle.len() < IDLE
        {
            idle.push(conn);
        }
        out
    }
}

fn read<T>(
    sql: &str,
    lite: &Lite,
    params: &[(&str, &dyn rusqlite::ToSql)],
    decode: impl FnOnce(&Indexed<'_>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut st = lite.conn.prepare_cached(sql).map_err(error)?;
    let mut rows = st.query(params).map_err(error)?;
    let row = rows
        .next()
        .map_err(error)?
        .ok_or_else(|| corrupt("the read's row is missing"))?;
    // The statement is compiled again if the schema changed; its columns may have moved.
    if row.as_ref().column_count() != lite.count {
        return Err(StoreError::Unavailable(sqlx::Error::Io(
            std::io::Error::other("the schema changed under a read connection; retry"),
        )));
    }
    decode(&Indexed {
        row,
        columns: &lite.columns,
    })
}

/// A row whose columns are found through the connection's table of positions.
pub(crate) struct Indexed<'a> {
    row: &'a rusqlite::Row<'a>,
    columns: &'a HashMap<String, usize>,
}

impl Columns for Indexed<'_> {
    fn col<T: Column>(&self, name: &str) -> Result<T, StoreError> {
        match self.columns.get(name) {
            Some(&i) => self.row.get(i).map_err(error),
            None => Err(error(rusqlite::Error::InvalidColumnName(name.to_owned()))),
        }
    }
}

/// A connection for the writer's batches of rows alone, set up as the pool's connections are.
pub(crate) fn open_writer(path: &std::path::Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(error)?;
    conn.execute_batch(SQLITE_PRAGMAS).map_err(error)?;
    Ok(conn)
}

/// How often, at most, the checkpointer copies the log into the database file while writes
/// go on (measured under the load benchmark: 10 ms gave the lowest p99 of 10, 30, 60, 100 and
/// 250 ms; the longer intervals copy fewer pages in all but stall more).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(10);

/// Copies the write-ahead log into the database file on a thread of its own (a passive
/// checkpoint: it never blocks the writer or a reader), so that no commit waits for it. Left
/// to SQLite, the commit that fills the log past its limit copies it, and every write queued
/// behind that commit waits.
/// The connections' own limit stays (`wal_autocheckpoint` in [`SQLITE_PRAGMAS`])
/// as a bound if this falls behind.
pub(crate) struct Checkpointer {
    path: PathBuf,
    conn: Arc<Mutex<Option<Connection>>>,
    running: Arc<AtomicBool>,
    last: Instant,
}

impl Checkpointer {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            conn: Arc::default(),
            running: Arc::default(),
            last: Instant::now(),
        }
    }

    /// After a commit: starts a checkpoint if none is running and the last began a while ago.
    pub(crate) fn after_commit(&mut self) {
        if self.last.elapsed() < CHECKPOINT_EVERY || self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        self.last = Instant::now();
        let (path, conn, running) = (self.path.clone(), self.conn.clone(), self.running.clone());
        tokio::task::spawn_blocking(move || {
            if let Ok(mut conn) = conn.lock() {
                let r = match conn.take() {
                    Some(c) => Ok(c),
                    None => open_writer(&path),
                }
                .and_then(|c| {
                    c.execute_batch("PRAGMA wal_checkpoint(PASSIVE)")
                        .map_err(error)
                        .map(|()| c)
                });
                match r {
                    Ok(c) => *conn = Some(c),
                    // The log keeps every commit; the next checkpoint (or a commit past the
                    // log's limit) copies it.
                    Err(e) => tracing::warn!(error = %e, "checkpoint failed"),
                }
            }
            running.store(false, Ordering::Release);
        });
    }
}

/// A rusqlite error as the store's: a full disk, an unavailable database (busy, locked, I/O,
/// cannot open), or a refused statement. The message names no value read or bound.
pub(crate) fn error(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode as C;
    match e.sqlite_error_code() {
        Some(C::DiskFull) => StoreError::StorageFull(e.to_string()),
        Some(
            C::DatabaseBusy
            | C::DatabaseLocked
            | C::CannotOpen
            | C::SystemIoFailure
            | C::NotADatabase
            | C::OutOfMemory,
        ) => StoreError::Unavailable(sqlx::Error::Io(std::io::Error::other(e.to_string()))),
        _ => StoreError::Database(sqlx::Error::Decode(Box::new(e))),
    }
}
