//! Group commit: one writer task per store runs every change that appends an audit leaf.
//!
//! Callers hand the writer a job (a closure over the open transaction) and wait for its answer.
//! The writer takes every job queued at that moment (up to [`MAX_BATCH`]), runs them one after
//! another in one database transaction, each inside its own savepoint, and commits once. A job
//! that fails is rolled back to its savepoint and answered with its error; the others commit.
//! Nobody is answered before the commit that holds their change is durable, so an acknowledged
//! change always has its leaf, and a crash loses only unacknowledged work, whole.
//!
//! The audit head (next index and previous leaf hash) is read once per batch, locked on
//! PostgreSQL so that writers on other nodes wait their turn, kept in memory while the batch
//! runs, and written back once before the commit. Every batch takes that lock before any
//! other, so two batches can never wait on each other.
//!
//! On SQLite in a file, a batch whose changes only add rows runs through rusqlite on one
//! blocking thread ([`run_rows_batch`]; ADR 0018), and a checkpointer copies the log into the
//! database file after commits ([`crate::sql::lite::Checkpointer`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use std::path::PathBuf;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Connection, Row, Transaction};
use tokio::sync::{mpsc, oneshot};

use crate::sql::conn::{corrupt, values_statement};
use crate::sql::ledger_index;
use crate::sql::lite::{Checkpointer, open_writer};
use crate::sql::mailbox::Mailbox;
use crate::traits::Backend;
use bioguard_core::Pseudonym;

use crate::error::StoreError;
use crate::records::LeafDraft;

/// The most jobs one transaction runs, by default.
pub(crate) const MAX_BATCH: usize = 512;

/// How long an idle writer keeps its connection.
const KEEP_CONNECTION: Duration = Duration::from_secs(5);

/// How many jobs may wait for the writer before callers wait to enqueue.
const QUEUE: usize = 4096;

/// A boxed future borrowing from `'a`.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The open transaction of one batch, as a job sees it.
pub(crate) struct Batch<'c> {
    tx: Transaction<'c, Any>,
    backend: Backend,
    rows: Rows,
}

/// The audit head as the batch has moved it, and the rows the batch writes at its end, several
/// to a statement: audit leaves, their mentions, and templates' last-use times. A job that
/// fails takes its own rows back out.
pub(crate) struct Rows {
    size: u64,
    last_hash: bioguard_ledger::Hash,
    pending: Pending,
}

#[derive(Default)]
struct Pending {
    leaves: Vec<LeafRow>,
    mentions: Vec<(String, i64)>,
    touches: Vec<(String, i64)>,
    /// Count keys of the leaves (see [`ledger_index`]).
    counts: Vec<(String, String)>,
    /// Decision ids of the leaves, with their indexes.
    decisions: Vec<(String, i64)>,
    /// Subjects erased in this batch, each with the index of its erasure's leaf: the leaves
    /// before it are written without the pseudonym and without mentions of it.
    forgotten: Vec<(String, i64)>,
}

impl Pending {
    /// Applies the batch's erasures to its own rows, just before they are written.
    fn forget(&mut self) {
        let forgotten = std::mem::take(&mut self.forgotten);
        if forgotten.is_empty() {
            return;
        }
        let gone = |s: &str, idx: i64| forgotten.iter().any(|(f, before)| f == s && idx < *before);
        for row in &mut self.leaves {
            if row.subject.as_deref().is_some_and(|s| gone(s, row.idx)) {
                row.subject = None;
            }
        }
        self.mentions.retain(|(s, idx)| !gone(s, *idx));
    }
}

struct LeafRow {
    idx: i64,
    bytes: Vec<u8>,
    hash: bioguard_ledger::Hash,
    subject: Option<String>,
    created_at: i64,
}

/// Where a batch stood before a job, to undo the job's in-memory part if it fails.
#[derive(Clone, Copy)]
struct Mark {
    size: u64,
    last_hash: bioguard_ledger::Hash,
    leaves: usize,
    mentions: usize,
    touches: usize,
    counts: usize,
    decisions: usize,
    forgotten: usize,
}

/// Rows per multi-row statement: 5 parameters a leaf, well inside both databases' limits.
const ROWS_PER_STATEMENT: usize = 200;

