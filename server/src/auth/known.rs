//! The users and API clients that bearer tokens name, remembered between requests.
//!
//! A token stays valid for minutes, but whether its user is still enabled, still has the password
//! the token was issued under, and still belongs to the same units is checked on every request.
//! Asking the database each time was a round trip, a pool checkout and a thread hand-off on every
//! API call. Instead the server remembers what it read and forgets all of it when Postgres says
//! something changed (the `principal_wake` migration's triggers notify `vigil_principals` when the
//! changing transaction commits). A listener thread holds its own connection; while it is not
//! listening (starting, or its connection lost) nothing is remembered and every request asks the
//! database, so a missed notification can never keep a disabled account working. What a request
//! reads is remembered only if no notification arrived while it was reading.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use vigil_store::wake::{self, Channel};

use super::users::User;

/// What a bearer token's subject names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    User(i64),
    Client(String),
}

/// What the database said of a subject: the user (None: no such user), or whether the client is
/// registered and enabled.
#[derive(Debug, Clone)]
pub enum Known {
    User(Option<User>),
    Client(bool),
}

/// Most subjects remembered; past it, everything is forgotten (a hospital has far fewer).
const REMEMBERED: usize = 20_000;
/// How long the listener waits for a notification before it checks its connection.
const KEEPALIVE: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How often the listener looks for a notification: the most a change waits to take effect once
/// committed (diesel offers no socket to block on).
const STEP: Duration = Duration::from_millis(2);

#[derive(Debug, Default)]
pub struct KnownPrincipals {
    entries: Mutex<HashMap<Subject, (Known, u64)>>,
    /// Bumped whenever anything may have changed; an entry read under an older generation is stale.
    generation: AtomicU64,
    listening: AtomicBool,
}

impl KnownPrincipals {
    /// What is remembered of `subject`, if it is still current.
    pub fn get(&self, subject: &Subject) -> Option<Known> {
        if !self.listening.load(Ordering::Acquire) {
            return None;
        }
        let current = self.generation.load(Ordering::Acquire);
        let entries = self.entries.lock().ok()?;
        entries.get(subject).filter(|(_, at)| *at == current).map(|(known, _)| known.clone())
    }

    /// Call before reading a subject from the database: the stamp [`KnownPrincipals::remember`]
    /// needs. None while nothing may be remembered.
    pub fn stamp(&self) -> Option<u64> {
        self.listening.load(Ordering::Acquire).then(|| self.generation.load(Ordering::Acquire))
    }

    /// Remembers what was read under `stamp`, unless something changed since.
    pub fn remember(&self, subject: Subject, known: Known, stamp: Option<u64>) {
        let Some(stamp) = stamp else { return };
        let Ok(mut entries) = self.entries.lock() else { return };
        // Checked under the lock that `forget_all` takes, so a change cannot slip between.
        if !self.listening.load(Ordering::Acquire) || self.generation.load(Ordering::Acquire) != stamp {
            return;
        }
        if entries.len() >= REMEMBERED {
            entries.clear();
        }
        entries.insert(subject, (known, stamp));
    }

    fn forget_all(&self) {
        // Under the lock `remember` takes, so that nothing read before the bump is stored after it.
        let entries = self.entries.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut entries) = entries {
            entries.clear();
        }
    }

    fn set_listening(&self, listening: bool) {
        self.forget_all();
        self.listening.store(listening, Ordering::Release);
        self.forget_all();
    }

    /// Starts the listener thread on a connection of its own to `url`.
    pub fn spawn_listener(self: &Arc<Self>, url: String) -> std::io::Result<()> {
        let known = Arc::clone(self);
        std::thread::Builder::new().name("principal-listener".into()).spawn(move || {
            let mut backoff = Duration::from_millis(250);
            loop {
                match wake::listening(&url, Channel::Principals) {
                    Ok(mut conn) => {
                        backoff = Duration::from_millis(250);
                        known.set_listening(true);
                        known.listen(&mut conn);
                        known.set_listening(false);
                        tracing::warn!("stopped listening for changes to users and clients; reconnecting");
                    }
                    Err(error) => {
                        tracing::debug!(%error, "cannot listen for changes to users and clients yet");
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
            }
        })?;
        Ok(())
    }

    /// Forgets everything on each notification, until the connection fails.
    fn listen(&self, conn: &mut diesel::PgConnection) {
        loop {
            match wake::wait_in_steps(conn, KEEPALIVE, STEP) {
                Ok(true) => self.forget_all(),
                // Quiet for a while: make sure the connection is still there to hear the next one.
                Ok(false) => {
                    if conn.batch_execute("SELECT 1").is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remembered(known: &KnownPrincipals) -> bool {
        matches!(known.get(&Subject::Client("c".into())), Some(Known::Client(true)))
    }

    #[test]
    fn nothing_is_remembered_unless_listening() {
        let known = KnownPrincipals::default();
        let stamp = known.stamp();
        known.remember(Subject::Client("c".into()), Known::Client(true), stamp);
        assert!(!remembered(&known));
        known.set_listening(true);
        known.remember(Subject::Client("c".into()), Known::Client(true), known.stamp());
        assert!(remembered(&known));
        known.set_listening(false);
        assert!(!remembered(&known), "a lost listener forgets everything");
    }

    #[test]
    fn a_change_during_a_read_keeps_its_result_from_being_remembered() {
        let known = KnownPrincipals::default();
        known.set_listening(true);
        let stamp = known.stamp();
        known.forget_all(); // a notification arrives while the request reads
        known.remember(Subject::Client("c".into()), Known::Client(true), stamp);
        assert!(!remembered(&known));
        known.remember(Subject::Client("c".into()), Known::Client(true), known.stamp());
        assert!(remembered(&known));
        known.forget_all();
        assert!(!remembered(&known), "a notification forgets what was remembered");
    }
}
