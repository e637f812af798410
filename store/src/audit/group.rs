//! Audit rows of concurrent requests appended together.
//!
//! Every read of patient data is audited before its data is sent, so a server answering many reads
//! at once would otherwise commit one single-row transaction per read, each a round trip and a WAL
//! flush of its own. Here a request hands its row to a writer thread and waits; each writer takes
//! every row queued by then (at most [`MOST_PER_STATEMENT`]) and inserts them in one statement, one
//! commit. Under load the rows of many requests share a commit; alone, a request waits for its own
//! insert as before. A request learns the outcome of its own row only: if a shared insert fails,
//! its rows are retried one at a time, so that one unusable row never refuses the others.
//!
//! Writers use a pool of their own, never the request pool: a request may wait here while holding
//! a request connection, and the writers must still find one.

use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};

use super::{AuditEvent, append, append_many};
use crate::{PgPool, StoreError};

/// Most rows one writer inserts in one statement.
const MOST_PER_STATEMENT: usize = 256;

/// A row waiting for a writer, and where its outcome goes.
struct Pending {
    event: AuditEvent,
    done: SyncSender<Result<i64, StoreError>>,
}

/// The handle requests append through; cheap to share.
#[derive(Debug, Clone)]
pub struct GroupAppender {
    queue: Sender<Pending>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending").field("action", &self.event.action).finish_non_exhaustive()
    }
}

impl GroupAppender {
    /// Starts `writers` writer threads on `pool` (each takes one connection per statement). They
    /// stop when every handle is dropped.
    pub fn spawn(pool: PgPool, writers: usize) -> std::io::Result<Self> {
        let (queue, received) = mpsc::channel::<Pending>();
        let received = Arc::new(Mutex::new(received));
        for n in 0..writers.max(1) {
            let (pool, received) = (pool.clone(), Arc::clone(&received));
            std::thread::Builder::new().name(format!("audit-writer-{n}")).spawn(move || {
                while let Some(batch) = next_batch(&received) {
                    write(&pool, batch);
                }
            })?;
        }
        Ok(Self { queue })
    }

    /// Appends `event` with the rows of whichever requests are appending at the same moment, and
    /// returns its sequence number once it is committed. Blocking.
    pub fn append(&self, event: &AuditEvent) -> Result<i64, StoreError> {
        let (done, outcome) = mpsc::sync_channel(1);
        self.queue.send(Pending { event: event.clone(), done }).map_err(|_| StoreError::Stopped)?;
        outcome.recv().map_err(|_| StoreError::Stopped)?
    }
}

/// Waits for a row, then takes whatever else is queued (up to a statement's worth). One writer
/// collects while another inserts. None once every handle is gone.
fn next_batch(received: &Mutex<Receiver<Pending>>) -> Option<Vec<Pending>> {
    // A writer that panicked while holding the lock left the queue itself intact.
    let received = received.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let first = received.recv().ok()?;
    let mut batch = vec![first];
    while batch.len() < MOST_PER_STATEMENT {
        match received.try_recv() {
            Ok(pending) => batch.push(pending),
            Err(_) => break,
        }
    }
    Some(batch)
}

fn write(pool: &PgPool, batch: Vec<Pending>) {
    let (events, replies): (Vec<AuditEvent>, Vec<_>) = batch.into_iter().map(|p| (p.event, p.done)).unzip();
    let together = pool.get().map_err(StoreError::from).and_then(|mut conn| Ok(append_many(&mut conn, &events)?));
    match together {
        Ok(seqs) => {
            for (reply, seq) in replies.into_iter().zip(seqs) {
                // The request may have gone (its client hung up): nobody is left to tell.
                let _ = reply.send(Ok(seq));
            }
        }
        Err(error) if events.len() == 1 => {
            let _ = replies.into_iter().next().map(|reply| reply.send(Err(error)));
        }
        Err(_) => {
            for (event, reply) in events.iter().zip(replies) {
                let alone = pool.get().map_err(StoreError::from).and_then(|mut conn| Ok(append(&mut conn, event)?));
                let _ = reply.send(alone);
            }
        }
    }
}