impl Batch<'_> {
    /// The connection, for the job's statements.
    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    /// Which database this is.
    pub(crate) fn backend(&self) -> Backend {
        self.backend
    }

    /// `FOR UPDATE` where the database has it; SQLite's write lock already covers the row.
    pub(crate) fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    /// Appends one audit leaf (see [`Rows::append_leaf`]).
    pub(crate) fn append_leaf(&mut self, d: &LeafDraft) -> Result<u64, StoreError> {
        self.rows.append_leaf(d)
    }

    /// Unlinks the leaves this batch has not written yet from `subject` (an erasure): they
    /// keep their tags, lose the pseudonym beside them, and are no longer listed as
    /// mentioning it.
    pub(crate) fn forget_subject(&mut self, subject: &bioguard_core::Pseudonym) {
        let before = i64::try_from(self.rows.size).unwrap_or(i64::MAX);
        self.rows
            .pending
            .forgotten
            .push((subject.as_str().to_owned(), before));
    }

    /// Writes the pending rows: leaves first (mentions refer to them).
    async fn flush(&mut self) -> Result<(), StoreError> {
        let mut pending = std::mem::take(&mut self.rows.pending);
        pending.forget();
        for chunk in pending.leaves.chunks(ROWS_PER_STATEMENT) {
            let sql = values_statement(
                "INSERT INTO audit_leaves (idx, leaf, hash, subject, created_at) VALUES ",
                chunk.len(),
                5,
                "",
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for r in chunk {
                q = q
                    .bind(r.idx)
                    .bind(r.bytes.clone())
                    .bind(r.hash.to_vec())
                    .bind(r.subject.clone())
                    .bind(r.created_at);
            }
            q.execute(&mut *self.tx).await?;
        }
        for chunk in pending.mentions.chunks(ROWS_PER_STATEMENT) {
            let sql = values_statement(
                "INSERT INTO audit_mentions (subject, idx) VALUES ",
                chunk.len(),
                2,
                "",
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (subject, idx) in chunk {
                q = q.bind(subject.clone()).bind(*idx);
            }
            q.execute(&mut *self.tx).await?;
        }
        for chunk in pending.touches.chunks(ROWS_PER_STATEMENT) {
            // VALUES columns are named column1, column2, ... on both databases.
            let sql = values_statement(
                "UPDATE templates SET last_used_at = v.column2 FROM (VALUES ",
                chunk.len(),
                2,
                ") AS v WHERE templates.id = v.column1 \
                 AND (templates.last_used_at IS NULL OR templates.last_used_at < v.column2)",
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (template, at) in chunk {
                q = q.bind(template.clone()).bind(*at);
            }
            q.execute(&mut *self.tx).await?;
        }
        ledger_index::write(
            &mut self.tx,
            &ledger_index::aggregate(&pending.counts),
            &pending.decisions,
        )
        .await?;
        Ok(())
    }
}

impl Rows {
    fn new(size: u64, last_hash: bioguard_ledger::Hash) -> Self {
        Self {
            size,
            last_hash,
            pending: Pending::default(),
        }
    }

    /// Appends one audit leaf: the next index, chained to the previous leaf. Call it last in a
    /// job, after the change it records. The row is written with the batch's others before
    /// the commit; the index is final.
    pub(crate) fn append_leaf(&mut self, d: &LeafDraft) -> Result<u64, StoreError> {
        let index = self.size;
        let idx = i64::try_from(index).map_err(|_| corrupt("audit size"))?;
        let leaf = bioguard_ledger::Leaf {
            index,
            prev: self.last_hash,
            time: d.time.unix(),
            op: d.op.to_owned(),
            actor: d.actor.clone(),
            subject: d.subject.as_ref().map(|s| s.tag.clone()),
            purpose: d.purpose.as_ref().map(|p| p.as_str().to_owned()),
            decision: d.decision.clone(),
            request: d.request.clone(),
            detail: d.detail.clone(),
        };
        let bytes = leaf.encode();
        let hash = bioguard_ledger::leaf_hash(&bytes);
        ledger_index::note(
            d.op,
            d.decision.as_deref(),
            &d.detail,
            idx,
            &mut self.pending.counts,
            &mut self.pending.decisions,
        );
        self.pending.leaves.push(LeafRow {
            idx,
            bytes,
            hash,
            subject: d.subject.as_ref().map(|s| s.pseudonym.as_str().to_owned()),
            created_at: d.time.unix(),
        });
        let mut mentions: Vec<&Pseudonym> = d
            .mentions
            .iter()
            .filter(|m| Some(*m) != d.subject.as_ref().map(|s| &s.pseudonym))
            .collect();
        mentions.sort();
        mentions.dedup();
        for m in mentions {
            self.pending.mentions.push((m.as_str().to_owned(), idx));
        }
        self.size = index + 1;
        self.last_hash = hash;
        Ok(index)
    }

    /// Sets a template's last-use time (never moving it back), with the batch's others.
    pub(crate) fn touch_template(&mut self, template: &str, at: i64) {
        self.pending.touches.push((template.to_owned(), at));
    }

    fn mark(&self) -> Mark {
        Mark {
            size: self.size,
            last_hash: self.last_hash,
            leaves: self.pending.leaves.len(),
            mentions: self.pending.mentions.len(),
            touches: self.pending.touches.len(),
            counts: self.pending.counts.len(),
            decisions: self.pending.decisions.len(),
            forgotten: self.pending.forgotten.len(),
        }
    }

    fn undo_to(&mut self, m: Mark) {
        (self.size, self.last_hash) = (m.size, m.last_hash);
        self.pending.leaves.truncate(m.leaves);
        self.pending.mentions.truncate(m.mentions);
        self.pending.touches.truncate(m.touches);
        self.pending.counts.truncate(m.counts);
        self.pending.decisions.truncate(m.decisions);
        self.pending.forgotten.truncate(m.forgotten);
    }
}

/// One queued change, with its own answer channel.
trait Job: Send {
    /// Whether the change only adds rows the batch writes at its end (no statement of its
    /// own), so it needs no savepoint.
    fn in_memory(&self) -> bool;
    /// Runs the change inside the batch; returns whether it succeeded.
    fn run<'a>(&'a mut self, batch: &'a mut Batch<'_>) -> BoxFuture<'a, bool>;
    /// Runs an [`in_memory`](Job::in_memory) change against the batch's rows alone; returns
    /// whether it succeeded.
    fn run_rows(&mut self, rows: &mut Rows) -> bool;
    /// Answers the caller once the batch is settled: `committed` is the commit's outcome.
    fn answer(self: Box<Self>, committed: Result<(), Failure>);
}

type Work<T> =
    Box<dyn for<'b, 'c> FnOnce(&'b mut Batch<'c>) -> BoxFuture<'b, Result<T, StoreError>> + Send>;

/// A change that only adds pending rows: synchronous, so it cannot run a statement.
type MemoryWork<T> = Box<dyn FnOnce(&mut Rows) -> Result<T, StoreError> + Send>;

enum Change<T> {
    Statements(Work<T>),
    Memory(MemoryWork<T>),
}

struct TypedJob<T> {
    work: Option<Change<T>>,
    outcome: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T: Send + 'static> Job for TypedJob<T> {
    fn in_memory(&self) -> bool {
        matches!(self.work, Some(Change::Memory(_)))
    }

    fn run<'a>(&'a mut self, batch: &'a mut Batch<'_>) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let outcome = match self.work.take() {
                None => return false,
                Some(Change::Statements(work)) => work(batch).await,
                Some(Change::Memory(work)) => work(&mut batch.rows),
            };
            let ok = outcome.is_ok();
            self.outcome = Some(outcome);
            ok
        })
    }

    fn run_rows(&mut self, rows: &mut Rows) -> bool {
        let outcome = match self.work.take() {
            None => return false,
            Some(Change::Memory(work)) => work(rows),
            Some(Change::Statements(_)) => Err(StoreError::NotCommitted(
                "a change with statements of its own ran without a transaction".into(),
            )),
        };
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn answer(self: Box<Self>, committed: Result<(), Failure>) {
        let answer = match (self.outcome, committed) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(v)), Ok(())) => Ok(v),
            (_, Err(Failure { why, full: true })) => Err(StoreError::StorageFull(why)),
            (_, Err(Failure { why, .. })) => Err(StoreError::NotCommitted(why)),
            (None, Ok(())) => Err(StoreError::NotCommitted("the change did not run".into())),
        };
        // A caller that went away no longer needs the answer; its change stands or not as
        // the commit decided.
        let _ = self.reply.send(answer);
    }
}

