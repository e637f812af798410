//! Reads by id that a server remembers: each is still decided and audited; a change another process
//! commits reaches them once its notification arrives, access included; a write through the server
//! reaches its next read at once.

use diesel::prelude::*;
use serde_json::{Value, json};
use vigil_store::testing::TestDb;

use crate::support::seed::{self, bearer};
use crate::support::{App, Response, poll};

fn read_rows(db: &TestDb, resource_id: &str) -> Vec<(String, String)> {
    use vigil_store::schema::audit_log::dsl as a;
    let mut conn = db.connect();
    a::audit_log
        .filter(a::action.eq("read").and(a::resource_id.eq(resource_id)))
        .order(a::seq)
        .select((a::actor, a::outcome))
        .load(&mut conn)
        .expect("audit rows")
}

fn family(read: &Response) -> Value {
    read.json()["name"][0]["family"].clone()
}

#[test]
fn remembered_reads_are_audited_each_time_and_follow_what_other_processes_change() {
    let db = TestDb::migrated();
    crate::access::ward(&db);
    let app = App::spawn(db.url());
    let nurse = bearer(&seed::token(&app, "nurse"));
    let auth = [("authorization", nurse.as_str())];
    let mut reads = 0;
    let mut read = || {
        reads += 1;
        app.get_with("/fhir/Patient/p-icu", &auth)
    };

    for _ in 0..5 {
        let served = read();
        assert_eq!(served.status, 200, "{}", served.body);
        assert_eq!(family(&served), "Icupatient");
        assert_eq!(served.header("etag"), Some("W/\"1\""));
    }

    // Another process stores a new version: it is served once the server hears of it.
    let renamed = json!({ "resourceType": "Patient", "id": "p-icu", "gender": "female", "birthDate": "1948-05-17",
        "name": [{ "family": "Renamed", "given": ["Test"] }] });
    seed::ingest(db.url(), vec![renamed]);
    let served = poll("the new version to be served", || {
        let served = read();
        (family(&served) == "Renamed").then_some(served)
    });
    assert_eq!(served.header("etag"), Some("W/\"2\""));

    // Another process moves the patient to a unit the nurse is not on: access follows.
    let moved = json!({ "resourceType": "Encounter", "id": "enc-p-icu-2", "status": "in-progress",
        "class": { "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP" },
        "subject": { "reference": "Patient/p-icu" }, "period": { "start": chrono::Utc::now().to_rfc3339() },
        "location": [{ "location": { "reference": "Location/WARD-4" } }] });
    seed::ingest(db.url(), vec![moved]);
    poll("the move to take effect", || (read().status == 403).then_some(()));

    let rows = read_rows(&db, "p-icu");
    assert_eq!(rows.len(), reads, "every read has its audit row, remembered or not");
    assert!(rows.iter().all(|(actor, _)| actor == "user:nurse"));
    let denied = rows.iter().rev().take_while(|(_, outcome)| outcome == "denied").count();
    assert_eq!((denied, rows.len() - denied), (1, reads - 1), "successes, then the one denial: {rows:?}");
}

#[test]
fn a_write_through_the_server_reaches_its_next_read_at_once() {
    let db = TestDb::migrated();
    seed::user(db.url(), "feed", "integration", &[]);
    let app = App::spawn(db.url());
    let feed = bearer(&seed::token(&app, "feed"));
    let auth = [("authorization", feed.as_str())];
    let patient = |family: &str| {
        json!({ "resourceType": "Patient", "id": "w-1", "gender": "female", "birthDate": "1951-02-03",
            "name": [{ "family": family, "given": ["Ada"] }] })
        .to_string()
    };
    let put = |family: &str| app.request("PUT", "/fhir/Patient/w-1", &auth, Some(patient(family)));
    assert_eq!(put("Family1").status, 201);
    for version in 2..6 {
        // Read twice, so that the second is answered from memory if anything is.
        for _ in 0..2 {
            assert_eq!(family(&app.get_with("/fhir/Patient/w-1", &auth)), format!("Family{}", version - 1).as_str());
        }
        let now = format!("Family{version}");
        assert_eq!(put(&now).status, 200);
        // No waiting: the server forgot what it remembered when its own write committed.
        let served = app.get_with("/fhir/Patient/w-1", &auth);
        assert_eq!(family(&served), now.as_str());
        assert_eq!(served.header("etag"), Some(format!("W/\"{version}\"").as_str()));
    }
    assert_eq!(app.request("DELETE", "/fhir/Patient/w-1", &auth, None).status, 204);
    assert_eq!(app.get_with("/fhir/Patient/w-1", &auth).status, 410);
    assert_eq!(read_rows(&db, "w-1").len(), 4 * 3 + 1);
}
