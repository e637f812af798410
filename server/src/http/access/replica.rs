//! A streaming replica of the database (`database.read_url`), and which requests it answers.
//!
//! FHIR reads and searches go to the replica: they are most of an EHR integration's traffic, and
//! they go on while the primary restarts (their audit rows wait in the spool meanwhile). A
//! principal who wrote in the last `database.read_your_writes_secs` reads from the primary, so that
//! they find what they wrote whatever the replica's lag. Who is asking is looked up on the primary,
//! and on the replica while the primary is out of reach: a disabled account then takes effect
//! once the replica has replayed it (its lag), rather than never.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use vigil_store::{PgPool, PooledConn, StoreError};

/// How long a look-up waits for a primary connection before asking the replica instead.
pub(super) const PRIMARY_PROBE: Duration = Duration::from_millis(300);
/// After the primary was found out of reach, look-ups go straight to the replica this long.
const PRIMARY_OUT_FOR: Duration = Duration::from_secs(2);
/// Most writers remembered; past it, those whose window has passed are forgotten.
const WRITERS_REMEMBERED: usize = 10_000;

#[derive(Debug)]
pub(super) struct Replica {
    pub(super) pool: PgPool,
    read_your_writes: Duration,
    /// When each principal (by audit actor) last wrote through this server.
    writers: Mutex<HashMap<String, Instant>>,
    /// Milliseconds after `started` (plus one; 0: never) when the primary was last out of reach.
    primary_out_at: AtomicU64,
    started: Instant,
}

impl Replica {
    pub(super) fn new(pool: PgPool, read_your_writes: Duration) -> Self {
        Self {
            pool,
            read_your_writes,
            writers: Mutex::default(),
            primary_out_at: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    /// Notes that `actor` wrote just now.
    pub(super) fn wrote(&self, actor: &str) {
        let now = Instant::now();
        let mut writers = self.writers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if writers.len() >= WRITERS_REMEMBERED {
            writers.retain(|_, at| now.duration_since(*at) < self.read_your_writes);
        }
        writers.insert(actor.to_owned(), now);
    }

    /// Whether `actor` wrote recently enough that the replica may not show it yet.
    pub(super) fn wrote_recently(&self, actor: &str) -> bool {
        let writers = self.writers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        writers.get(actor).is_some_and(|at| at.elapsed() < self.read_your_writes)
    }

    pub(super) fn note_primary_out(&self) {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.primary_out_at.store(now.saturating_add(1), Ordering::Relaxed);
    }

    pub(super) fn primary_recently_out(&self) -> bool {
        match self.primary_out_at.load(Ordering::Relaxed) {
            0 => false,
            at => self.started.elapsed() < Duration::from_millis(at - 1) + PRIMARY_OUT_FOR,
        }
    }

    pub(super) fn conn(&self) -> Result<PooledConn, StoreError> {
        Ok(self.pool.get()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica(window: Duration) -> Replica {
        let pool = vigil_store::pool::build_pool("postgres://nobody@127.0.0.1:9/none", &Default::default());
        Replica::new(pool, window)
    }

    #[test]
    fn a_writer_reads_from_the_primary_for_the_window_only() {
        let replica = replica(Duration::from_secs(60));
        assert!(!replica.wrote_recently("user:nurse"));
        replica.wrote("user:nurse");
        assert!(replica.wrote_recently("user:nurse"));
        assert!(!replica.wrote_recently("user:doctor"));
        let none = self::replica(Duration::ZERO);
        none.wrote("user:nurse");
        assert!(!none.wrote_recently("user:nurse"), "a zero window sends every read to the replica");
    }

    #[test]
    fn the_primary_is_skipped_for_a_while_after_it_was_out_of_reach() {
        let replica = replica(Duration::ZERO);
        assert!(!replica.primary_recently_out());
        replica.note_primary_out();
        assert!(replica.primary_recently_out());
    }
}
