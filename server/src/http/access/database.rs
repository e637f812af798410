//! The server's handle on Postgres: the pool, whether migrations are known to be applied, and
//! the background task that applies them.
//!
//! A server starts whether or not the database is reachable. Until it is reachable and migrated,
//! `/readyz` says 503 and why; the migrator keeps trying with backoff, and the pool reconnects
//! by itself, so the server recovers without a restart. With a read replica (see [`Replica`]),
//! FHIR reads go on while the primary is away, their audit rows kept in the spool.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use diesel::{Connection, PgConnection};
use vigil_store::audit::{Appended, AuditEvent, GroupAppender, Spool};
use vigil_store::{PgPool, PoolOptions, PooledConn, StoreError, migrate, pool};

use super::remembered_reads::ResourceReads;
use super::replica::{PRIMARY_PROBE, Replica};
use crate::config::{DatabaseSettings, DatabaseUrl};
use crate::http::alerts::remembered::AlertLists;

/// How long a readiness probe waits for a connection: below the 1 s probe timeout that
/// orchestrators use by default.
const READINESS_CONNECT_TIMEOUT: Duration = Duration::from_millis(800);
const MIGRATOR_MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Threads (and connections) appending the audit rows of reads: one collects while one inserts.
const AUDIT_WRITERS: usize = 2;
/// How long the audit writers wait for a primary connection before keeping rows in the spool, when
/// a replica serves reads.
const AUDIT_WAIT_WITH_REPLICA: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct Database {
    pool: PgPool,
    /// Appends the audit rows that need no transaction of their own work (reads, denials).
    audit: GroupAppender,
    /// Where the audit writers keep rows while the primary is out of reach.
    spool: Arc<Spool>,
    replica: Option<Replica>,
    /// The owner role's URL, when migrations are applied as another role than the pool's.
    migration_url: Option<DatabaseUrl>,
    migrated: AtomicBool,
    /// Alert lists as last read, while nothing they show changed.
    alert_lists: Arc<AlertLists>,
    /// Resources read by id, while nothing they or their access depend on changed.
    reads: Arc<ResourceReads>,
    /// Whether reads by id are remembered (`database.remember_reads`, and no replica).
    remember_reads: bool,
}

/// What `/readyz` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// The primary is out of reach but the replica answers: reads are served, writes are not.
    ReplicaOnly,
    DatabaseUnreachable,
    MigrationsPending(usize),
    MigrationStateUnknown,
}

impl Database {
    /// The pools of `url` (and of `settings.read_url`), and the audit writers, which keep rows in
    /// `spool` while the primary is out of reach.
    pub fn new(url: &DatabaseUrl, settings: &DatabaseSettings, spool: Spool) -> Result<Arc<Self>, StoreError> {
        // Requests test a checkout only after a connection was lost: see `vigil_store::pool`.
        let options = PoolOptions {
            max_size: settings.pool_size,
            connect_timeout: settings.connect_timeout(),
            check: pool::Check::AfterLoss,
        };
        // With a replica, reads go on while the primary is away: their rows go to the spool after
        // a short wait for the primary rather than the request's whole connect timeout.
        let writers_wait = if settings.read_url.is_some() {
            options.connect_timeout.min(AUDIT_WAIT_WITH_REPLICA)
        } else {
            options.connect_timeout
        };
        let writers = PoolOptions { max_size: AUDIT_WRITERS as u32, connect_timeout: writers_wait, ..options.clone() };
        let spool = Arc::new(spool);
        let audit =
            GroupAppender::spawn(pool::build_pool(url.expose(), &writers), AUDIT_WRITERS, Some(Arc::clone(&spool)))?;
        let replica = settings.read_url.as_ref().map(|read| {
            Replica::new(pool::build_pool(read.expose(), &options), Duration::from_secs(settings.read_your_writes_secs))
        });
        Ok(Arc::new(Self {
            pool: pool::build_pool(url.expose(), &options),
            audit,
            spool,
            replica,
            migration_url: settings.migration_url.clone(),
            migrated: AtomicBool::new(false),
            alert_lists: Arc::default(),
            reads: Arc::default(),
            remember_reads: settings.remember_reads && settings.read_url.is_none(),
        }))
    }

