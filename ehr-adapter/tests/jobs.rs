//! The import queue: each job is claimed by one worker at a time, a job whose worker died is
//! taken over and re-run without duplicating anything, and one that keeps dying is given up; a job
//! read back part by part keeps its line numbers, and each resource is held to the scopes of whoever
//! queued it.

use diesel::prelude::*;
use vigil_ehr_adapter::jobs;
use vigil_store::schema::{import_jobs, patients};
use vigil_store::testing::TestDb;

const FEED: jobs::Requester<'static> =
    jobs::Requester { actor: "user:feed", role: "integration", source_system: "local", write_scopes: "system/*.write" };

fn anything(_: &str) -> bool {
    true
}

const BODY: &str = "{\"resourceType\":\"Patient\",\"id\":\"j1\",\"gender\":\"female\"}\n\
                    {\"resourceType\":\"Patient\",\"id\":\"j2\",\"birthDate\":\"never\"}\n";

#[test]
fn a_job_is_claimed_once_and_taken_over_when_its_worker_dies() {
    let db = TestDb::migrated();
    let (mut a, mut b) = (db.connect(), db.connect());
    let id = jobs::enqueue(&mut a, &FEED, BODY.as_bytes()).expect("enqueue");

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
    let id = jobs::enqueue(&mut conn, &FEED, BODY.as_bytes()).expect("enqueue");
    let first = jobs::claim(&mut conn, 60).expect("claim").expect("a job");
    jobs::run(&mut conn, &first, 1, &anything).expect("run");

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
    let summary = jobs::run(&mut conn, &again, 1, &anything).expect("re-run");
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

#[test]
fn parts_keep_their_line_numbers_and_each_resource_is_held_to_the_requesters_scopes() {
    let db = TestDb::migrated();
    let mut conn = db.connect();
    let lab = jobs::Requester { actor: "client:lab", role: "system", write_scopes: "system/Observation.write", ..FEED };
    let id = conn
        .transaction(|conn| {
            let id = jobs::create(conn, &lab)?;
            jobs::add_part(conn, id, 0, 1, b"{\"resourceType\":\"Patient\",\"id\":\"x1\"}\n\n")?;
            jobs::add_part(
                conn,
                id,
                1,
                3,
                b"{\"resourceType\":\"Observation\",\"id\":\"o1\",\"status\":\"final\",\
                   \"code\":{\"text\":\"x\"},\"subject\":{\"reference\":\"Patient/x1\"}}\nnot json\n",
            )?;
            Ok::<_, diesel::result::Error>(id)
        })
        .expect("queued");
    let job = jobs::claim(&mut conn, 60).expect("claim").expect("a job");
    assert_eq!(job.write_scopes, "system/Observation.write");
    let summary = jobs::run(&mut conn, &job, 10, &|ty| ty == "Observation").expect("run");
    assert_eq!(summary.by_type["Patient"].rejected, 1, "{summary:?}");
    assert_eq!(summary.by_type["Observation"].stored, 1, "{summary:?}");
    let errors = jobs::errors(&mut conn, id).expect("errors");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0]["issue"][0]["code"], "forbidden");
    let said = errors[0]["issue"][0]["diagnostics"].as_str().expect("diagnostics");
    assert!(said.contains("line 1") && said.contains("may not write Patient"), "{said}");
    assert!(errors[1]["issue"][0]["diagnostics"].as_str().expect("diagnostics").contains("line 4"), "{errors:?}");
}
