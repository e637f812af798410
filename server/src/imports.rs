//! The background importer every `vigil serve` runs: it works off the `$import` queue
//! (`vigil_ehr_adapter::jobs`). Servers share the queue, so a job is taken by whichever is free;
//! the server that accepted a job wakes its own importer at once, the others look every second.
//!
//! A job that fails (the database went away mid-way, say) is left with its heartbeat going stale
//! and is claimed again, by this server or another, up to `jobs::MAX_ATTEMPTS` times.

use std::sync::Mutex;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::Duration;

use vigil_ehr_adapter::jobs;
use vigil_store::{PgPool, PoolOptions, pool};

use crate::auth::principal::Scopes;
use crate::config::DatabaseUrl;

/// How often an idle importer looks for jobs queued by other servers.
const POLL: Duration = Duration::from_secs(1);
/// A running job whose heartbeat is older than this is taken over.
const STALE_SECS: i32 = 60;
const BATCH: usize = 1000;

/// Wakes this server's importer when a job is queued here.
#[derive(Debug)]
pub struct Waker(Mutex<Sender<()>>);

impl Waker {
    pub fn wake(&self) {
        if let Ok(sender) = self.0.lock() {
            let _ = sender.send(());
        }
    }
}

/// Starts the importer thread with a small pool of its own.
pub fn spawn(url: &DatabaseUrl) -> std::io::Result<Waker> {
    let pool = pool::build_pool(url.expose(), &PoolOptions { max_size: 2, ..PoolOptions::default() });
    let (sender, receiver) = mpsc::channel();
    std::thread::Builder::new().name("importer".into()).spawn(move || {
        loop {
            if !work_one(&pool) {
                match receiver.recv_timeout(POLL) {
                    Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
        }
    })?;
    Ok(Waker(Mutex::new(sender)))
}

/// Claims and runs one job; false when there was none (or the database is unreachable).
fn work_one(pool: &PgPool) -> bool {
    let mut conn = match pool.get() {
        Ok(conn) => conn,
        Err(error) => {
            tracing::debug!(%error, "importer: database unreachable");
            return false;
        }
    };
    let job = match jobs::claim(&mut conn, STALE_SECS) {
        Ok(Some(job)) => job,
        Ok(None) => return false,
        Err(error) => {
            tracing::warn!(%error, "importer: could not look for jobs");
            return false;
        }
    };
    tracing::info!(job = %job.id, attempt = job.attempts, "import started");
    // Each resource is held to the write permission of whoever queued the job.
    let scopes = match Scopes::parse(&job.write_scopes) {
        Ok(scopes) => scopes,
        Err(error) => {
            tracing::error!(job = %job.id, %error, "import job with unusable write scopes");
            let _ = jobs::fail(&mut conn, job.id, "its write scopes are unusable");
            return true;
        }
    };
    match jobs::run(&mut conn, &job, BATCH, &|ty| scopes.allow(ty, true)) {
        Ok(summary) => {
            crate::metrics::ingested(&summary);
            let totals = summary.totals();
            tracing::info!(job = %job.id, resources = totals.total(), rejected = totals.rejected, "import finished");
        }
        Err(error) => tracing::warn!(job = %job.id, %error, "import failed; it will be retried"),
    }
    true
}