/// Why a batch was not committed, for every job in it.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    why: String,
    /// The storage was full (a clearer answer than "not committed").
    full: bool,
}

/// The sending side of a store's writer; restarts the writer task if it has stopped (its
/// runtime ended, or it panicked).
pub(crate) struct Writer {
    pool: AnyPool,
    backend: Backend,
    /// The SQLite database file, for batches of rows alone (see [`rows_batch`]).
    lite: Option<PathBuf>,
    queue: Mailbox<Box<dyn Job>>,
    counts: Arc<Counts>,
    max_batch: usize,
}

/// What the writer has done since the store was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Batches settled: committed, or (a lone refused change) rolled back.
    pub batches: u64,
    /// Changes that ran in them (committed or refused).
    pub jobs: u64,
    /// Transactions that failed as a whole (every change in them answered with an error).
    pub failed_batches: u64,
}

#[derive(Default)]
struct Counts {
    batches: AtomicU64,
    jobs: AtomicU64,
    failed: AtomicU64,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

impl Writer {
    pub(crate) fn new(
        pool: AnyPool,
        backend: Backend,
        lite: Option<PathBuf>,
        max_batch: usize,
    ) -> Arc<Self> {
        Arc::new(Self {
            pool,
            backend,
            lite,
            queue: Mailbox::new(),
            counts: Arc::default(),
            max_batch: max_batch.clamp(1, 65_536),
        })
    }