    /// A connection from the pool. Only the access layer may take one: every other route reaches
    /// the database through its guard, which authorizes and audits first.
    pub(in crate::http::access) fn conn(&self) -> Result<PooledConn, StoreError> {
        Ok(self.pool.get()?)
    }

    /// A connection for a FHIR read by `actor`: the replica's, unless they wrote recently or it is
    /// out of reach; the primary's without a replica.
    pub(in crate::http::access) fn read_conn(&self, actor: &str) -> Result<PooledConn, StoreError> {
        match &self.replica {
            Some(replica) if !replica.wrote_recently(actor) => replica.conn().or_else(|_| self.conn()),
            Some(replica) => self.conn().or_else(|_| replica.conn()),
            None => self.conn(),
        }
    }

    /// Whether FHIR reads are answered from a replica.
    pub(in crate::http::access) fn has_replica(&self) -> bool {
        self.replica.is_some()
    }

    /// Notes that `actor` is writing, so that their reads stay on the primary for a while.
    pub(in crate::http::access) fn writing(&self, actor: &str) {
        if let Some(replica) = &self.replica {
            replica.wrote(actor);
        }
    }

    /// Runs `work` (a look-up of who is asking) on the primary, or, with a replica, on the replica
    /// when the primary is out of reach: a connection cannot be had quickly, or the query found it
    /// lost (`lost` says which errors mean that).
    pub(in crate::http::access) fn on_primary_or_replica<T, E: From<StoreError>>(
        &self,
        work: impl Fn(&mut PgConnection) -> Result<T, E>,
        lost: impl Fn(&E) -> bool,
    ) -> Result<T, E> {
        let Some(replica) = &self.replica else { return work(&mut *self.conn()?) };
        if !replica.primary_recently_out() {
            let tried =
                self.pool.get_timeout(PRIMARY_PROBE).map_err(|e| E::from(e.into())).and_then(|mut c| work(&mut c));
            match tried {
                Err(e) if lost(&e) => {
                    replica.note_primary_out();
                    pool::connection_lost();
                }
                done => return done,
            }
        }
        work(&mut *replica.conn()?)
    }

    /// The alert lists this server remembers.
    pub fn alert_lists(&self) -> &Arc<AlertLists> {
        &self.alert_lists
    }

    /// The reads by id this server remembers.
    pub(in crate::http::access) fn reads(&self) -> &ResourceReads {
        &self.reads
    }

    /// Starts listening for the changes that make what this server remembers stale, each on a
    /// connection of its own to `url`. Without its listener nothing is remembered: reads by id
    /// are not without a replica or when configured not to be (see [`super::remembered_reads`]).
    pub fn spawn_listeners(&self, url: &DatabaseUrl) -> std::io::Result<()> {
        self.alert_lists.spawn_listener(url.expose().to_owned())?;
        if self.remember_reads {
            self.reads.spawn_listener(url.expose().to_owned())?;
        }
        Ok(())
    }

    /// Appends an audit row that belongs to no transaction of its own (a read, a denial), sharing
    /// its commit with the rows concurrent requests append. Blocking.
    pub(in crate::http::access) fn audit(&self, event: &AuditEvent) -> Result<Appended, StoreError> {
        let started = std::time::Instant::now();
        let appended = self.audit.append(event);
        crate::metrics::audit_append(started.elapsed());
        appended
    }

    /// [`Database::audit`] without holding a thread while the row is committed: the request's task
    /// waits for the writer's answer.
    pub(in crate::http::access) async fn audit_async(&self, event: &AuditEvent) -> Result<Appended, StoreError> {
        let started = std::time::Instant::now();
        let (done, outcome) = tokio::sync::oneshot::channel();
        self.audit.append_then(event, move |appended| {
            // The request may have gone (its client hung up): nobody is left to tell.
            let _ = done.send(appended);
        })?;
        let appended = outcome.await.map_err(|_| StoreError::Stopped)?;
        crate::metrics::audit_append(started.elapsed());
        appended
    }

