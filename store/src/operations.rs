//! What operators watch, read from the database at scrape time: the outbox, dead letters, live
//! alerts by tier and state, and how far each change-feed consumer is behind. Counts and ages
//! only: nothing here names a patient.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Nullable, Text};

/// The outbox and the change feeds, at one moment.
#[derive(Debug, Clone, Default, PartialEq, QueryableByName)]
pub struct Backlog {
    /// Notices not yet grouped into a message.
    #[diesel(sql_type = BigInt)]
    pub notices_waiting: i64,
    /// Messages waiting to be sent (or sent again).
    #[diesel(sql_type = BigInt)]
    pub messages_pending: i64,
    /// Messages given up on (`vigil outbox list`).
    #[diesel(sql_type = BigInt)]
    pub dead_letters: i64,
    /// Age of the oldest notice not yet sent, in seconds.
    #[diesel(sql_type = Nullable<Double>)]
    pub oldest_unsent_secs: Option<f64>,
    /// Patient changes not yet scored by the scoring consumer.
    #[diesel(sql_type = BigInt)]
    pub changes_unscored: i64,
    /// Age of the oldest of them, in seconds.
    #[diesel(sql_type = Nullable<Double>)]
    pub oldest_unscored_secs: Option<f64>,
    /// Scores not yet evaluated by the alert consumer.
    #[diesel(sql_type = BigInt)]
    pub scores_unevaluated: i64,
}

/// Live alerts (not ended) of one tier in one state.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct LiveAlerts {
    #[diesel(sql_type = Text)]
    pub tier: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = BigInt)]
    pub count: i64,
}

/// The backlog, each figure through an index (partial indexes keep the outbox's reads to what
/// is unsent, however many messages were sent before).
pub fn backlog(conn: &mut PgConnection) -> QueryResult<Backlog> {
    diesel::sql_query(
        "WITH scoring AS (SELECT coalesce((SELECT seq FROM feed_positions WHERE consumer = 'scoring'), 0) AS seq),
              alerting AS (SELECT coalesce((SELECT seq FROM feed_positions WHERE consumer = 'alerts'), 0) AS seq)
         SELECT (SELECT count(*) FROM outbox WHERE message_id IS NULL) AS notices_waiting,
                (SELECT count(*) FROM outbox_messages WHERE status = 'pending') AS messages_pending,
                (SELECT count(*) FROM outbox_messages WHERE status = 'dead') AS dead_letters,
                extract(epoch FROM now() - least(
                    (SELECT min(created_at) FROM outbox WHERE message_id IS NULL),
                    (SELECT min(created_at) FROM outbox_messages WHERE status = 'pending')))::FLOAT8
                    AS oldest_unsent_secs,
                greatest(coalesce((SELECT max(seq) FROM patient_changes), 0) - (SELECT seq FROM scoring), 0)
                    AS changes_unscored,
                extract(epoch FROM now() - (SELECT changed_at FROM patient_changes
                                             WHERE seq > (SELECT seq FROM scoring) ORDER BY seq LIMIT 1))::FLOAT8
                    AS oldest_unscored_secs,
                greatest(coalesce((SELECT max(id) FROM scores), 0) - (SELECT seq FROM alerting), 0)
                    AS scores_unevaluated",
    )
    .get_result(conn)
}

/// Live alerts by tier and state.
pub fn live_alerts(conn: &mut PgConnection) -> QueryResult<Vec<LiveAlerts>> {
    diesel::sql_query(
        "SELECT tier, status, count(*) AS count FROM alerts WHERE ended_at IS NULL GROUP BY tier, status ORDER BY 1, 2",
    )
    .load(conn)
}
