//! One logical id, one resource: a second source sending a type and id that another source holds
//! is refused with a reason naming the holder, as is a resource that refers to another source's
//! patient; concurrent loads of one new id from two sources leave exactly one holder.

use diesel::prelude::*;
use serde_json::{Value, json};
use vigil_ehr_adapter::deletion::{Deletion, delete};
use vigil_ehr_adapter::ingest::{Counts, Fate, store};
use vigil_ehr_adapter::read::Incoming;
use vigil_store::audit::{AuditEvent, Outcome};
use vigil_store::schema::{encounters, ingest_rejects, patients, raw_resources};
use vigil_store::testing::TestDb;

fn loader() -> AuditEvent {
    AuditEvent::new("cli:test", "operator", "ingest", Outcome::Success)
}

fn patient(family: &str) -> Value {
    json!({ "resourceType": "Patient", "id": "p1", "name": [{ "family": family }], "gender": "female" })
}

fn encounter(id: &str, patient: &str) -> Value {
    json!({
        "resourceType": "Encounter", "id": id, "status": "finished",
        "class": { "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB" },
        "subject": { "reference": format!("Patient/{patient}") },
        "period": { "start": "2025-01-01T10:00:00Z", "end": "2025-01-01T11:00:00Z" },
    })
}

fn send(conn: &mut PgConnection, source: &str, resources: Vec<Value>) -> (Counts, Vec<Fate>) {
    let batch = resources
        .into_iter()
        .enumerate()
        .map(|(i, r)| Incoming::parsed(format!("{source} file"), format!("line {}", i + 1), r))
        .collect();
    let stored = store(conn, source, &loader(), batch).expect("store");
    (stored.summary.totals(), stored.fates)
}

fn diagnostics(fate: &Fate) -> String {
    match fate {
        Fate::Rejected { outcome } => {
            assert_eq!(outcome["issue"][0]["code"], "conflict", "{outcome}");
            outcome["issue"][0]["diagnostics"].as_str().expect("diagnostics").to_owned()
        }
        Fate::Accepted { .. } => panic!("accepted: {fate:?}"),
    }
}

#[test]
fn a_second_source_cannot_take_an_id_or_refer_to_another_sources_patient() {
    let db = TestDb::migrated();
    let mut conn = db.connect();
    let (counts, _) = send(&mut conn, "urn:a", vec![patient("Alpha"), encounter("e1", "p1")]);
    assert_eq!(counts.stored, 2);

    // The same id with other content, and the same content, from another source: both refused.
    for resources in [vec![patient("Beta")], vec![patient("Alpha")]] {
        let (counts, fates) = send(&mut conn, "urn:b", resources);
        assert_eq!(counts.rejected, 1);
        let message = diagnostics(&fates[0]);
        assert!(message.contains("Patient/p1 is held by source \"urn:a\""), "{message}");
        assert!(message.contains("urn:b file, line 1"), "names where it came from: {message}");
    }
    // A new resource of source B about A's patient, and B's copy of A's encounter: refused.
    let (counts, fates) = send(&mut conn, "urn:b", vec![encounter("e2", "p1"), encounter("e1", "p9")]);
    assert_eq!(counts.rejected, 2);
    assert!(diagnostics(&fates[0]).contains("refers to Patient/p1, which is held by source \"urn:a\""));
    assert!(diagnostics(&fates[1]).contains("Encounter/e1 is held by source \"urn:a\""));

    // One record: A's, untouched; every refusal kept with its reason; no placeholder for p9 made
    // by the refused encounter.
    let families: Vec<(String, Option<String>)> =
        patients::table.select((patients::source_system, patients::family_name)).load(&mut conn).expect("patients");
    assert_eq!(families, vec![("urn:a".to_owned(), Some("Alpha".to_owned()))]);
    let history: Vec<String> = raw_resources::table
        .filter(raw_resources::fhir_id.eq("p1"))
        .select(raw_resources::source_system)
        .load(&mut conn)
        .expect("history");
    assert_eq!(history, vec!["urn:a"], "history never mixes two records");
    let encounter_sources: Vec<String> =
        encounters::table.select(encounters::source_system).load(&mut conn).expect("encounters");
    assert_eq!(encounter_sources, vec!["urn:a"]);
    let rejects: i64 = ingest_rejects::table
        .filter(ingest_rejects::source_system.eq("urn:b"))
        .count()
        .get_result(&mut conn)
        .expect("rejects");
    assert_eq!(rejects, 4);

    // Source B cannot delete what A holds; A can send a new version.
    assert_eq!(
        delete(&mut conn, "urn:b", &loader(), "Encounter", "e1").expect("delete"),
        Deletion::HeldElsewhere { source_system: "urn:a".into() }
    );
    assert_eq!(send(&mut conn, "urn:a", vec![patient("Gamma")]).0.updated, 1);
}

#[test]
fn a_patient_first_known_from_a_reference_is_held_by_that_references_source() {
    let db = TestDb::migrated();
    let mut conn = db.connect();
    assert_eq!(send(&mut conn, "urn:a", vec![encounter("e1", "p1")]).0.stored, 1, "placeholder for p1 made");
    let (counts, fates) = send(&mut conn, "urn:b", vec![patient("Beta")]);
    assert_eq!(counts.rejected, 1);
    assert!(diagnostics(&fates[0]).contains("Patient/p1 is held by source \"urn:a\""));
    assert_eq!(send(&mut conn, "urn:a", vec![patient("Alpha")]).0.stored, 1, "its own source fills it in");
}

#[test]
fn two_sources_loading_one_new_id_at_once_leave_one_holder() {
    let db = TestDb::migrated();
    let loads: Vec<_> = ["urn:a", "urn:b", "urn:c"]
        .into_iter()
        .map(|source| {
            let url = db.url().to_owned();
            std::thread::spawn(move || {
                let mut conn = PgConnection::establish(&url).expect("connect");
                send(&mut conn, source, vec![patient(source), encounter(&format!("e-{}", &source[4..]), "p1")]).0
            })
        })
        .collect();
    let counts: Vec<Counts> = loads.into_iter().map(|l| l.join().expect("load")).collect();
    assert_eq!(counts.iter().filter(|c| c.stored == 2).count(), 1, "{counts:?}");
    assert_eq!(counts.iter().filter(|c| c.rejected == 2).count(), 2, "{counts:?}");
    let mut conn = db.connect();
    let holders: Vec<String> = raw_resources::table
        .filter(raw_resources::fhir_id.eq("p1"))
        .select(raw_resources::source_system)
        .load(&mut conn)
        .expect("history");
    assert_eq!(holders.len(), 1);
    let patient_source: String = patients::table.select(patients::source_system).first(&mut conn).expect("patient");
    assert_eq!(holders[0], patient_source);
}
