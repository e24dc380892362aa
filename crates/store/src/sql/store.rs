//! [`SqlStore`]: the connection pool, the group-commit writer, and the helper every change
//! goes through to be written with its audit leaf.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

use crate::error::StoreError;
use crate::records::LeafDraft;
use crate::sql::conn::{SQLITE_PRAGMAS, sqlite_file, sqlite_url};
use crate::sql::lite::LiteReader;
use crate::sql::verify_read::VERIFY_MATERIAL_SQL;
use crate::sql::writer::{Batch, BoxFuture, MAX_BATCH, WriteStats, Writer};
use crate::traits::{Backend, Database};

/// A store over SQLite or PostgreSQL.
#[derive(Clone)]
pub struct SqlStore {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
    pub(crate) writer: Arc<Writer>,
    /// Runs verification reads on the caller's thread (SQLite in a file).
    pub(crate) lite: Option<Arc<LiteReader>>,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// What a change did, and so whether its leaf is written.
pub(crate) enum Recorded<T> {
    /// The change was made: its leaf is appended after it, in its transaction.
    Changed(T),
    /// Nothing changed (a no-op, or a refusal that is an answer rather than an error): no
    /// leaf.
    Unchanged(T),
}

impl<T> Recorded<T> {
    /// [`Recorded::Changed`] when `changed`, else [`Recorded::Unchanged`].
    pub(crate) fn when(changed: bool, value: T) -> Self {
        if changed {
            Recorded::Changed(value)
        } else {
            Recorded::Unchanged(value)
        }
    }
}

impl SqlStore {
    /// Opens (creating if needed) the SQLite database at `path` and migrates it.
    pub async fn open_sqlite(path: &Path) -> Result<Self, StoreError> {
        // Create the file ourselves with mode 0600; SQLite gives its WAL and shared-memory
        // files the same mode as the database file.
        if !path.exists() {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| StoreError::Url(format!("cannot create {}: {e}", path.display())))?;
        }
        Self::connect(&sqlite_url(path)?).await
    }

    /// Connects to a database by URL (`sqlite://...` or `postgres://...`) and migrates it.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::Url(
                "expected a URL starting with postgres:// (or sqlite://)".into(),
            ));
        };
        let options = AnyPoolOptions::new()
            .acquire_timeout(Duration::from_secs(10))
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        sqlx::raw_sql(SQLITE_PRAGMAS).execute(conn).await?;
                    }
                    Ok(())
                })
            });
        let pool = options.connect(url).await?;
        crate::sql::migrate::run(&pool, backend).await?;
        let file = match backend {
            Backend::Sqlite => sqlite_file(url),
            Backend::Postgres => None,
        };
        let writer = Writer::new(pool.clone(), backend, file.clone(), MAX_BATCH);
        // On SQLite in a file, verification reads and batches of rows alone skip sqlx's
        // per-statement hand-off (see `lite`).
        let lite = file.map(|p| Arc::new(LiteReader::new(p, VERIFY_MATERIAL_SQL.as_str())));
        Ok(Self {
            pool,
            backend,
            writer,
            lite,
        })
    }

    /// A plain pool without migrations, for set-up and inspection against a server.
    pub async fn raw_pool(url: &str) -> Result<AnyPool, StoreError> {
        sqlx::any::install_default_drivers();
        Ok(AnyPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?)
    }

    /// The connection pool, for tests that inspect or alter rows directly.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The same store with at most `max_batch` changes per transaction (1: every change in a
    /// transaction of its own), for benchmarks that compare batch sizes. It has its own
    /// writer; both stay correct side by side (every batch reads the log's head under the
    /// write lock), they only take turns.
    pub fn with_max_batch(&self, max_batch: usize) -> Self {
        Self {
            pool: self.pool.clone(),
            backend: self.backend,
            writer: Writer::new(
                self.pool.clone(),
                self.backend,
                self.writer.file(),
                max_batch,
            ),
            lite: self.lite.clone(),
        }
    }

    /// Writes a consistent copy of the embedded database to `path` (which must not exist)
    /// while it keeps serving: `VACUUM INTO` reads one snapshot and writes a compact file.
    /// Only for SQLite; a PostgreSQL database is copied with `pg_dump`.
    pub async fn snapshot_to(&self, path: &Path) -> Result<(), StoreError> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::Url(
                "a snapshot is of the embedded SQLite database; copy PostgreSQL with pg_dump"
                    .into(),
            ));
        }
        let target = path
            .to_str()
            .ok_or_else(|| StoreError::Url(format!("{} is not UTF-8", path.display())))?;
        sqlx::query("VACUUM INTO $1")
            .bind(target.to_owned())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// What the group-commit writer has done so far.
    pub fn write_stats(&self) -> WriteStats {
        self.writer.stats()
    }

    /// Closes every connection; waits for those in use to be returned.
    pub async fn close(&self) {
        // The writer lets its connection go when its queue is done.
        self.writer.stop();
        self.pool.close().await;
    }

    /// Writes a change with its audit leaf: runs `change` in the next batch's transaction
    /// and, when it reports [`Recorded::Changed`], appends the leaf after it in the same
    /// transaction (the change may complete the leaf first). Answers once that transaction
    /// is committed, with the change's value and the leaf's index if one was written. Every
    /// change of every concern goes through here, so none can be stored without its leaf.
    pub(crate) async fn record<T, F>(
        &self,
        leaf: &LeafDraft,
        change: F,
    ) -> Result<(T, Option<u64>), StoreError>
    where
        T: Send + 'static,
        F: for<'b, 'c> FnOnce(
                &'b mut Batch<'c>,
                &'b mut LeafDraft,
            ) -> BoxFuture<'b, Result<Recorded<T>, StoreError>>
            + Send
            + 'static,
    {
        let mut leaf = leaf.clone();
        self.writer
            .write(move |b| {
                Box::pin(async move {
                    match change(b, &mut leaf).await? {
                        Recorded::Changed(v) => {
                            let index = b.append_leaf(&leaf)?;
                            crate::sql::outbox::put_outbox(b, &leaf).await?;
                            Ok((v, Some(index)))
                        }
                        Recorded::Unchanged(v) => Ok((v, None)),
                    }
                })
            })
            .await
    }

    /// [`SqlStore::record`] for the changes whose caller needs only their value.
    pub(crate) async fn change<T, F>(&self, leaf: &LeafDraft, change: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'b, 'c> FnOnce(
                &'b mut Batch<'c>,
                &'b mut LeafDraft,
            ) -> BoxFuture<'b, Result<Recorded<T>, StoreError>>
            + Send
            + 'static,
    {
        Ok(self.record(leaf, change).await?.0)
    }
}

#[async_trait]
impl Database for SqlStore {
    fn backend(&self) -> Backend {
        self.backend
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// Runs a `SELECT COUNT(*) ...` statement, for demonstrations and tests that show what the
/// database holds.
pub async fn count_rows(store: &SqlStore, sql: &'static str) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(sql).fetch_one(&store.pool).await?)
}
