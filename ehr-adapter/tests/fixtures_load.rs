//! Loading the fixtures (`tests/fixtures`) into a real database: nothing lost, nothing doubled, rejects kept
//! with their locations.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use diesel::prelude::*;
use vigil_ehr_adapter::ingest::Summary;
use vigil_ehr_adapter::load::{DEFAULT_BATCH, load};
use vigil_store::schema::{encounters, ingest_rejects, patient_changes, patients, raw_resources};
use vigil_store::testing::TestDb;

/// Resources per type in the files, counted independently of the loader.
fn sent(path: &std::path::Path) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for file in vigil_ehr_adapter::read::files(path).expect("files") {
        for item in vigil_ehr_adapter::read::resources(&file).expect("open") {
            let ty = item.resource.as_ref().ok().and_then(|r| r["resourceType"].as_str().map(str::to_owned));
            *counts.entry(ty.unwrap_or_else(|| "(unreadable)".into())).or_default() += 1;
        }
    }
    counts
}

fn load_all(conn: &mut PgConnection, paths: &[PathBuf]) -> Summary {
    load(conn, "urn:test:hospital", &loader(), paths, DEFAULT_BATCH, |_| {}).expect("load")
}

#[test]
fn every_fixture_loads_once_and_a_second_load_changes_nothing() {
    let db = TestDb::migrated();
    let mut conn = db.connect();
    let paths = vec![vigil_store::testing::fixtures()];
    let first = load_all(&mut conn, &paths);
    let sent = sent(&vigil_store::testing::fixtures());
    for (ty, n) in &sent {
        let counts = first.by_type.get(ty).copied().unwrap_or_default();
        assert_eq!(counts.total(), *n, "{ty}: stored + rejected = sent");
        assert_eq!(counts.rejected, 0, "{ty}: nothing in the fixtures is invalid");
    }
    let total: u64 = sent.values().sum();
    assert_eq!(total, 50_222 + 23_819);
    // Synthea repeats the same Organization, Practitioner and Location in every patient's Bundle:
    // the repeats are the only resources a first load finds unchanged.
    for (ty, counts) in &first.by_type {
        if counts.unchanged > 0 {
            assert!(
                ["Organization", "Practitioner", "PractitionerRole", "Location"].contains(&ty.as_str()),
                "{ty}: {counts:?}"
            );
        }
    }
    let t = first.totals();
    let raw: i64 = raw_resources::table.count().get_result(&mut conn).expect("count");
    assert_eq!(raw as u64, t.stored + t.updated + t.outdated, "one raw row per stored version");
    let stored_patients: i64 =
        patients::table.filter(patients::version.gt(0)).count().get_result(&mut conn).expect("count");
    assert_eq!(stored_patients, 217 + 8);
    let placeholders: i64 =
        patients::table.filter(patients::version.eq(0)).count().get_result(&mut conn).expect("count");
    assert_eq!(placeholders, 0, "every referenced patient arrived");
    let inpatient: i64 =
        encounters::table.filter(encounters::class_code.eq("IMP")).count().get_result(&mut conn).expect("count");
    assert!(inpatient > 20, "inpatient stays are mapped ({inpatient})");
    let changes: i64 = patient_changes::table.count().get_result(&mut conn).expect("count");
    assert!(changes > 0, "the change feed records changed patients");
    let audited: Vec<Option<i64>> = vigil_store::schema::audit_log::table
        .filter(vigil_store::schema::audit_log::action.eq("ingest"))
        .select(vigil_store::schema::audit_log::patient_id)
        .distinct()
        .load(&mut conn)
        .expect("audited patients");
    assert_eq!(audited.len(), 217 + 8, "every patient written is audited");
    assert!(matches!(
        vigil_store::audit::verify(&mut conn).expect("verify"),
        vigil_store::audit::Verification::Intact { .. }
    ));

    let second = load_all(&mut conn, &paths);
    let totals = second.totals();
    assert_eq!(totals.unchanged, total, "loading again changes nothing: {second:?}");
    assert_eq!(totals.stored + totals.updated + totals.outdated + totals.rejected, 0);
    let raw_again: i64 = raw_resources::table.count().get_result(&mut conn).expect("count");
    assert_eq!(raw_again, raw);
}

