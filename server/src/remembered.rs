//! What servers read from the database and remember between requests until Postgres says it
//! changed.
//!
//! Triggers send a notification on a channel when a transaction that changed the underlying
//! tables commits (the wake migrations). A listener thread holds its own connection on that
//! channel and forgets everything on each notification; while it is not listening (starting, or
//! its connection lost) nothing is remembered and every request asks the database, so a missed
//! notification can never keep stale data in use. What a request reads is remembered only if no
//! notification arrived while it was reading.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use vigil_store::wake::{self, Channel};

/// How long the listener waits for a notification before it checks its connection.
const KEEPALIVE: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How often the listener looks for a notification: the most a change waits to take effect once
/// committed (diesel offers no socket to block on).
const STEP: Duration = Duration::from_millis(2);

#[derive(Debug)]
pub struct Remembered<K, V> {
    entries: Mutex<HashMap<K, (V, u64)>>,
    /// Bumped whenever anything may have changed; an entry read under an older generation is stale.
    generation: AtomicU64,
    listening: AtomicBool,
    channel: Channel,
    /// Most entries kept; past it, everything is forgotten.
    capacity: usize,
}

impl<K: Eq + Hash + Send + 'static, V: Clone + Send + 'static> Remembered<K, V> {
    /// Nothing remembered yet, forgotten on notifications on `channel`, at most `capacity` entries.
    pub fn new(channel: Channel, capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            channel,
            capacity,
        }
    }

    /// What is remembered of `key`, if it is still current.
    pub fn get(&self, key: &K) -> Option<V> {
        if !self.listening.load(Ordering::Acquire) {
            return None;
        }
        let current = self.generation.load(Ordering::Acquire);
        let entries = self.entries.lock().ok()?;
        entries.get(key).filter(|(_, at)| *at == current).map(|(value, _)| value.clone())
    }

    /// Call before reading from the database: the stamp [`Remembered::remember`] needs. None
    /// while nothing may be remembered.
    pub fn stamp(&self) -> Option<u64> {
        self.listening.load(Ordering::Acquire).then(|| self.generation.load(Ordering::Acquire))
    }

    /// Remembers what was read under `stamp`, unless something changed since.
    pub fn remember(&self, key: K, value: V, stamp: Option<u64>) {
        let Some(stamp) = stamp else { return };
        let Ok(mut entries) = self.entries.lock() else { return };
        // Checked under the lock that `forget_all` takes, so a change cannot slip between.
        if !self.listening.load(Ordering::Acquire) || self.generation.load(Ordering::Acquire) != stamp {
            return;
        }
        if entries.len() >= self.capacity {
            entries.clear();
        }
        entries.insert(key, (value, stamp));
    }

    /// Forgets everything: on a notification, or at once after this process's own write, so that
    /// its next read does not wait for the notification to come back.
    pub fn forget_all(&self) {
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
        let remembered = Arc::clone(self);
        let channel = self.channel;
        std::thread::Builder::new().name(format!("listen-{}", channel.name())).spawn(move || {
            let mut backoff = Duration::from_millis(250);
            loop {
                match wake::listening(&url, channel) {
                    Ok(mut conn) => {
                        backoff = Duration::from_millis(250);
                        remembered.set_listening(true);
                        remembered.listen(&mut conn);
                        remembered.set_listening(false);
                        tracing::warn!(channel = channel.name(), "stopped listening for changes; reconnecting");
                    }
                    Err(error) => {
                        tracing::debug!(%error, channel = channel.name(), "cannot listen for changes yet");
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

    fn remembered(r: &Remembered<&'static str, bool>) -> bool {
        r.get(&"c") == Some(true)
    }

    fn fresh() -> Remembered<&'static str, bool> {
        Remembered::new(Channel::Principals, 10)
    }

    #[test]
    fn nothing_is_remembered_unless_listening() {
        let r = fresh();
        let stamp = r.stamp();
        r.remember("c", true, stamp);
        assert!(!remembered(&r));
        r.set_listening(true);
        r.remember("c", true, r.stamp());
        assert!(remembered(&r));
        r.set_listening(false);
        assert!(!remembered(&r), "a lost listener forgets everything");
    }

    #[test]
    fn a_change_during_a_read_keeps_its_result_from_being_remembered() {
        let r = fresh();
        r.set_listening(true);
        let stamp = r.stamp();
        r.forget_all(); // a notification arrives while the request reads
        r.remember("c", true, stamp);
        assert!(!remembered(&r));
        r.remember("c", true, r.stamp());
        assert!(remembered(&r));
        r.forget_all();
        assert!(!remembered(&r), "a notification forgets what was remembered");
    }

    #[test]
    fn past_its_capacity_it_starts_again() {
        let r: Remembered<u32, u32> = Remembered::new(Channel::Principals, 3);
        r.set_listening(true);
        for key in 0..4 {
            r.remember(key, key, r.stamp());
        }
        assert_eq!((r.get(&0), r.get(&3)), (None, Some(3)));
    }
}
