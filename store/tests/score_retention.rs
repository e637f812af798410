//! Retention drops whole months of scores past the window, keeping the scores alerts name and each
//! week's first run of everyone; a dropped score's outcomes go with it.

use chrono::{DateTime, TimeZone, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use vigil_store::partitions::{RetiredMonth, ensure_scores_month, retire_scores_before};
use vigil_store::testing::TestDb;

fn at(month: u32, day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, month, day, 2, 0, 0).single().expect("a time")
}

fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(sql)).get_result(conn).expect(sql)
}

/// A run of everyone as of `as_of` scoring patients 1..=3 once each; the run's id.
fn run(conn: &mut PgConnection, as_of: DateTime<Utc>) -> i64 {
    ensure_scores_month(conn, as_of).expect("partition");
    let at = as_of.to_rfc3339();
    conn.batch_execute(&format!(
        "INSERT INTO scoring_runs (kind, as_of, status, started_by, finished_at) VALUES ('all', '{at}', 'done', 'test', '{at}');
         INSERT INTO scores (run_id, model_id, patient_id, as_of, points, features)
         SELECT (SELECT max(id) FROM scoring_runs), (SELECT id FROM models), p.id, '{at}', 5, '{{}}' FROM patients p;
         INSERT INTO score_outcomes (score_id, outcome, matured_at)
         SELECT id, false, '{at}' FROM scores WHERE run_id = (SELECT max(id) FROM scoring_runs);"
    ))
    .expect("a run");
    count(conn, "(SELECT max(id) FROM scoring_runs)")
}

#[test]
fn months_past_the_window_are_dropped_and_what_must_outlive_them_is_kept() {
    let db = TestDb::migrated();
    let mut conn = db.connect();
    conn.batch_execute(
        "INSERT INTO patients (source_system, fhir_id) VALUES ('t', 'a'), ('t', 'b'), ('t', 'c');
         INSERT INTO models (version, target, algorithm, feature_version, threshold, created_by)
              VALUES ('admission-1', 'admission', 'lace', 1, 0.5, 'test');",
    )
    .expect("rows");
    // Three nightly runs in one week of March (the first is the week's keeper), one in April.
    let first = run(&mut conn, at(3, 2));
    let second = run(&mut conn, at(3, 3));
    run(&mut conn, at(3, 4));
    let april = run(&mut conn, at(4, 7));
    // A CDS card shown to a clinician names a score of the second run.
    conn.batch_execute(&format!(
        "INSERT INTO cds_cards (uuid, service, client_id, patient_id, score_id)
         SELECT gen_random_uuid(), 'vigil-risk', 'ehr', patient_id, id FROM scores WHERE run_id = {second} LIMIT 1"
    ))
    .expect("a card");
    let alerted = 1;

    let retired = retire_scores_before(&mut conn, at(4, 1)).expect("retire");
    assert_eq!(retired, vec![RetiredMonth { month: "2026-03".into(), kept: 3 + alerted, dropped: 6 - alerted }]);
    assert_eq!(
        count(&mut conn, &format!("(SELECT count(*) FROM scores WHERE run_id = {first})")),
        3,
        "the week's keeper"
    );
    assert_eq!(count(&mut conn, &format!("(SELECT count(*) FROM scores WHERE run_id = {second})")), alerted);
    assert_eq!(
        count(&mut conn, &format!("(SELECT count(*) FROM scores WHERE run_id = {april})")),
        3,
        "a later month stays whole"
    );
    assert_eq!(
        count(&mut conn, "(SELECT count(*) FROM score_outcomes)"),
        3 + alerted + 3,
        "dropped scores' outcomes went with them"
    );
    assert_eq!(count(&mut conn, "(SELECT count(*) FROM pg_class WHERE relname = 'scores_recent_2026_03')"), 0);
    // A score a card names cannot be deleted, retained or not, nor can a card name no score.
    assert!(conn.batch_execute(&format!("DELETE FROM scores WHERE run_id = {second}")).is_err());
    let missing = conn.batch_execute(
        "INSERT INTO cds_cards (uuid, service, client_id, patient_id, score_id)
         SELECT gen_random_uuid(), 'vigil-risk', 'ehr', id, 999999 FROM patients LIMIT 1",
    );
    assert!(
        matches!(
            missing,
            Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::ForeignKeyViolation, _))
        ),
        "{missing:?}"
    );
    // Nothing left to retire: nothing happens.
    assert!(retire_scores_before(&mut conn, at(4, 1)).expect("retire").is_empty());
}