    /// Reads what operators watch (the outbox, the change feeds, live alerts) and the request
    /// pool's state into the metrics gauges. Blocking: a scrape calls it.
    pub fn record_operations(&self) {
        let state = self.pool.state();
        crate::metrics::pool(state.connections, state.idle_connections, self.pool.max_size());
        crate::metrics::audit_spool(self.spool.held());
        let read = self.pool.get().map_err(StoreError::from).and_then(|mut conn| {
            let backlog = vigil_store::operations::backlog(&mut conn)?;
            let alerts = vigil_store::operations::live_alerts(&mut conn)?;
            Ok((backlog, alerts))
        });
        match read {
            Ok((backlog, alerts)) => {
                crate::metrics::operations(&backlog, &alerts);
                crate::metrics::database_up(true);
            }
            Err(error) => {
                tracing::warn!(%error, "metrics: could not read the database");
                crate::metrics::database_up(false);
            }
        }
    }

    /// Checks the database the way a readiness probe needs: reachable, and every migration this
    /// binary knows applied. Blocking: call it from a blocking-capable thread.
    pub fn readiness(&self) -> Readiness {
        let mut conn = match reachable(&self.pool) {
            Ok(conn) => conn,
            Err(error) => {
                tracing::warn!(%error, "readiness: database unreachable");
                let replica = self.replica.as_ref().map(|replica| reachable(&replica.pool));
                return match replica {
                    Some(Ok(_)) if self.migrated.load(Ordering::Acquire) => Readiness::ReplicaOnly,
                    _ => Readiness::DatabaseUnreachable,
                };
            }
        };
        if self.migrated.load(Ordering::Acquire) {
            return Readiness::Ready;
        }
        match migrate::pending(&mut conn) {
            Ok(pending) if pending.is_empty() => {
                self.migrated.store(true, Ordering::Release);
                Readiness::Ready
            }
            Ok(pending) => Readiness::MigrationsPending(pending.len()),
            Err(error) => {
                tracing::warn!(%error, "readiness: could not read the migration state");
                Readiness::MigrationStateUnknown
            }
        }
    }

    /// Applies pending migrations on a background thread, retrying with backoff until it
    /// succeeds once.
    pub fn spawn_migrator(self: &Arc<Self>) -> std::io::Result<()> {
        let db = Arc::clone(self);
        std::thread::Builder::new().name("migrator".into()).spawn(move || {
            let mut backoff = Duration::from_millis(250);
            loop {
                match db.migrate_once() {
                    Ok(applied) => {
                        tracing::info!(applied = applied.len(), "database migrations are current");
                        db.migrated.store(true, Ordering::Release);
                        db.warm();
                        return;
                    }
                    Err(error) => {
                        tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "could not apply migrations yet");
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(MIGRATOR_MAX_BACKOFF);
                    }
                }
            }
        })?;
        Ok(())
    }

    /// Opens the request pool's connections once the database is reachable, so that the first
    /// requests after a start do not each wait for one to be opened (TLS and authentication take
    /// milliseconds: the first seconds of a fresh server had a p99 ten times the steady one). The
    /// pool still opens nothing while the database is down.
    fn warm(&self) {
        let opened: Vec<_> = (0..self.pool.max_size()).map_while(|_| self.pool.get().ok()).collect();
        tracing::debug!(connections = opened.len(), "request pool warmed");
    }

    /// Applies what is pending as the owner role (`database.migration_url`); without one, with the
    /// pool's role, and only when something is pending (a runtime role may read the migration state
    /// but not apply anything).
    fn migrate_once(&self) -> Result<Vec<String>, StoreError> {
        if let Some(url) = &self.migration_url {
            let mut conn = diesel::PgConnection::establish(url.expose())?;
            return migrate::run_pending(&mut conn);
        }
        let mut conn = self.pool.get()?;
        if migrate::pending(&mut conn)?.is_empty() {
            return Ok(Vec::new());
        }
        migrate::run_pending(&mut conn)
    }
}

/// A connection of `pool` that answered just now (the checkout may not have tested it; readiness
/// always does).
fn reachable(pool: &PgPool) -> Result<PooledConn, StoreError> {
    let mut conn = pool.get_timeout(READINESS_CONNECT_TIMEOUT)?;
    if let Err(error) = diesel::connection::SimpleConnection::batch_execute(&mut *conn, "SELECT 1") {
        pool::connection_lost();
        return Err(StoreError::Query(error));
    }
    Ok(conn)
}
