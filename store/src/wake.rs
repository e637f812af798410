//! Waking a background consumer as soon as there is work for it, instead of at its next poll.
//!
//! Writers need do nothing: triggers (migration `wake`) send a Postgres notification, without
//! payload, when a transaction that changed patients' data or queued email commits. A consumer
//! `LISTEN`s on its own connection and waits with [`wait`], which looks at what the server has
//! sent without a round trip; its regular poll stays the fallback, so a lost notification only
//! delays work. diesel exposes received notifications but not the socket to block on, hence the
//! short steps.

use std::time::{Duration, Instant};

use diesel::prelude::*;

/// How often [`wait`] looks at what the server sent (no query; one read of the socket buffer).
const STEP: Duration = Duration::from_millis(10);

/// What a consumer is woken for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// A patient's data changed (`patient_changes`).
    Changes,
    /// Notices were queued or a message was put back to be sent (`outbox`, `outbox_messages`).
    Outbox,
    /// A user, unit membership or API client changed: what servers remember of them is stale.
    Principals,
    /// An alert, or what decides who sees it and how a list shows it, changed: the alert lists
    /// servers remember are stale.
    AlertLists,
    /// A stored resource, or what ties it to its patient and their units, changed: the reads by
    /// id servers remember are stale.
    Reads,
}

impl Channel {
    pub fn name(self) -> &'static str {
        match self {
            Self::Changes => "vigil_changes",
            Self::Outbox => "vigil_outbox",
            Self::Principals => "vigil_principals",
            Self::AlertLists => "vigil_alert_lists",
            Self::Reads => "vigil_reads",
        }
    }
}

/// Starts listening on `channel` on this connection (until it closes).
pub fn listen(conn: &mut PgConnection, channel: Channel) -> QueryResult<()> {
    diesel::sql_query(format!("LISTEN {}", channel.name())).execute(conn).map(|_| ())
}

/// A new connection to `url` that listens on `channel`.
pub fn listening(url: &str, channel: Channel) -> ConnectionResult<PgConnection> {
    let mut conn = PgConnection::establish(url)?;
    listen(&mut conn, channel).map_err(ConnectionError::CouldntSetupConfiguration)?;
    Ok(conn)
}

/// Returns true as soon as a notification has arrived on a channel this connection listens on
/// (including one that arrived while the caller was busy), false once `timeout` has passed.
pub fn wait(conn: &mut PgConnection, timeout: Duration) -> QueryResult<bool> {
    wait_in_steps(conn, timeout, STEP)
}

/// [`wait`], looking at what the server sent every `step`: shorter for a consumer whose delay
/// matters more than the wake-ups it costs.
pub fn wait_in_steps(conn: &mut PgConnection, timeout: Duration, step: Duration) -> QueryResult<bool> {
    let start = Instant::now();
    loop {
        let mut woken = false;
        for notification in conn.notifications_iter() {
            notification?;
            woken = true;
        }
        if woken {
            return Ok(true);
        }
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Ok(false);
        }
        std::thread::sleep(left.min(step));
    }
}
