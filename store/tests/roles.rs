//! The runtime role the application connects as can write the audit trail, seal it and read it,
//! and nothing more: it cannot delete, update or truncate rows, disable or drop the triggers that guard them,
//! or alter the table. It still reads and writes the clinical tables.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use vigil_store::audit::{self, AuditEvent, Outcome, Verification};
use vigil_store::testing::TestDb;

fn refused(conn: &mut PgConnection, sql: &str) -> String {
    match conn.batch_execute(sql) {
        Ok(()) => panic!("the runtime role may not run: {sql}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_runtime_role_appends_and_reads_the_audit_trail_and_can_do_nothing_else_to_it() {
    let db = TestDb::migrated();
    let mut runtime = PgConnection::establish(&db.runtime_url()).expect("connect as the runtime role");
    let role: String = diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>("current_user"))
        .get_result(&mut runtime)
        .expect("who");
    assert_eq!(role, vigil_store::testing::RUNTIME_LOGIN);

    for _ in 0..3 {
        let event = AuditEvent::new("user:alice", "clinician", "read", Outcome::Success);
        audit::append(&mut runtime, &event).expect("the runtime role appends");
    }
    assert_eq!(audit::seal(&mut runtime).expect("the runtime role seals"), 3);
    assert!(matches!(audit::verify(&mut runtime).expect("reads"), Verification::Intact { sealed: 3, .. }));

    for sql in [
        "DELETE FROM audit_log",
        "UPDATE audit_log SET actor = 'someone else'",
        "TRUNCATE audit_log",
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_or_delete",
        "ALTER TABLE audit_log DISABLE TRIGGER ALL",
        "DROP TRIGGER audit_log_no_update_or_delete ON audit_log",
        "ALTER TABLE audit_log ADD COLUMN note TEXT",
        "ALTER TABLE audit_log OWNER TO vigil_test_app",
        "DROP TABLE audit_log",
        "CREATE TABLE audit_log_copy (seq BIGINT)",
        "DELETE FROM __diesel_schema_migrations",
        "DELETE FROM audit_seals",
        "UPDATE audit_seals SET hash = prev_hash",
        "TRUNCATE audit_seals",
        "ALTER TABLE audit_seals DISABLE TRIGGER ALL",
    ] {
        let message = refused(&mut runtime, sql);
        assert!(message.contains("permission denied") || message.contains("must be owner"), "{sql}: {message}");
    }
    // What the application does to the records it keeps, it may, and it refreshes their statistics
    // through the one function that lends it the owner's right to.
    runtime.batch_execute("SELECT analyze_records()").expect("statistics refreshed");
    runtime
        .batch_execute(
            "INSERT INTO patients (source_system, fhir_id) VALUES ('local', 'p1'); \
             UPDATE patients SET postal_code = '02139' WHERE fhir_id = 'p1'; \
             DELETE FROM patients WHERE fhir_id = 'p1';",
        )
        .expect("the runtime role keeps clinical rows");
}
