//! Audit rows that cannot reach the database are kept on disk and appended, in order and once,
//! when it answers again.

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use vigil_store::audit::{self, Appended, AuditEvent, GroupAppender, Outcome, Spool};
use vigil_store::schema::audit_log;
use vigil_store::testing::TestDb;
use vigil_store::{PoolOptions, pool};

fn event(n: i64) -> AuditEvent {
    AuditEvent {
        resource_type: Some("Patient".into()),
        resource_id: Some(format!("p{n}")),
        patient_id: Some(n),
        ..AuditEvent::new("user:alice", "clinician", "read", Outcome::Success)
    }
}

fn logged(conn: &mut PgConnection) -> Vec<String> {
    audit_log::table
        .order(audit_log::seq)
        .select(audit_log::resource_id.assume_not_null())
        .load(conn)
        .expect("audit rows")
}

#[test]
fn rows_kept_while_the_database_is_away_reach_the_log_in_order_and_once() {
    let dir = tempfile::tempdir().expect("spool folder");
    // A pool whose server does not answer: a port nothing listens on.
    let away = pool::build_pool(
        "postgres://nobody@127.0.0.1:9/none",
        &PoolOptions { connect_timeout: Duration::from_millis(200), ..PoolOptions::default() },
    );
    let spool = Arc::new(Spool::open(dir.path()).expect("spool"));
    let appender = GroupAppender::spawn(away, 1, Some(Arc::clone(&spool))).expect("writers");
    for n in 1..=3 {
        assert_eq!(appender.append(&event(n)).expect("kept"), Appended::Spooled);
    }
    drop(appender);
    assert_eq!(spool.held(), 3);

    // The server restarts (a new spool on the same folder) and the database is back.
    let db = TestDb::migrated();
    let mut conn = db.connect();
    audit::append(&mut conn, &event(0)).expect("a row appended before");
    let again = Spool::open(dir.path()).expect("spool");
    assert_eq!(again.held(), 3, "what the last run kept is still there");
    // A drain that stopped after its commit, before removing its file, replays the same rows.
    let copy = dir.path().join("copy");
    std::fs::copy(dir.path().join("audit-spool.jsonl"), &copy).expect("copy");
    assert_eq!(again.drain(&mut conn).expect("drain"), 3);
    std::fs::rename(&copy, dir.path().join("audit-spool.draining.jsonl")).expect("as if a drain stopped");
    let replayed = Spool::open(dir.path()).expect("spool");
    assert_eq!(replayed.drain(&mut conn).expect("drain"), 3);
    assert_eq!(replayed.held(), 0);
    assert_eq!(logged(&mut conn), ["p0", "p1", "p2", "p3"], "in order, each once");

    // The rows kept are sealed like any other.
    audit::chain::seal_all(&mut conn).expect("seal");
    assert!(matches!(audit::verify(&mut conn).expect("verify"), audit::Verification::Intact { sealed: 4, .. }));

    // With the spool empty, rows go to the database again.
    let pool = pool::build_pool(db.url(), &PoolOptions::default());
    let appender = GroupAppender::spawn(pool, 1, Some(Arc::new(replayed))).expect("writers");
    assert!(matches!(appender.append(&event(4)).expect("logged"), Appended::Logged(_)));
}

#[test]
fn the_drainer_appends_kept_rows_once_the_database_answers() {
    let db = TestDb::migrated();
    let dir = tempfile::tempdir().expect("spool folder");
    let spool = Arc::new(Spool::open(dir.path()).expect("spool"));
    spool.keep(&[event(1), event(2)]).expect("kept");
    let pool = pool::build_pool(db.url(), &PoolOptions::default());
    let appender = GroupAppender::spawn(pool, 1, Some(Arc::clone(&spool))).expect("writers");
    // Rows appended while the spool still holds some join them behind, in order.
    assert!(matches!(appender.append(&event(3)).expect("appended"), Appended::Spooled | Appended::Logged(_)));
    let mut conn = db.connect();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    // The drainer commits the rows, then forgets its file: wait for both.
    while logged(&mut conn).len() < 3 || spool.held() > 0 {
        assert!(std::time::Instant::now() < deadline, "the drainer never appended the kept rows");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(logged(&mut conn), ["p1", "p2", "p3"]);
}
