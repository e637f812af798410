//! The outbox, as the relays see it. Notices (rows of `outbox`) are written by the engine in the
//! transaction of the alert change that causes them. A relay then:
//! 1. groups: for each person with a notice due (and no message to them within the group
//!    interval, unless a critical notice is due), all their unsent notices become one message,
//!    under a per-person lock so that concurrent relays never split a group;
//! 2. claims due messages with `FOR UPDATE SKIP LOCKED` and a lease, so any number of relays share
//!    the work and a message whose relay died is sent again after its lease, under the same
//!    Message-ID;
//! 3. records the outcome: sent; or a retry after an exponential back-off with jitter; or, past
//!    the budget (or refused for good), a dead letter that `vigil outbox retry` sends again.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Interval, Nullable, Text, Timestamptz};
use vigil_store::schema::{outbox, outbox_messages};

use super::record::interval;

/// Advisory lock space of the per-person grouping lock.
const GROUPING_LOCK: i32 = 0x6f75_7462; // "outb"

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Groups due notices into messages, one per person; returns how many messages were made.
pub fn group(conn: &mut PgConnection, group_interval: Duration) -> QueryResult<usize> {
    let people: Vec<Id> = diesel::sql_query(
        "SELECT DISTINCT o.user_id AS id FROM outbox o
          WHERE o.message_id IS NULL AND o.deliver_after <= now()
            AND (o.tier = 'critical' OR NOT EXISTS (
                 SELECT 1 FROM outbox_messages m WHERE m.user_id = o.user_id AND m.created_at > now() - $1))",
    )
    .bind::<Interval, _>(interval(group_interval))
    .load(conn)?;
    let mut made = 0;
    for person in people {
        made += conn.transaction(|conn| group_one(conn, person.id))?;
    }
    Ok(made)
}

fn group_one(conn: &mut PgConnection, user: i64) -> QueryResult<usize> {
    #[derive(QueryableByName)]
    struct Locked {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        locked: bool,
    }
    let Ok(key) = i32::try_from(user) else { return Ok(0) };
    let locked: Locked = diesel::sql_query("SELECT pg_try_advisory_xact_lock($1, $2) AS locked")
        .bind::<Integer, _>(GROUPING_LOCK)
        .bind::<Integer, _>(key)
        .get_result(conn)?;
    if !locked.locked {
        return Ok(0); // another relay is grouping this person's notices
    }
    // Rows another relay grouped since we looked are no longer unsent.
    let notices: Vec<i64> = outbox::table
        .filter(outbox::user_id.eq(user).and(outbox::message_id.is_null()))
        .select(outbox::id)
        .for_update()
        .load(conn)?;
    if notices.is_empty() {
        return Ok(0);
    }
    // Whoever lost their address or their account since gets a dead letter that says so, rather
    // than silence.
    let message: Id = diesel::sql_query(
        "INSERT INTO outbox_messages (user_id, recipient, status, last_error)
         SELECT u.id, COALESCE(u.email, ''),
                CASE WHEN u.email IS NULL OR u.disabled_at IS NOT NULL THEN 'dead' ELSE 'pending' END,
                CASE WHEN u.disabled_at IS NOT NULL THEN 'the account is disabled'
                     WHEN u.email IS NULL THEN 'the user has no email address' END
           FROM users u WHERE u.id = $1
         RETURNING id",
    )
    .bind::<BigInt, _>(user)
    .get_result(conn)?;
    diesel::update(outbox::table.filter(outbox::id.eq_any(&notices)))
        .set(outbox::message_id.eq(message.id))
        .execute(conn)?;
    Ok(1)
}

/// A message claimed for sending.
#[derive(Debug, Clone, QueryableByName)]
pub struct Claimed {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub recipient: String,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
}

/// Claims up to `limit` due messages for `lease`.
pub fn claim(conn: &mut PgConnection, limit: i64, lease: Duration) -> QueryResult<Vec<Claimed>> {
    diesel::sql_query(
        "UPDATE outbox_messages SET leased_until = now() + $2, attempts = attempts + 1
          WHERE id IN (SELECT id FROM outbox_messages
                        WHERE status = 'pending' AND next_attempt_at <= now()
                          AND (leased_until IS NULL OR leased_until < now())
                        ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED)
          RETURNING id, recipient, attempts",
    )
    .bind::<BigInt, _>(limit)
    .bind::<Interval, _>(interval(lease))
    .load(conn)
}