#[test]
fn broken_input_is_rejected_with_its_location_and_the_rest_is_stored() {
    let db = TestDb::migrated();
    let mut conn = db.connect();
    let dir = tempfile::tempdir().expect("tempdir");

    // A copy of the Patient NDJSON with line 5 cut short, and a Synthea Bundle whose entry 3 lost its status.
    let patients_text = {
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut vigil_ehr_adapter::read::open(
                &vigil_store::testing::fixtures().join("hospital-ndjson/Patient.ndjson.gz"),
            )
            .expect("open"),
            &mut text,
        )
        .expect("read");
        text
    };
    let mut lines: Vec<String> = patients_text.lines().map(str::to_owned).collect();
    lines[4].truncate(40);
    let ndjson = dir.path().join("Patient.ndjson");
    std::fs::File::create(&ndjson).expect("create").write_all(lines.join("\n").as_bytes()).expect("write");

    let mut bundle_text = String::new();
    std::io::Read::read_to_string(
        &mut vigil_ehr_adapter::read::open(
            &vigil_store::testing::fixtures().join("synthea-bundles/patient-01.json.gz"),
        )
        .expect("open"),
        &mut bundle_text,
    )
    .expect("read");
    let mut bundle: serde_json::Value = serde_json::from_str(&bundle_text).expect("bundle");
    let entry = bundle["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .position(|e| e["resource"]["resourceType"] == "Encounter")
        .expect("an encounter");
    bundle["entry"][entry]["resource"].as_object_mut().expect("object").remove("status");
    bundle["entry"][entry]["resource"]["period"]["start"] = serde_json::json!("not a date");
    let bundle_path = dir.path().join("patient-01.json");
    std::fs::write(&bundle_path, bundle.to_string()).expect("write");

    let summary = load_all(&mut conn, &[ndjson.clone(), bundle_path.clone()]);
    let totals = summary.totals();
    assert_eq!(totals.rejected, 2, "{summary:?}");
    assert_eq!(
        totals.stored + totals.rejected,
        lines.len() as u64 + bundle["entry"].as_array().expect("entries").len() as u64
    );

    let rejects: Vec<(String, String, serde_json::Value)> = ingest_rejects::table
        .select((ingest_rejects::origin, ingest_rejects::location, ingest_rejects::outcome))
        .order(ingest_rejects::id)
        .load(&mut conn)
        .expect("rejects");
    assert_eq!(rejects.len(), 2);
    assert_eq!((rejects[0].0.as_str(), rejects[0].1.as_str()), (ndjson.to_str().expect("path"), "line 5"));
    assert!(rejects[0].2["issue"][0]["diagnostics"].as_str().expect("text").contains("not valid JSON"));
    assert_eq!(rejects[1].1, format!("entry {entry}"));
    let paths: Vec<&str> =
        rejects[1].2["issue"].as_array().expect("issues").iter().filter_map(|i| i["expression"][0].as_str()).collect();
    assert_eq!(paths, vec!["Encounter.status", "Encounter.period.start"], "each problem names its element");

    // Sending the corrected resource clears its reject.
    let fixed_dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(fixed_dir.path().join("fixed.json"), bundle_text).expect("write");
    load_all(&mut conn, &[fixed_dir.path().to_owned()]);
    let open: i64 = ingest_rejects::table
        .filter(ingest_rejects::resolved_at.is_null())
        .count()
        .get_result(&mut conn)
        .expect("count");
    assert_eq!(open, 1, "the encounter's reject is resolved; the truncated line's is not");
}

fn loader() -> vigil_store::audit::AuditEvent {
    vigil_store::audit::AuditEvent::new(
        "service:test-loader",
        "service",
        "ingest",
        vigil_store::audit::Outcome::Success,
    )
}
