//! A server with a read replica (`database.read_url`) answers FHIR reads and searches through a
//! restart of the primary: who is asking is checked on the replica meanwhile, every read's audit
//! row waits on the server's disk and reaches the log, once and in order, when the primary is back.

use diesel::prelude::*;
use vigil_store::cluster::Cluster;
use vigil_store::testing::{TestDb, runtime_url};

use crate::scoring::count;
use crate::support::seed::{self, bearer};
use crate::support::{App, poll};

#[test]
fn fhir_reads_survive_a_restart_of_the_primary_from_the_replica_and_every_read_is_audited() {
    let primary = Cluster::start();
    let db = TestDb::migrated_on(&primary.admin_url());
    seed::unit(db.url(), "ICU");
    seed::user(db.url(), "nurse", "clinician", &["ICU"]);
    seed::patient(db.url(), "rr-1", "Replica", "MRN-RR1", Some("ICU"));
    let replica = primary.replica();
    let read_url = runtime_url(&replica.url_of(db.url()));
    let env = [("VIGIL_DATABASE__READ_URL", read_url.as_str()), ("VIGIL_DATABASE__CONNECT_TIMEOUT_SECS", "1")];
    let app = App::spawn_with(db.url(), &env);
    let auth = bearer(&seed::token(&app, "nurse"));
    let headers = [("authorization", auth.as_str())];
    let read = || app.get_with("/fhir/Patient/rr-1", &headers);
    let search = || app.get_with("/fhir/Encounter?patient=rr-1", &headers);
    poll("the replica to serve the patient", || (read().status == 200).then_some(()));
    assert_eq!(search().status, 200);
    let before = audited_reads(&db);

    primary.down();
    let ready = app.get("/readyz");
    assert_eq!(
        (ready.status, ready.json()["checks"]["database"].as_str()),
        (200, Some("replica only: the primary is unreachable"))
    );
    for _ in 0..5 {
        let answer = read();
        assert_eq!(answer.status, 200, "a read while the primary is down: {}", answer.body);
        assert_eq!(answer.json()["name"][0]["family"], "Replica");
    }
    let found = search();
    assert_eq!(found.status, 200, "a search while the primary is down: {}", found.body);
    assert_eq!(found.json()["entry"].as_array().map(Vec::len), Some(1), "the patient's encounter");
    let write = app.request(
        "PUT",
        "/fhir/Patient/rr-1",
        &[("authorization", auth.as_str()), ("content-type", "application/fhir+json")],
        Some(r#"{"resourceType":"Patient","id":"rr-1","gender":"female"}"#.into()),
    );
    assert_eq!(write.status, 503, "a write waits for the primary: {}", write.body);

    primary.up();
    // The rows kept on the server's disk reach the log without a restart of the server.
    poll("the reads made while the primary was down in the audit log", || {
        (spooled_reads(&db) == 6 && audited_reads(&db) == before + 6).then_some(())
    });
    assert_eq!(read().status, 200, "reads go on after the primary is back");
    let (status, out, err) =
        crate::support::run(crate::support::vigil().args(["audit", "verify"]).env("DATABASE_URL", db.url()));
    assert!(status.success(), "the chain holds the kept rows: {out}{err}");
}

/// Audit rows of reads and searches of the patient or its records.
fn audited_reads(db: &TestDb) -> i64 {
    count(
        db,
        "SELECT count(*) AS n FROM audit_log WHERE action IN ('read', 'search') AND outcome = 'success' AND actor = 'user:nurse'",
    )
}

/// Audit rows of reads and searches that reached the log from the server's spool.
fn spooled_reads(db: &TestDb) -> i64 {
    use vigil_store::schema::audit_log;
    audit_log::table
        .filter(audit_log::spool_key.is_not_null().and(audit_log::action.eq_any(["read", "search"])))
        .count()
        .get_result(&mut db.connect())
        .expect("spooled rows")
}
