//! The change feed never lets a consumer pass over a change, whatever order its writers commit
//! in, and its listeners are woken by commits, not by writes.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use vigil_store::changes;
use vigil_store::schema::patient_changes;
use vigil_store::testing::TestDb;
use vigil_store::wake::{self, Channel};

fn patient(conn: &mut PgConnection, id: &str) -> i64 {
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
    }
    diesel::sql_query(
        "INSERT INTO patients (source_system, fhir_id, version, identifiers) VALUES ('urn:test', $1, 0, '[]') RETURNING id",
    )
    .bind::<diesel::sql_types::Text, _>(id)
    .get_result::<Id>(conn)
    .expect("patient")
    .id
}

/// What a consumer at `position` reads: the changes after it, in `seq` order.
fn after(conn: &mut PgConnection, position: i64) -> Vec<(i64, i64)> {
    patient_changes::table
        .filter(patient_changes::seq.gt(position))
        .order(patient_changes::seq)
        .select((patient_changes::seq, patient_changes::patient_id))
        .load(conn)
        .expect("changes")
}

fn waiting_on_a_lock(conn: &mut PgConnection) -> bool {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query("SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        .get_result::<N>(conn)
        .expect("locks")
        .n
        > 0
}

#[test]
fn a_change_that_commits_after_a_later_one_is_not_passed_over() {
    let db = TestDb::migrated();
    let mut conn = db.connect();
    let (slow, quick) = (patient(&mut conn, "slow"), patient(&mut conn, "quick"));

    // The slow writer takes its number first and commits last.
    let mut slow_writer = db.connect();
    slow_writer.batch_execute("BEGIN").expect("begin");
    changes::record(&mut slow_writer, &[slow]).expect("record");
    let url = db.url().to_owned();
    let quick_writer = std::thread::spawn(move || {
        let mut conn = PgConnection::establish(&url).expect("connect");
        conn.transaction(|conn| changes::record(conn, &[quick])).expect("record");
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while !quick_writer.is_finished() && !waiting_on_a_lock(&mut conn) {
        assert!(Instant::now() < deadline, "the quick writer neither waited nor finished");
        std::thread::sleep(Duration::from_millis(10));
    }

    // A consumer reading now, then again after both committed, sees both changes.
    let mut seen = after(&mut conn, 0);
    let position = seen.last().map_or(0, |(seq, _)| *seq);
    slow_writer.batch_execute("COMMIT").expect("commit");
    quick_writer.join().expect("quick writer");
    seen.extend(after(&mut conn, position));
    let mut patients: Vec<i64> = seen.iter().map(|(_, p)| *p).collect();
    patients.sort_unstable();
    let mut expected = vec![slow, quick];
    expected.sort_unstable();
    assert_eq!(patients, expected, "every change read once: {seen:?}");
}

#[test]
fn listeners_are_woken_when_changes_commit_and_not_before() {
    let db = TestDb::migrated();
    let mut listener = db.connect();
    wake::listen(&mut listener, Channel::Changes).expect("listen");
    assert!(!wake::wait(&mut listener, Duration::ZERO).expect("wait"), "nothing yet");

    let mut writer = db.connect();
    let p = patient(&mut writer, "p");
    writer.batch_execute("BEGIN").expect("begin");
    changes::record(&mut writer, &[p]).expect("record");
    // A query round trip on the listener's connection, so that anything sent has arrived.
    listener.batch_execute("SELECT 1").expect("round trip");
    assert!(!wake::wait(&mut listener, Duration::ZERO).expect("wait"), "not before the commit");
    writer.batch_execute("COMMIT").expect("commit");
    assert!(wake::wait(&mut listener, Duration::from_secs(30)).expect("wait"), "woken by the commit");
    assert!(!wake::wait(&mut listener, Duration::ZERO).expect("wait"), "woken once");
}