    /// The SQLite database file, if batches of rows alone go through rusqlite.
    pub(crate) fn file(&self) -> Option<PathBuf> {
        self.lite.clone()
    }

    /// Counts of batches and jobs so far.
    pub(crate) fn stats(&self) -> WriteStats {
        WriteStats {
            batches: self.counts.batches.load(Ordering::Relaxed),
            jobs: self.counts.jobs.load(Ordering::Relaxed),
            failed_batches: self.counts.failed.load(Ordering::Relaxed),
        }
    }

    /// Runs `work` in the next batch and answers once that batch is committed.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'b, 'c> FnOnce(&'b mut Batch<'c>) -> BoxFuture<'b, Result<T, StoreError>>
            + Send
            + 'static,
    {
        self.submit(Change::Statements(Box::new(work))).await
    }

    /// Runs `work`, which only appends leaves and touches templates (no statement of its own,
    /// so no savepoint), in the next batch; answers once that batch is committed.
    pub(crate) async fn write_rows<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Rows) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit(Change::Memory(Box::new(work))).await
    }

    async fn submit<T: Send + 'static>(&self, work: Change<T>) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(TypedJob {
            work: Some(work),
            outcome: None,
            reply,
        });
        match self.queue.send(job, || self.spawn()).await {
            Ok(()) => answer
                .await
                .unwrap_or_else(|_| Err(StoreError::NotCommitted("the writer stopped".into()))),
            Err(_) => Err(StoreError::NotCommitted(
                "the writer cannot be started".into(),
            )),
        }
    }

    /// Stops the writer once the changes queued so far are done; a later change starts a
    /// fresh one.
    pub(crate) fn stop(&self) {
        self.queue.stop();
    }

    fn spawn(&self) -> mpsc::Sender<Box<dyn Job>> {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(
            self.pool.clone(),
            self.backend,
            self.lite.clone(),
            rx,
            self.counts.clone(),
            self.max_batch,
        ));
        tx
    }
}

/// The writer task: batches until every sender is gone.
async fn run(
    pool: AnyPool,
    backend: Backend,
    lite: Option<PathBuf>,
    mut rx: mpsc::Receiver<Box<dyn Job>>,
    counts: Arc<Counts>,
    max_batch: usize,
) {
    let mut jobs: Vec<Box<dyn Job>> = Vec::with_capacity(max_batch);
    // The writer keeps one connection while it is busy, so that its page cache (SQLite) stays
    // warm; after a pause the connection goes back to the pool, which checks it before
    // handing it out again.
    let mut held: Option<PoolConnection<Any>> = None;
    // The connection for batches of rows alone (SQLite in a file), kept the same way.
    let mut lite_conn: Option<rusqlite::Connection> = None;
    let mut checkpointer = lite.clone().map(Checkpointer::new);
    loop {
        let received = if held.is_some() || lite_conn.is_some() {
            match tokio::time::timeout(KEEP_CONNECTION, rx.recv_many(&mut jobs, max_batch)).await {
                Ok(n) => n,
                Err(_) => {
                    held = None;
                    lite_conn = None;
                    continue;
                }
            }
        } else {
            rx.recv_many(&mut jobs, max_batch).await
        };
        if received == 0 {
            // Every sender is gone: the store was closed or dropped.
            break;
        }
        let committed = match &lite {
            Some(path) if jobs.iter().all(|j| j.in_memory()) => {
                let (conn, r) = run_rows_batch(path, lite_conn.take(), &mut jobs).await;
                lite_conn = conn;
                r
            }
            _ => run_statements_batch(&pool, backend, &mut held, &mut jobs).await,
        };
        counts.jobs.fetch_add(jobs.len() as u64, Ordering::Relaxed);
        metrics::histogram!("bioguard_commit_batch_size").record(jobs.len() as f64);
        let committed = match committed {
            Ok(()) => {
                counts.batches.fetch_add(1, Ordering::Relaxed);
                if let Some(c) = &mut checkpointer {
                    c.after_commit();
                }
                Ok(())
            }
            Err(e) => {
                counts.failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, jobs = jobs.len(), "write batch not committed");
                Err(Failure {
                    full: matches!(e, StoreError::StorageFull(_)),
                    why: e.to_string(),
                })
            }
        };
        for job in jobs.drain(..) {
            job.answer(committed.clone());
        }
    }
}

