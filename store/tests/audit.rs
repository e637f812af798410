//! The audit trail is append-only; its rows, appended concurrently without a lock, are sealed into
//! a hash chain that names the first row changed or removed, and rows committed late are sealed
//! late rather than lost.

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
        patients: Vec::new(),
    }
}

fn filled(n: i64) -> (TestDb, PgConnection) {
    let db = TestDb::migrated();
    let mut conn = db.connect();
    for i in 1..=n {
        audit::append(&mut conn, &event(i)).expect("append");
    }
    audit::chain::seal_all(&mut conn).expect("seal");
    (db, conn)
}

fn intact(conn: &mut PgConnection) -> (u64, i64) {
    match audit::verify(conn).expect("verify") {
        Verification::Intact { sealed, unsealed, .. } => (sealed, unsealed.rows),
        broken => panic!("{broken:?}"),
    }
}

#[test]
fn an_untouched_chain_verifies() {
    let (_db, mut conn) = filled(25);
    assert_eq!(intact(&mut conn), (25, 0));
}

#[test]
fn the_tables_refuse_update_delete_and_truncate_even_to_their_owner() {
    let (_db, mut conn) = filled(3);
    for statement in [
        "UPDATE audit_log SET actor = 'user:mallory' WHERE seq = 2",
        "DELETE FROM audit_log WHERE seq = 2",
        "TRUNCATE audit_log, audit_seals",
        "UPDATE audit_seals SET hash = prev_hash WHERE position = 2",
        "DELETE FROM audit_seals WHERE position = 3",
        "TRUNCATE audit_seals",
    ] {
        let error = conn.batch_execute(statement).expect_err(statement).to_string();
        assert!(error.contains("the audit log is append-only"), "{statement}: {error}");
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
        Verification::Broken { position: 7, seq: 7, problem: Break::ContentAltered }
    );
}

#[test]
fn a_list_rows_patients_are_sealed_with_it() {
    let (_db, mut conn) = filled(3);
    let listing = AuditEvent { patient_id: None, patients: vec![11, 12, 13], action: "search".into(), ..event(4) };
    audit::append(&mut conn, &listing).expect("a list's row");
    audit::chain::seal_all(&mut conn).expect("seal");
    assert_eq!(intact(&mut conn), (4, 0));
    // A patient taken off the list afterwards is named like any edit.
    tamper(&mut conn, "UPDATE audit_log SET patients = '{11,13}' WHERE seq = 4");
    assert_eq!(
        audit::verify(&mut conn).expect("verify"),
        Verification::Broken { position: 4, seq: 4, problem: Break::ContentAltered }
    );
    // A row names one patient or a list, never both.
    let both = AuditEvent { patient_id: Some(1), patients: vec![2, 3], ..event(5) };
    assert!(audit::append(&mut conn, &both).is_err());
}

#[test]
fn a_removed_row_or_seal_is_named() {
    let (_db, mut conn) = filled(10);
    tamper(&mut conn, "DELETE FROM audit_log WHERE seq = 4");
    assert_eq!(
        audit::verify(&mut conn).expect("verify"),
        Verification::Broken { position: 4, seq: 4, problem: Break::RowRemoved }
    );
    let (_db, mut conn) = filled(10);
    tamper(&mut conn, "DELETE FROM audit_seals WHERE position = 6");
    assert_eq!(
        audit::verify(&mut conn).expect("verify"),
        Verification::Broken { position: 7, seq: 7, problem: Break::LinkBroken }
    );
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
    // A sealer at work all along, and another racing it: one chain, every row once.
    let sealers: Vec<_> = (0..2)
        .map(|_| {
            let url = db.url().to_owned();
            std::thread::spawn(move || {
                let mut conn = PgConnection::establish(&url).expect("connect");
                for _ in 0..50 {
                    audit::seal(&mut conn).expect("seal");
                }
            })
        })
        .collect();
    for w in writers.into_iter().chain(sealers) {
        w.join().expect("thread");
    }
    let mut conn = db.connect();
    audit::chain::seal_all(&mut conn).expect("seal");
    assert_eq!(intact(&mut conn), (100, 0));
}

