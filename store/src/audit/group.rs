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
//!
//! With a [`Spool`], rows that cannot reach the database because it is out of reach are kept on
//! disk instead (a server reading from a replica goes on while the primary restarts), and a
//! drainer thread appends them to the log once it is back.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{AuditEvent, Spool, append, append_many};
use crate::{PgPool, StoreError};

/// Most rows one writer inserts in one statement.
const MOST_PER_STATEMENT: usize = 256;
/// How often the drainer looks for kept rows to append.
const DRAIN_EVERY: Duration = Duration::from_millis(500);

/// Where an appended row went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Committed to `audit_log` under this sequence number.
    Logged(i64),
    /// Kept on disk in the spool, to be appended once the database is back.
    Spooled,
}

/// Who is told a row's outcome: a blocked thread, or a callback (an async request's waker).
type Reply = Box<dyn FnOnce(Result<Appended, StoreError>) + Send>;

/// A row waiting for a writer, and where its outcome goes.
struct Pending {
    event: AuditEvent,
    done: Reply,
}

/// The handle requests append through; cheap to share.
#[derive(Debug, Clone)]
pub struct GroupAppender {
    queue: Sender<Pending>,
    /// Dropped with the last handle, which stops the drainer.
    _drainer: Option<Sender<()>>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending").field("action", &self.event.action).finish_non_exhaustive()
    }
}

impl GroupAppender {
    /// Starts `writers` writer threads on `pool` (each takes one connection per statement), and
    /// with a `spool` its drainer. They stop when every handle is dropped.
    pub fn spawn(pool: PgPool, writers: usize, spool: Option<Arc<Spool>>) -> std::io::Result<Self> {
        let (queue, received) = mpsc::channel::<Pending>();
        let received = Arc::new(Mutex::new(received));
        for n in 0..writers.max(1) {
            let (pool, received, spool) = (pool.clone(), Arc::clone(&received), spool.clone());
            std::thread::Builder::new().name(format!("audit-writer-{n}")).spawn(move || {
                while let Some(batch) = next_batch(&received) {
                    write(&pool, spool.as_deref(), batch);
                }
            })?;
        }
        let drainer = match spool {
            Some(spool) => {
                let (stop, stopped) = mpsc::channel();
                std::thread::Builder::new()
                    .name("audit-spool".into())
                    .spawn(move || drain_when_reachable(&pool, &spool, &stopped))?;
                Some(stop)
            }
            None => None,
        };
        Ok(Self { queue, _drainer: drainer })
    }

    /// Appends `event` with the rows of whichever requests are appending at the same moment, and
    /// says where it went once it is committed (or, with the database out of reach, kept on disk).
    /// Blocking.
    pub fn append(&self, event: &AuditEvent) -> Result<Appended, StoreError> {
        let (done, outcome) = mpsc::sync_channel(1);
        self.append_then(event, move |appended| {
            // The caller waits on the other end until this is sent.
            let _ = done.send(appended);
        })?;
        outcome.recv().map_err(|_| StoreError::Stopped)?
    }

    /// Queues `event` like [`GroupAppender::append`] without waiting: `then` is called with where it
    /// went, on a writer thread, once it is committed or kept (so an async request can wait for it
    /// without holding a thread). Err when the writers have stopped.
    pub fn append_then(
        &self,
        event: &AuditEvent,
        then: impl FnOnce(Result<Appended, StoreError>) + Send + 'static,
    ) -> Result<(), StoreError> {
        self.queue.send(Pending { event: event.clone(), done: Box::new(then) }).map_err(|_| StoreError::Stopped)
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

fn write(pool: &PgPool, spool: Option<&Spool>, batch: Vec<Pending>) {
    let (events, replies): (Vec<AuditEvent>, Vec<_>) = batch.into_iter().map(|p| (p.event, p.done)).unzip();
    // Rows wait on disk already: these join them, so that the log keeps the order of accesses.
    if let Some(spool) = spool {
        match spool.keep_behind(&events) {
            Ok(false) => {}
            kept => return reply_all(replies, kept.map(|_| Appended::Spooled)),
        }
    }
    let together = pool.get().map_err(StoreError::from).and_then(|mut conn| Ok(append_many(&mut conn, &events)?));
    match together {
        Ok(seqs) => {
            for (reply, seq) in replies.into_iter().zip(seqs) {
                reply(Ok(Appended::Logged(seq)));
            }
        }
        Err(error) if error.out_of_reach() && spool.is_some() => {
            crate::pool::connection_lost();
            let kept = spool.map_or(Ok(()), |spool| spool.keep(&events));
            reply_all(replies, kept.map(|()| Appended::Spooled));
        }
        Err(error) if events.len() == 1 => {
            if let Some(reply) = replies.into_iter().next() {
                reply(Err(error));
            }
        }
        Err(_) => {
            for (event, reply) in events.iter().zip(replies) {
                let alone = pool.get().map_err(StoreError::from).and_then(|mut conn| Ok(append(&mut conn, event)?));
                reply(alone.map(Appended::Logged));
            }
        }
    }
}

/// Tells every request of a batch the one outcome they share.
fn reply_all(replies: Vec<Reply>, outcome: Result<Appended, StoreError>) {
    for reply in replies {
        let shared = match &outcome {
            Ok(appended) => Ok(*appended),
            Err(e) => Err(StoreError::Spool(std::io::Error::other(e.to_string()))),
        };
        reply(shared);
    }
}

/// Appends what the spool keeps whenever it keeps something and the database answers, until the
/// last handle is dropped (then once more).
fn drain_when_reachable(pool: &PgPool, spool: &Spool, stop: &Receiver<()>) {
    loop {
        let stopping = matches!(stop.recv_timeout(DRAIN_EVERY), Err(RecvTimeoutError::Disconnected));
        if spool.held() > 0 {
            match pool.get().map_err(StoreError::from).and_then(|mut conn| spool.drain(&mut conn)) {
                Ok(rows) => tracing::info!(rows, "audit rows kept while the database was out of reach are in the log"),
                Err(error) => tracing::debug!(%error, "the audit spool waits for the database"),
            }
        }
        if stopping {
            return;
        }
    }
}
