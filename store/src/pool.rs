//! The r2d2 pool of diesel Postgres connections.
//!
//! The pool is built without connecting, so a process can start while the database is down and
//! recover when it returns: new connections are opened on demand, and a checkout tests the
//! connection (`SELECT 1`) and replaces a broken one, either always ([`Check::Always`]) or only
//! while a connection was lost in the last minute ([`Check::AfterLoss`], for request paths where
//! that test is a third of a read's round trips: after a restart of Postgres, the requests that
//! find the first dead connections get 503 and the rest get fresh ones, as deadpool's "fast"
//! recycling does).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::PgConnection;
use diesel::r2d2::{ConnectionManager, ManageConnection, Pool, PooledConnection};

pub type PgPool = Pool<Manager>;
pub type PooledConn = PooledConnection<Manager>;

/// How long after a lost connection every checkout is tested again.
const TEST_AFTER_LOSS: Duration = Duration::from_secs(60);

/// When a checkout tests its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Always,
    /// Only within [`TEST_AFTER_LOSS`] of [`connection_lost`].
    AfterLoss,
}

#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_size: u32,
    /// How long a checkout waits for a connection before giving up.
    pub connect_timeout: Duration,
    pub check: Check,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self { max_size: 10, connect_timeout: Duration::from_secs(5), check: Check::Always }
    }
}

/// Builds a pool for `database_url` without opening a connection.
pub fn build_pool(database_url: &str, options: &PoolOptions) -> PgPool {
    Pool::builder()
        .max_size(options.max_size)
        // Open connections only when asked: a pool that keeps idle connections warm would retry in a
        // tight loop while the database is down.
        .min_idle(Some(0))
        .connection_timeout(options.connect_timeout)
        .test_on_check_out(true)
        .error_handler(Box::new(TracingErrorHandler))
        .build_unchecked(Manager { inner: ConnectionManager::new(database_url), check: options.check })
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Milliseconds after [`epoch`] (plus one, so that 0 means never) when a connection was last lost.
static LAST_LOSS: AtomicU64 = AtomicU64::new(0);

/// Notes that a query found its connection lost (the server restarted or the network failed):
/// pools with [`Check::AfterLoss`] test every checkout for a while, replacing the dead ones.
pub fn connection_lost() {
    let now = u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX);
    LAST_LOSS.store(now.saturating_add(1), Ordering::Relaxed);
}

fn lost_recently() -> bool {
    match LAST_LOSS.load(Ordering::Relaxed) {
        0 => false,
        at => epoch().elapsed() < Duration::from_millis(at - 1) + TEST_AFTER_LOSS,
    }
}

/// diesel's connection manager, testing checkouts as [`Check`] says.
#[derive(Debug)]
pub struct Manager {
    inner: ConnectionManager<PgConnection>,
    check: Check,
}

impl ManageConnection for Manager {
    type Connection = PgConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<PgConnection, Self::Error> {
        self.inner.connect()
    }

    fn is_valid(&self, conn: &mut PgConnection) -> Result<(), Self::Error> {
        if self.check == Check::Always || lost_recently() { self.inner.is_valid(conn) } else { Ok(()) }
    }

    fn has_broken(&self, conn: &mut PgConnection) -> bool {
        self.inner.has_broken(conn)
    }
}

/// Sends r2d2's background connection errors to tracing instead of the `log` crate. They are
/// reported at debug level: the caller that needed the connection reports the failure it saw.
#[derive(Debug)]
struct TracingErrorHandler;

impl r2d2::HandleError<diesel::r2d2::Error> for TracingErrorHandler {
    fn handle_error(&self, error: diesel::r2d2::Error) {
        tracing::debug!(%error, "database connection attempt failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loss_makes_checkouts_test_for_a_while() {
        assert!(!lost_recently() || LAST_LOSS.load(Ordering::Relaxed) != 0);
        connection_lost();
        assert!(lost_recently());
    }
}
