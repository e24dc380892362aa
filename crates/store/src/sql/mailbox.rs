//! The queue in front of a store's background task (the writer): started on first
//! use, and started again in place of one that has stopped (its runtime ended, it panicked, or
//! the store asked it to stop).

use std::sync::Mutex;

use tokio::sync::mpsc;

/// The sending side of a background task's queue.
pub(crate) struct Mailbox<T> {
    queue: Mutex<Option<mpsc::Sender<T>>>,
}

impl<T: Send + 'static> Mailbox<T> {
    pub(crate) fn new() -> Self {
        Self {
            queue: Mutex::new(None),
        }
    }

    /// Queues `item` for the task, starting one with `spawn` where none is running; gives the
    /// item back if no task could take it.
    pub(crate) async fn send(
        &self,
        mut item: T,
        spawn: impl Fn() -> mpsc::Sender<T>,
    ) -> Result<(), T> {
        // Two tries: the second after starting a fresh task in place of a stopped one.
        for _ in 0..2 {
            let sender = self.sender(&spawn);
            match sender.send(item).await {
                Ok(()) => return Ok(()),
                Err(mpsc::error::SendError(back)) => {
                    item = back;
                    self.restart(&sender, &spawn);
                }
            }
        }
        Err(item)
    }

    /// Lets the task stop once the items queued so far are done; a later item starts a fresh
    /// one.
    pub(crate) fn stop(&self) {
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    fn sender(&self, spawn: &impl Fn() -> mpsc::Sender<T>) -> mpsc::Sender<T> {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        match queue.as_ref() {
            Some(s) if !s.is_closed() => s.clone(),
            _ => {
                let s = spawn();
                *queue = Some(s.clone());
                s
            }
        }
    }

    fn restart(&self, stopped: &mpsc::Sender<T>, spawn: &impl Fn() -> mpsc::Sender<T>) {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if queue.as_ref().is_none_or(|s| s.same_channel(stopped)) {
            *queue = Some(spawn());
        }
    }
}