/// A batch through the pool's connection (`held` between batches).
async fn run_statements_batch(
    pool: &AnyPool,
    backend: Backend,
    held: &mut Option<PoolConnection<Any>>,
    jobs: &mut [Box<dyn Job>],
) -> Result<(), StoreError> {
    let mut conn = match held.take() {
        Some(c) => c,
        None => pool.acquire().await?,
    };
    let r = run_batch(&mut conn, backend, jobs).await;
    // A connection whose batch failed may be broken, or still inside the transaction whose
    // commit failed (a full disk): close it rather than return it to the pool.
    if r.is_ok() {
        *held = Some(conn);
    } else {
        let _ = conn.detach().close().await;
    }
    r
}

/// A batch whose changes only add rows (verifications, audit-only leaves) on SQLite in a file:
/// the whole transaction runs on one blocking thread through rusqlite, one hand-off in all
/// instead of one per statement (see [`crate::sql::lite`]). The same rows, head and commit as
/// [`run_batch`]; the connection comes back unless the batch failed.
async fn run_rows_batch(
    path: &std::path::Path,
    conn: Option<rusqlite::Connection>,
    jobs: &mut Vec<Box<dyn Job>>,
) -> (Option<rusqlite::Connection>, Result<(), StoreError>) {
    let path = path.to_path_buf();
    let mut batch = std::mem::take(jobs);
    let done = tokio::task::spawn_blocking(move || {
        let conn = match conn {
            Some(c) => Ok(c),
            None => open_writer(&path),
        };
        match conn {
            Ok(mut c) => {
                let r = rows_batch(&mut c, &mut batch);
                (r.is_ok().then_some(c), r, batch)
            }
            Err(e) => (None, Err(e), batch),
        }
    })
    .await;
    match done {
        Ok((conn, r, batch)) => {
            *jobs = batch;
            (conn, r)
        }
        // It panicked: its jobs went with it, and their callers hear that the writer stopped.
        Err(_) => (
            None,
            Err(StoreError::NotCommitted("the batch stopped".into())),
        ),
    }
}

