//! Group reads for verification (SQLite): one reader task per store answers every
//! verification read queued at that moment with one statement.
//!
//! A verification's read (client, purpose, notice floor, consent, lock and template) is one
//! statement already; under load, many are waiting at once, and each statement costs a round
//! trip to a connection: for SQLite, a hand-off to the connection's thread and back. (On
//! PostgreSQL, reads alone on parallel connections measured faster, so it does not group.)
//! The reader takes every read queued (up to [`MAX_READS`]) and runs them as the rows of one
//! `VALUES` list. Each answer is exactly what the single read would have given: the statement
//! reads every row at the same instant, and nothing is cached between statements. If the
//! statement fails as a whole, each read is tried again alone, so that each gets its own
//! answer.

use std::sync::Arc;

use bioguard_core::{Operation, Pseudonym, PurposeId};
use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

use crate::mailbox::Mailbox;
use crate::{StoreError, VerifyMaterial};

/// The most reads one statement answers (five parameters each).
const MAX_READS: usize = 128;

/// How many reads may wait for the reader before callers wait to enqueue.
const QUEUE: usize = 4096;

/// What one verification reads.
pub(crate) struct Key {
    pub(crate) subject: Pseudonym,
    pub(crate) purpose: PurposeId,
    /// The digest of the client's key and the operation whose grant is asked about.
    pub(crate) client: Option<([u8; 32], Operation)>,
}

struct Ask {
    key: Key,
    reply: oneshot::Sender<Result<VerifyMaterial, StoreError>>,
}

/// The sending side of a store's reader; starts the reader task when there is none (its
/// runtime ended, or it was stopped).
pub(crate) struct Reader {
    pool: AnyPool,
    parallel: usize,
    queue: Mailbox<Ask>,
}

impl Reader {
    /// A reader with up to `parallel` statements in flight.
    pub(crate) fn new(pool: AnyPool, parallel: usize) -> Arc<Self> {
        Arc::new(Self {
            pool,
            parallel,
            queue: Mailbox::new(),
        })
    }

    /// Reads what a verification needs, in the next group.
    pub(crate) async fn verify_material(&self, key: Key) -> Result<VerifyMaterial, StoreError> {
        let (reply, answer) = oneshot::channel();
        match self.queue.send(Ask { key, reply }, || self.spawn()).await {
            Ok(()) => answer
                .await
                .unwrap_or_else(|_| Err(StoreError::NotCommitted("the reader stopped".into()))),
            // No reader can be started: read alone.
            Err(ask) => read_alone(&self.pool, ask.key).await,
        }
    }

    /// Stops the reader once the reads queued so far are answered.
    pub(crate) fn stop(&self) {
        self.queue.stop();
    }

    fn spawn(&self) -> mpsc::Sender<Ask> {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(self.pool.clone(), rx, self.parallel));
        tx
    }
}

/// One verification's read, alone.
pub(crate) async fn read_alone(pool: &AnyPool, key: Key) -> Result<VerifyMaterial, StoreError> {
    let keys = [key];
    crate::sql::read_verify_material(pool, &keys)
        .await?
        .pop()
        .unwrap_or_else(|| Err(crate::sql::corrupt("verification row missing")))
}

/// The reader task: groups until every sender is gone, with up to `parallel` statements in
/// flight (a group waits only for a free connection, not for the group before it).
async fn run(pool: AnyPool, mut rx: mpsc::Receiver<Ask>, parallel: usize) {
    let slots = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut asks: Vec<Ask> = Vec::with_capacity(MAX_READS);
        if rx.recv_many(&mut asks, MAX_READS).await == 0 {
            // Every sender is gone: the store was closed or dropped.
            return;
        }
        let pool = pool.clone();
        tokio::spawn(async move {
            answer(&pool, asks).await;
            drop(slot);
        });
    }
}

async fn answer(pool: &AnyPool, asks: Vec<Ask>) {
    let (keys, replies): (Vec<Key>, Vec<_>) = asks.into_iter().map(|a| (a.key, a.reply)).unzip();
    match crate::sql::read_verify_material(pool, &keys).await {
        Ok(answers) => {
            for (reply, answer) in replies.into_iter().zip(answers) {
                // A caller that went away no longer needs its answer.
                let _ = reply.send(answer);
            }
        }
        Err(_) if keys.len() > 1 => {
            // The statement failed as a whole: each read alone, for its own answer.
            for (reply, key) in replies.into_iter().zip(keys) {
                let _ = reply.send(read_alone(pool, key).await);
            }
        }
        Err(e) => {
            if let Some(reply) = replies.into_iter().next() {
                let _ = reply.send(Err(e));
            }
        }
    }
}
