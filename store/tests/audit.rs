//! The audit trail is append-only and its hash chain names the first row changed or removed.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use vigil_store::audit::{self, AuditEvent, Break, Outcome, Verification};
use vigil_store::testing::TestDb;

fn event(n: i64) -> AuditEvent {
    AuditEvent {
        actor: "user:alice".into(),
        actor_role: "clinician".into(),
        action: "read".into(),
        resource_type: Some("Patient".into()),
        resource_id: Some(format!("p{n}")),
        patient_id: Some(n),
        data_category: Some("demographics".into()),
        outcome: Outcome::Success,
        source_address: Some("127.0.0.1".into()),
        request_id: Some(format!("req-{n}")),
        break_glass: n % 2 == 0,
        detail: None,
    }
}

fn filled(n: i64) -> (TestDb, PgConnection) {
    let db = TestDb::migrated();
    let mut conn = db.connect();
    for i in 1..=n {
        audit::append(&mut conn, &event(i)).expect("append");
    }
    (db, conn)
}

#[test]
fn an_untouched_chain_verifies() {
    let (_db, mut conn) = filled(25);
    assert!(matches!(audit::verify(&mut conn).expect("verify"), Verification::Intact { rows: 25, .. }));
}

#[test]
fn the_table_refuses_update_delete_and_truncate() {
    let (_db, mut conn) = filled(3);
    for statement in [
        "UPDATE audit_log SET actor = 'user:mallory' WHERE seq = 2",
        "DELETE FROM audit_log WHERE seq = 2",
        "TRUNCATE audit_log",
    ] {
        let error = conn.batch_execute(statement).expect_err(statement);
        assert!(error.to_string().contains("permission denied for table audit_log"), "{statement}: {error}");
    }
}

/// As a superuser would: switch the triggers off for this session and edit anyway.
fn tamper(conn: &mut PgConnection, statement: &str) {
    conn.batch_execute(&format!(
        "SET session_replication_role = replica; {statement}; SET session_replication_role = DEFAULT"
    ))
    .expect("tamper as superuser");
}

#[test]
fn an_edited_row_is_named() {
    let (_db, mut conn) = filled(10);
    tamper(&mut conn, "UPDATE audit_log SET outcome = 'denied' WHERE seq = 7");
    assert_eq!(
        audit::verify(&mut conn).expect("verify"),
        Verification::Broken { seq: 7, problem: Break::ContentAltered }
    );
}

#[test]
fn a_removed_row_is_found_at_its_successor() {
    let (_db, mut conn) = filled(10);
    tamper(&mut conn, "DELETE FROM audit_log WHERE seq = 4");
    assert_eq!(audit::verify(&mut conn).expect("verify"), Verification::Broken { seq: 5, problem: Break::LinkBroken });
}

#[test]
fn concurrent_appends_keep_one_chain() {
    let db = TestDb::migrated();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let url = db.url().to_owned();
            std::thread::spawn(move || {
                let mut conn = PgConnection::establish(&url).expect("connect");
                for i in 0..25 {
                    audit::append(&mut conn, &event(w * 100 + i)).expect("append");
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    let mut conn = db.connect();
    assert!(matches!(audit::verify(&mut conn).expect("verify"), Verification::Intact { rows: 100, .. }));
}

#[test]
fn a_bulk_append_continues_the_chain() {
    let (_db, mut conn) = filled(3);
    let many: Vec<AuditEvent> = (10..40).map(event).collect();
    audit::append_many(&mut conn, &many).expect("append many");
    audit::append(&mut conn, &event(99)).expect("append");
    assert!(matches!(audit::verify(&mut conn).expect("verify"), Verification::Intact { rows: 34, .. }));
}
