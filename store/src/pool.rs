//! The r2d2 pool of diesel Postgres connections.
//!
//! The pool is built without connecting, so a process can start while the database is down and
//! recover when it returns: every checkout tests the connection (`SELECT 1`) and replaces broken
//! ones, and new connections are opened on demand.

use std::time::Duration;

use diesel::PgConnection;
use diesel::r2d2::{ConnectionManager, Pool, PooledConnection};

pub type PgPool = Pool<ConnectionManager<PgConnection>>;
pub type PooledConn = PooledConnection<ConnectionManager<PgConnection>>;

#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_size: u32,
    /// How long a checkout waits for a connection before giving up.
    pub connect_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self { max_size: 10, connect_timeout: Duration::from_secs(5) }
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
        .build_unchecked(ConnectionManager::new(database_url))
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
