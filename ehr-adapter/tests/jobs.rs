//! The import queue: each job is claimed by one worker at a time, a job whose worker died is
//! taken over and re-run without duplicating anything, and one that keeps dying is given up.

use diesel::prelude::*;
use vigil_ehr_adapter::jobs;
use vigil_store::schema::{import_jobs, patients};
use vigil_store::testing::TestDb;

const BODY: &str = "{\"resourceType\":\"Patient\",\"id\":\"j1\",\"gender\":\"female\"}\n\
                    {\"resourceType\":\"Patient\",\"id\":\"j2\",\"birthDate\":\"never\"}\n";

#[test]
fn a_job_is_claimed_once_and_taken_over_when_its_worker_dies() {
    let db = TestDb::migrated();
    let (mut a, mut b) = (db.connect(), db.connect());
    let id = jobs::enqueue(&mut a, "user:feed", "integration", "local", BODY.as_bytes()).expect("enqueue");

    // Worker A holds the job (its claim not yet committed): B finds nothing to take.
    let claimed = a.transaction(|a| {
        let job = jobs::claim(a, 60)?.expect("A claims the job");
        assert!(jobs::claim(&mut b, 60)?.is_none(), "B skips the job A holds");
        Ok::<_, diesel::result::Error>(job)
    });
    assert_eq!(claimed.expect("claim").id, id);
}

#[test]
fn a_stale_job_is_re_run_without_duplicates_and_given_up_after_its_attempts() {
    let db = TestDb::migrated();
    let mut conn = db.connect();
    let id = jobs::enqueue(&mut conn, "user:feed", "integration", "local", BODY.as_bytes()).expect("enqueue");
    let first = jobs::claim(&mut conn, 60).expect("claim").expect("a job");
    jobs::run(&mut conn, &first, 1).expect("run");

    // As if the worker died before recording the end: the heartbeat goes stale.
    diesel::update(import_jobs::table.find(id))
        .set((
            import_jobs::status.eq("running"),
            import_jobs::finished_at.eq(None::<chrono::DateTime<chrono::Utc>>),
            import_jobs::heartbeat_at.eq(chrono::Utc::now() - chrono::Duration::minutes(5)),
        ))
        .execute(&mut conn)
        .expect("stale");
    let again = jobs::claim(&mut conn, 60).expect("claim").expect("taken over");
    assert_eq!((again.id, again.attempts), (id, 2));
    let summary = jobs::run(&mut conn, &again, 1).expect("re-run");
    assert_eq!(summary.by_type["Patient"].unchanged, 1, "{summary:?}");
    assert_eq!(summary.by_type["Patient"].rejected, 1);
    let stored: i64 = patients::table.filter(patients::fhir_id.eq("j1")).count().get_result(&mut conn).expect("count");
    assert_eq!(stored, 1);
    assert_eq!(jobs::errors(&mut conn, id).expect("errors").len(), 1, "the same line's reject is listed once");
    let status = jobs::status(&mut conn, id, "user:feed").expect("status").expect("visible to its requester");
    assert_eq!((status.status.as_str(), status.progress), ("done", 2));
    assert!(jobs::status(&mut conn, id, "user:someone-else").expect("status").is_none());

    // A job that keeps dying is given up after its attempts.
    diesel::update(import_jobs::table.find(id))
        .set((
            import_jobs::status.eq("running"),
            import_jobs::finished_at.eq(None::<chrono::DateTime<chrono::Utc>>),
            import_jobs::attempts.eq(jobs::MAX_ATTEMPTS),
            import_jobs::heartbeat_at.eq(chrono::Utc::now() - chrono::Duration::minutes(5)),
        ))
        .execute(&mut conn)
        .expect("stale");
    assert!(jobs::claim(&mut conn, 60).expect("claim").is_none());
    let failed = jobs::status(&mut conn, id, "user:feed").expect("status").expect("job");
    assert_eq!(failed.status, "failed");
    assert!(failed.error.is_some_and(|e| e.contains("3 times")));
}
