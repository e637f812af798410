//! A score names a patient, a model and a run that exist, and none of them goes while scores name
//! it: the rules of foreign keys, checked once per statement (migration 34) so that a scoring run's
//! million rows are not checked one at a time.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};
use vigil_store::testing::TestDb;

/// A patient, a baseline model and a run, and the ids the database gave them.
fn rows(conn: &mut PgConnection) -> (i64, i64, i64) {
    conn.batch_execute(
        "INSERT INTO patients (source_system, fhir_id) VALUES ('urn:test', 'p1');
         INSERT INTO models (version, target, algorithm, feature_version, threshold, created_by)
              VALUES ('readmission-1', 'readmission', 'lace', 1, 0.5, 'test');
         INSERT INTO scoring_runs (kind, as_of, started_by) VALUES ('all', now(), 'test');",
    )
    .expect("rows");
    let mut id = |sql: &str| diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(sql)).get_result(conn);
    let patient: i64 = id("(SELECT id FROM patients)").expect("patient");
    let model: i64 = id("(SELECT id FROM models)").expect("model");
    let run: i64 = id("(SELECT id FROM scoring_runs)").expect("run");
    (patient, model, run)
}

fn score(run: i64, model: i64, patient: i64) -> String {
    format!(
        "INSERT INTO scores (run_id, model_id, patient_id, as_of, points, features) \
         VALUES ({run}, {model}, {patient}, now(), 7, '{{}}')"
    )
}

fn refused(conn: &mut PgConnection, sql: &str) -> String {
    match conn.batch_execute(sql) {
        Err(Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info)) => info.message().to_owned(),
        other => panic!("{sql}: {other:?}"),
    }
}

#[test]
fn a_score_names_rows_that_exist_and_they_stay_while_it_does() {
    let db = TestDb::migrated();
    let mut conn = PgConnection::establish(&db.runtime_url()).expect("connect as the runtime role");
    let (patient, model, run) = rows(&mut conn);

    // Each missing row is named, whichever column names it; nothing of the statement is kept.
    assert!(
        refused(&mut conn, &score(run, model, patient + 1000)).contains(&format!("patients (id)=({})", patient + 1000))
    );
    assert!(refused(&mut conn, &score(run, model + 1000, patient)).contains("models (id)"));
    assert!(refused(&mut conn, &score(run + 1000, model, patient)).contains("scoring_runs (id)"));
    let many = format!("{}, ({run}, {model}, {}, now(), 7, '{{}}')", score(run, model, patient), patient + 1);
    refused(&mut conn, &many);
    let scores = |conn: &mut PgConnection| -> i64 {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>("(SELECT count(*) FROM scores)"))
            .get_result(conn)
            .expect("count")
    };
    assert_eq!(scores(&mut conn), 0);

    conn.batch_execute(&score(run, model, patient)).expect("a score of rows that exist");
    assert!(refused(&mut conn, "DELETE FROM patients").contains("patients rows are still named by scores"));
    assert!(refused(&mut conn, "DELETE FROM models").contains("models rows"));
    assert!(refused(&mut conn, "DELETE FROM scoring_runs").contains("scoring_runs rows"));
    refused(&mut conn, "UPDATE patients SET id = DEFAULT");
    refused(&mut conn, &format!("UPDATE scores SET patient_id = {}", patient + 1000));
    // Other changes to the rows scores name go on as before.
    conn.batch_execute("UPDATE patients SET mrn = 'M1'; UPDATE scoring_runs SET scored = 1").expect("updates");
    assert_eq!(scores(&mut conn), 1);

    // Without scores naming them, they go.
    conn.batch_execute("DELETE FROM scores; DELETE FROM scoring_runs; DELETE FROM models; DELETE FROM patients")
        .expect("deletes");
}