#[test]
fn a_row_committed_late_is_sealed_late_and_unsealed_rows_are_reported() {
    let db = TestDb::migrated();
    let (mut late, mut conn, mut undone) = (db.connect(), db.connect(), db.connect());
    late.batch_execute("BEGIN").expect("begin");
    audit::append(&mut late, &event(1)).expect("append in a transaction still open");
    for i in 2..=5 {
        audit::append(&mut conn, &event(i)).expect("append");
    }
    // Two rows of a transaction between others, still open when the sealer passes, and one that
    // rolls back: holes the sealer must remember, and only those.
    undone.batch_execute("BEGIN").expect("begin");
    audit::append(&mut undone, &event(6)).expect("append to be rolled back");
    audit::append(&mut late, &event(7)).expect("append");
    audit::append(&mut late, &event(8)).expect("append");
    audit::append(&mut conn, &event(9)).expect("append");
    assert_eq!(audit::chain::seal_all(&mut conn).expect("seal"), 5, "the rows committed so far");
    assert_eq!(gaps(&mut conn), vec![(1, 1), (6, 8)]);
    undone.batch_execute("ROLLBACK").expect("rollback");
    late.batch_execute("COMMIT").expect("commit");
    assert_eq!(intact(&mut conn), (5, 3), "the late rows are reported, not hidden");
    assert_eq!(audit::chain::seal_all(&mut conn).expect("seal"), 3);
    assert_eq!(intact(&mut conn), (8, 0));
    assert_eq!(gaps(&mut conn), vec![(6, 6)], "only the rolled-back row's number is still watched");
}

fn gaps(conn: &mut PgConnection) -> Vec<(i64, i64)> {
    use vigil_store::schema::audit_seal_gaps::dsl::*;
    audit_seal_gaps.order(first_seq).select((first_seq, last_seq)).load(conn).expect("gaps")
}

#[test]
fn concurrent_requests_share_commits_and_each_learns_its_own_outcome_waiting_or_called_back() {
    let db = TestDb::migrated();
    let pool = vigil_store::pool::build_pool(db.url(), &vigil_store::PoolOptions::default());
    let appender = audit::GroupAppender::spawn(pool, 2, None).expect("writers");
    let requests: Vec<_> = (0..16)
        .map(|r| {
            let appender = appender.clone();
            std::thread::spawn(move || {
                (0..50)
                    .map(|i| {
                        let mut e = event(r * 1000 + i);
                        // One row Postgres refuses (a NUL byte in text), among the others.
                        if r == 3 && i == 25 {
                            e.detail = Some("bad\0row".into());
                        }
                        // Half the requests wait on a thread, half are called back (as async ones are).
                        let appended = if r % 2 == 0 {
                            appender.append(&e)
                        } else {
                            let (done, outcome) = std::sync::mpsc::channel();
                            appender.append_then(&e, move |a| done.send(a).expect("waiting")).expect("queued");
                            outcome.recv().expect("called back")
                        };
                        appended.map_err(|e| e.to_string()).and_then(|a| match a {
                            audit::Appended::Logged(seq) => Ok(seq),
                            audit::Appended::Spooled => Err("spooled without a spool".to_owned()),
                        })
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let outcomes: Vec<Result<i64, String>> =
        requests.into_iter().flat_map(|r| r.join().expect("request thread")).collect();
    let failed: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert_eq!(failed.len(), 1, "only the refused row fails: {failed:?}");
    let mut seqs: Vec<i64> = outcomes.iter().filter_map(|o| o.as_ref().ok().copied()).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 799, "every other row committed once");
    let mut conn = db.connect();
    audit::chain::seal_all(&mut conn).expect("seal");
    assert_eq!(intact(&mut conn), (799, 0));
}

#[test]
fn a_bulk_append_continues_the_chain() {
    let (_db, mut conn) = filled(3);
    let many: Vec<AuditEvent> = (10..40).map(event).collect();
    audit::append_many(&mut conn, &many).expect("append many");
    audit::append(&mut conn, &event(99)).expect("append");
    audit::chain::seal_all(&mut conn).expect("seal");
    assert_eq!(intact(&mut conn), (34, 0));
}