fn rows_batch(
    conn: &mut rusqlite::Connection,
    jobs: &mut [Box<dyn Job>],
) -> Result<(), StoreError> {
    use crate::sql::lite::error;
    // IMMEDIATE: the write lock at once, as in `run_batch`. Dropped unfinished, it rolls back.
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(error)?;
    let (size, hash): (i64, Vec<u8>) = tx
        .query_row(
            "SELECT size, last_hash FROM audit_head WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(error)?;
    let start = u64::try_from(size).map_err(|_| corrupt("audit head size"))?;
    let last_hash: bioguard_ledger::Hash =
        hash.try_into().map_err(|_| corrupt("audit head hash"))?;
    let mut rows = Rows::new(start, last_hash);
    let many = jobs.len() > 1;
    for job in jobs.iter_mut() {
        let before = rows.mark();
        if !job.run_rows(&mut rows) {
            if !many {
                // The lone job failed: nothing to write; its answer carries its own error.
                return Ok(());
            }
            rows.undo_to(before);
        }
    }
    let mut pending = std::mem::take(&mut rows.pending);
    pending.forget();
    {
        let mut leaf = tx
            .prepare_cached(
                "INSERT INTO audit_leaves (idx, leaf, hash, subject, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(error)?;
        for r in &pending.leaves {
            leaf.execute(rusqlite::params![
                r.idx,
                r.bytes,
                &r.hash[..],
                r.subject,
                r.created_at
            ])
            .map_err(error)?;
        }
        let mut mention = tx
            .prepare_cached("INSERT INTO audit_mentions (subject, idx) VALUES (?1, ?2)")
            .map_err(error)?;
        for (subject, idx) in &pending.mentions {
            mention
                .execute(rusqlite::params![subject, idx])
                .map_err(error)?;
        }
        let mut touch = tx
            .prepare_cached(
                "UPDATE templates SET last_used_at = ?2 WHERE id = ?1 \
                 AND (last_used_at IS NULL OR last_used_at < ?2)",
            )
            .map_err(error)?;
        for (template, at) in &pending.touches {
            touch
                .execute(rusqlite::params![template, at])
                .map_err(error)?;
        }
        let mut count = tx
            .prepare_cached(&format!(
                "{}(?1, ?2, ?3){}",
                ledger_index::COUNTS_INSERT,
                ledger_index::COUNTS_UPSERT
            ))
            .map_err(error)?;
        for (op, d, n) in ledger_index::aggregate(&pending.counts) {
            count.execute(rusqlite::params![op, d, n]).map_err(error)?;
        }
        let mut decision = tx
            .prepare_cached(&format!(
                "{}(?1, ?2){}",
                ledger_index::DECISIONS_INSERT,
                ledger_index::DECISIONS_IGNORE
            ))
            .map_err(error)?;
        for (id, idx) in &pending.decisions {
            decision
                .execute(rusqlite::params![id, idx])
                .map_err(error)?;
        }
    }
    if rows.size != start {
        tx.execute(
            "UPDATE audit_head SET size = ?1, last_hash = ?2 WHERE id = 1",
            rusqlite::params![
                i64::try_from(rows.size).map_err(|_| corrupt("audit size"))?,
                &rows.last_hash[..]
            ],
        )
        .map_err(error)?;
    }
    tx.commit().map_err(error)
}

async fn run_batch(
    conn: &mut AnyConnection,
    backend: Backend,
    jobs: &mut [Box<dyn Job>],
) -> Result<(), StoreError> {
    let mut tx = match backend {
        // IMMEDIATE takes the write lock at once, so a read inside can never need an upgrade
        // that fails as busy.
        Backend::Sqlite => conn.begin_with("BEGIN IMMEDIATE").await?,
        Backend::Postgres => conn.begin().await?,
    };
    let lock = match backend {
        Backend::Sqlite => "",
        Backend::Postgres => " FOR UPDATE",
    };
    let head = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT size, last_hash FROM audit_head WHERE id = 1{lock}"
    )))
    .fetch_one(&mut *tx)
    .await?;
    let size: i64 = head.try_get("size")?;
    let last_hash: bioguard_ledger::Hash = head
        .try_get::<Vec<u8>, _>("last_hash")?
        .try_into()
        .map_err(|_| corrupt("audit head hash"))?;
    let start = u64::try_from(size).map_err(|_| corrupt("audit head size"))?;
    let mut batch = Batch {
        tx,
        backend,
        rows: Rows::new(start, last_hash),
    };
    // A lone job needs no savepoint: if it fails, the whole transaction is rolled back. Nor
    // does one that only adds pending rows: its failure takes them back out.
    let many = jobs.len() > 1;
    for job in jobs.iter_mut() {
        let savepoint = many && !job.in_memory();
        if savepoint {
            sqlx::raw_sql("SAVEPOINT job").execute(batch.conn()).await?;
        }
        let before = batch.rows.mark();
        if job.run(&mut batch).await {
            if savepoint {
                sqlx::raw_sql("RELEASE SAVEPOINT job")
                    .execute(batch.conn())
                    .await?;
            }
        } else if many {
            if savepoint {
                sqlx::raw_sql("ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job")
                    .execute(batch.conn())
                    .await?;
            }
            batch.rows.undo_to(before);
        } else {
            // The lone job failed: roll everything back; its answer carries its own error.
            batch.tx.rollback().await?;
            return Ok(());
        }
    }
    batch.flush().await?;
    if batch.rows.size != start {
        sqlx::query("UPDATE audit_head SET size = $1, last_hash = $2 WHERE id = 1")
            .bind(batch.rows.size as i64)
            .bind(batch.rows.last_hash.to_vec())
            .execute(batch.conn())
            .await?;
        if backend == Backend::Postgres {
            // Delivered to every listening node when (and only if) this batch commits: they
            // bring their in-memory galleries up to date from the new leaves.
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(crate::sql::conn::LEDGER_CHANNEL)
                .bind(batch.rows.size.to_string())
                .execute(batch.conn())
                .await?;
        }
    }
    batch.tx.commit().await?;
    Ok(())
}
