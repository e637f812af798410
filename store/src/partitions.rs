//! The months `scores` is split into (migration 36, `scores_partitions`): a scoring run makes sure
//! its month has a partition before it writes, and retention drops whole months past the window,
//! keeping the scores that must outlive it.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::Timestamptz;

diesel::define_sql_function! {
    /// Makes the partition of `scores` for the month of `at` if it is missing; its name.
    fn scores_partition_for(at: Timestamptz) -> Text;
}

/// Makes the partition of `scores` that scores as of `at` go to, if it is missing.
pub fn ensure_scores_month(conn: &mut PgConnection, at: DateTime<Utc>) -> QueryResult<String> {
    diesel::select(scores_partition_for(at)).get_result(conn)
}

/// What retention did to one month of scores.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct RetiredMonth {
    /// `YYYY-MM`
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub month: String,
    /// Scores kept past retention (named by an alert or card, or of a week's first run of everyone).
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub kept: i64,
    /// Scores dropped with the month's partition.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub dropped: i64,
}

/// Retires every month of scores wholly before `horizon` (see migration 36's
/// `scores_retire_before`), oldest first, in one transaction.
pub fn retire_scores_before(conn: &mut PgConnection, horizon: DateTime<Utc>) -> QueryResult<Vec<RetiredMonth>> {
    diesel::sql_query("SELECT month, kept, dropped FROM scores_retire_before($1)")
        .bind::<Timestamptz, _>(horizon)
        .load(conn)
}
