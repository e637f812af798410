//! The change feed as a run reads it: the patients changed since a consumer's position, and the
//! position moved on.

use diesel::prelude::*;
use vigil_store::schema::{feed_positions, patient_changes};

/// The patients the change feed names after `consumer`'s position (at most `limit` changes), and
/// the position after them.
pub fn changed_since(conn: &mut PgConnection, consumer: &str, limit: i64) -> QueryResult<(Vec<i64>, Option<i64>)> {
    let position: i64 =
        feed_positions::table.find(consumer).select(feed_positions::seq).first(conn).optional()?.unwrap_or(0);
    let changes: Vec<(i64, i64)> = patient_changes::table
        .filter(patient_changes::seq.gt(position))
        .order(patient_changes::seq)
        .limit(limit)
        .select((patient_changes::seq, patient_changes::patient_id))
        .load(conn)?;
    let last = changes.last().map(|(seq, _)| *seq);
    let mut patients: Vec<i64> = changes.into_iter().map(|(_, p)| p).collect();
    patients.sort_unstable();
    patients.dedup();
    Ok((patients, last))
}

/// Records that `consumer` has processed the feed up to `seq`.
pub fn advance(conn: &mut PgConnection, consumer: &str, seq: i64) -> QueryResult<()> {
    diesel::insert_into(feed_positions::table)
        .values((feed_positions::consumer.eq(consumer), feed_positions::seq.eq(seq)))
        .on_conflict(feed_positions::consumer)
        .do_update()
        .set((feed_positions::seq.eq(seq), feed_positions::updated_at.eq(diesel::dsl::now)))
        .execute(conn)
        .map(|_| ())
}