/// One notice of a message, as the message tells it (no patient data): an alert's number,
/// target, tier and unit; or, for informatics, a model's version and what monitoring found.
#[derive(Debug, Clone, QueryableByName)]
pub struct Notice {
    #[diesel(sql_type = Nullable<BigInt>)]
    pub alert_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    pub model: Option<String>,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub tier: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub unit: Option<String>,
    #[diesel(sql_type = Text)]
    pub target: String,
}

pub fn notices(conn: &mut PgConnection, message: i64) -> QueryResult<Vec<Notice>> {
    diesel::sql_query(
        "SELECT o.alert_id, m.version AS model, o.kind, o.tier, o.unit, COALESCE(a.target, m.target) AS target
           FROM outbox o LEFT JOIN alerts a ON a.id = o.alert_id LEFT JOIN models m ON m.id = o.model_id
          WHERE o.message_id = $1 ORDER BY o.id",
    )
    .bind::<BigInt, _>(message)
    .load(conn)
}

pub fn sent(conn: &mut PgConnection, message: i64) -> QueryResult<()> {
    diesel::update(outbox_messages::table.find(message).filter(outbox_messages::status.eq("pending")))
        .set((
            outbox_messages::status.eq("sent"),
            outbox_messages::sent_at.eq(diesel::dsl::now),
            outbox_messages::leased_until.eq(None::<DateTime<Utc>>),
            outbox_messages::last_error.eq(None::<String>),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Records a failed attempt: a retry at `retry_at`, or a dead letter when `retry_at` is None.
pub fn failed(conn: &mut PgConnection, message: i64, error: &str, retry_at: Option<DateTime<Utc>>) -> QueryResult<()> {
    let error: String = error.chars().take(500).collect();
    diesel::sql_query(
        "UPDATE outbox_messages
            SET status = CASE WHEN $3::timestamptz IS NULL THEN 'dead' ELSE 'pending' END,
                next_attempt_at = COALESCE($3, next_attempt_at), leased_until = NULL, last_error = $2
          WHERE id = $1 AND status = 'pending'",
    )
    .bind::<BigInt, _>(message)
    .bind::<Text, _>(error)
    .bind::<Nullable<Timestamptz>, _>(retry_at)
    .execute(conn)
    .map(|_| ())
}

/// A message as `vigil outbox list|show` prints it.
#[derive(Debug, Clone, Queryable)]
pub struct MessageRow {
    pub id: i64,
    pub recipient: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

macro_rules! message_columns {
    () => {
        (
            outbox_messages::id,
            outbox_messages::recipient,
            outbox_messages::status,
            outbox_messages::attempts,
            outbox_messages::next_attempt_at,
            outbox_messages::last_error,
            outbox_messages::created_at,
            outbox_messages::sent_at,
        )
    };
}

/// The newest `limit` messages, of one status or all.
pub fn list(conn: &mut PgConnection, status: Option<&str>, limit: i64) -> QueryResult<Vec<MessageRow>> {
    let mut query = outbox_messages::table.order(outbox_messages::id.desc()).limit(limit).into_boxed();
    if let Some(status) = status {
        query = query.filter(outbox_messages::status.eq(status.to_owned()));
    }
    query.select(message_columns!()).load(conn)
}

pub fn show(conn: &mut PgConnection, id: i64) -> QueryResult<Option<MessageRow>> {
    outbox_messages::table.find(id).select(message_columns!()).first(conn).optional()
}

/// Sends a dead letter again, with a fresh budget; false when `id` is no dead letter.
pub fn retry(conn: &mut PgConnection, id: i64) -> QueryResult<bool> {
    let changed = diesel::update(outbox_messages::table.find(id).filter(outbox_messages::status.eq("dead")))
        .set((
            outbox_messages::status.eq("pending"),
            outbox_messages::attempts.eq(0),
            outbox_messages::next_attempt_at.eq(diesel::dsl::now),
            outbox_messages::last_error.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(changed == 1)
}
