//! Versions: the same content is a no-op, a newer version replaces the current row and keeps the
//! old one in history, an older one arriving late never overwrites, and concurrent loads of the
//! same data store it once.

use diesel::prelude::*;
use serde_json::{Value, json};
use vigil_ehr_adapter::ingest::store_batch;
use vigil_ehr_adapter::read::Incoming;
use vigil_store::models::{Patient, RawResource};
use vigil_store::schema::{patients, raw_resources};
use vigil_store::testing::TestDb;

const SOURCE: &str = "urn:test:ehr";

fn patient(gender: &str, last_updated: &str) -> Value {
    json!({ "resourceType": "Patient", "id": "p1", "gender": gender, "birthDate": "1950-01-02", "meta": { "lastUpdated": last_updated } })
}

fn send(conn: &mut PgConnection, resources: Vec<Value>) -> vigil_ehr_adapter::ingest::Counts {
    let batch = Incoming::items("test", resources);
    store_batch(conn, SOURCE, &loader(), batch).expect("store").totals()
}

fn current(conn: &mut PgConnection) -> Patient {
    patients::table.filter(patients::fhir_id.eq("p1")).select(Patient::as_select()).first(conn).expect("patient")
}

#[test]
fn newer_replaces_older_never_does_and_the_same_content_is_a_no_op() {
    let db = TestDb::migrated();
    let mut conn = db.connect();
    assert_eq!(send(&mut conn, vec![patient("female", "2025-01-01T00:00:00Z")]).stored, 1);
    let mut same = patient("female", "2025-03-01T00:00:00Z");
    same["meta"]["versionId"] = json!("9");
    assert_eq!(send(&mut conn, vec![same]).unchanged, 1, "new metadata alone is not a new version");

    assert_eq!(send(&mut conn, vec![patient("other", "2025-02-01T00:00:00Z")]).updated, 1);
    let now = current(&mut conn);
    assert_eq!((now.version, now.sex.as_deref()), (2, Some("other")));

    assert_eq!(send(&mut conn, vec![patient("male", "2024-06-01T00:00:00Z")]).outdated, 1, "late and older");
    assert_eq!(current(&mut conn).sex.as_deref(), Some("other"), "an older version never overwrites");

    let versions: Vec<RawResource> = raw_resources::table
        .order(raw_resources::version)
        .select(RawResource::as_select())
        .load(&mut conn)
        .expect("raw");
    let summary: Vec<(i32, bool, &str)> = versions
        .iter()
        .map(|v| (v.version, v.superseded_at.is_none(), v.content["gender"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        summary,
        vec![(1, false, "female"), (2, true, "other"), (3, false, "male")],
        "all versions kept, one current"
    );
}

#[test]
fn an_earlier_content_said_to_be_newer_is_a_revert() {
    let db = TestDb::migrated();
    let mut conn = db.connect();
    send(&mut conn, vec![patient("female", "2025-01-01T00:00:00Z")]);
    send(&mut conn, vec![patient("other", "2025-02-01T00:00:00Z")]);
    assert_eq!(send(&mut conn, vec![patient("female", "2025-01-01T00:00:00Z")]).unchanged, 1, "a repeat of v1");
    assert_eq!(send(&mut conn, vec![patient("female", "2025-03-01T00:00:00Z")]).updated, 1, "a revert");
    let now = current(&mut conn);
    assert_eq!((now.version, now.sex.as_deref()), (3, Some("female")));
    // Without times to compare, content seen before is a repeat: loading the same files again
    // changes nothing.
    let bare = |gender: &str| json!({ "resourceType": "Patient", "id": "p2", "gender": gender });
    send(&mut conn, vec![bare("female"), bare("male")]);
    assert_eq!(send(&mut conn, vec![bare("female"), bare("male")]).unchanged, 2);
}

#[test]
fn deleted_resources_leave_a_tombstone_and_may_come_back() {
    use vigil_ehr_adapter::deletion::{Deletion, delete};
    use vigil_store::schema::encounters;
    let db = TestDb::migrated();
    let mut conn = db.connect();
    let encounter = json!({ "resourceType": "Encounter", "id": "e1", "status": "finished", "subject": { "reference": "Patient/p1" },
        "class": { "code": "IMP" }, "period": { "start": "2025-01-01T08:00:00Z" } });
    send(&mut conn, vec![patient("female", "2025-01-01T00:00:00Z"), encounter.clone()]);
    assert_eq!(
        delete(&mut conn, SOURCE, &loader(), "Patient", "p1").expect("delete"),
        Deletion::StillReferenced { resources: 1 },
        "a patient goes only once nothing belongs to them"
    );
    assert_eq!(
        delete(&mut conn, SOURCE, &loader(), "Encounter", "e1").expect("delete"),
        Deletion::Deleted { version: 2 }
    );
    assert_eq!(
        delete(&mut conn, SOURCE, &loader(), "Encounter", "e1").expect("delete"),
        Deletion::AlreadyDeleted { version: 2 }
    );
    assert_eq!(delete(&mut conn, SOURCE, &loader(), "Encounter", "nope").expect("delete"), Deletion::NotFound);
    let mapped: i64 = encounters::table.count().get_result(&mut conn).expect("count");
    assert_eq!(mapped, 0);
    assert_eq!(
        delete(&mut conn, SOURCE, &loader(), "Patient", "p1").expect("delete"),
        Deletion::Deleted { version: 2 }
    );
    assert_eq!(current(&mut conn).version, 0, "the patient's row is a placeholder again");

    // The same content sent again brings the resource back as a new version.
    let back = send(&mut conn, vec![encounter]);
    assert_eq!(back.updated, 1, "{back:?}");
    let versions: Vec<(i32, bool, bool)> = raw_resources::table
        .filter(raw_resources::fhir_id.eq("e1"))
        .order(raw_resources::version)
        .select((raw_resources::version, raw_resources::deleted, raw_resources::superseded_at.is_null()))
        .load(&mut conn)
        .expect("versions");
    assert_eq!(versions, vec![(1, false, false), (2, true, false), (3, false, true)]);
    let mapped: i64 = encounters::table.count().get_result(&mut conn).expect("count");
    assert_eq!(mapped, 1);
}

#[test]
fn a_resource_may_arrive_before_its_patient() {
    let db = TestDb::migrated();
    let mut conn = db.connect();
    let encounter = json!({ "resourceType": "Encounter", "id": "e1", "status": "finished", "subject": { "reference": "Patient/p1" },
        "class": { "code": "IMP" }, "period": { "start": "2025-01-01T08:00:00Z", "end": "2025-01-04T10:00:00Z" } });
    assert_eq!(send(&mut conn, vec![encounter]).stored, 1);
    let waiting = current(&mut conn);
    assert_eq!((waiting.version, waiting.content_hash.is_none()), (0, true), "a placeholder until the patient arrives");
    send(&mut conn, vec![patient("female", "2025-01-01T00:00:00Z")]);
    let arrived = current(&mut conn);
    assert_eq!(
        (arrived.id, arrived.version, arrived.sex.as_deref()),
        (waiting.id, 1, Some("female")),
        "the same row, filled in"
    );
}

#[test]
fn three_concurrent_loads_of_one_bundle_store_one_version() {
    let db = TestDb::migrated();
    let path = vigil_store::testing::fixtures().join("synthea-bundles/patient-01.json.gz");
    let loads: Vec<_> = (0..3)
        .map(|_| {
            let (url, path) = (db.url().to_owned(), path.clone());
            std::thread::spawn(move || {
                let mut conn = PgConnection::establish(&url).expect("connect");
                vigil_ehr_adapter::load::load(&mut conn, SOURCE, &loader(), &[path], 500, |_| {})
                    .expect("load")
                    .totals()
            })
        })
        .collect();
    let totals: Vec<_> = loads.into_iter().map(|l| l.join().expect("load")).collect();
    let stored: u64 = totals.iter().map(|t| t.stored).sum();
    let mut conn = db.connect();
    let raw: i64 = raw_resources::table.count().get_result(&mut conn).expect("count");
    assert_eq!(stored, raw as u64, "each resource stored by exactly one of the loads");
    let current: i64 = raw_resources::table
        .filter(raw_resources::superseded_at.is_null())
        .count()
        .get_result(&mut conn)
        .expect("count");
    assert_eq!(current, raw, "one version each");
    assert!(totals.iter().all(|t| t.rejected == 0 && t.updated == 0));
}

fn loader() -> vigil_store::audit::AuditEvent {
    vigil_store::audit::AuditEvent::new(
        "service:test-loader",
        "service",
        "ingest",
        vigil_store::audit::Outcome::Success,
    )
}
