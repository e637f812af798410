//! The change feed: one `patient_changes` row per stored change to a patient's data, which
//! consumers (on-change scoring) read in `seq` order from a position they remember.
//!
//! A position is only safe if no row below it can still appear. An identity column hands out
//! numbers when rows are inserted, not when they commit, so two writers could commit 11 before 10
//! and a consumer that moved past 11 would never see 10. Writers therefore take one
//! transaction-scoped lock before they take numbers and hold it until they commit: numbers become
//! visible in order. They record their changes last, so the lock covers only that insert and the
//! commit.
//!
//! Every insert also wakes the listeners of [`crate::wake::Channel::Changes`] when it commits
//! (a trigger, so no writer can forget it).

use diesel::prelude::*;

use crate::schema::patient_changes;

/// Records that these patients' data changed, as the last write of the caller's transaction.
pub fn record(conn: &mut PgConnection, patients: &[i64]) -> QueryResult<()> {
    if patients.is_empty() {
        return Ok(());
    }
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext('vigil.patient_changes'))").execute(conn)?;
    let rows: Vec<_> = patients.iter().map(|p| patient_changes::patient_id.eq(*p)).collect();
    diesel::insert_into(patient_changes::table).values(rows).execute(conn)?;
    Ok(())
}
