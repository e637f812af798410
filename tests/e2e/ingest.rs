//! `vigil ingest`: loads fixture files, reports per type, exits 1 on rejects, lists them; what was
//! loaded is readable through the FHIR API.

use std::path::PathBuf;

use vigil_store::testing::TestDb;

use crate::support::seed::{self, bearer};
use crate::support::{App, run, vigil};

pub fn fixture(path: &str) -> PathBuf {
    vigil_store::testing::fixtures().join(path)
}

#[test]
fn ingest_loads_reports_and_lists_rejects() {
    let db = TestDb::migrated();
    let patients = fixture("hospital-ndjson/Patient.ndjson.gz");
    let encounters = fixture("hospital-ndjson/Encounter.ndjson.gz");
    let ingest = |paths: &[&std::path::Path]| run(vigil().arg("ingest").args(paths).env("DATABASE_URL", db.url()));

    let (status, out, err) = ingest(&[&patients, &encounters]);
    assert!(status.success(), "{out}{err}");
    let line = |name: &str| {
        out.lines().find(|l| l.starts_with(name)).map(|l| l.split_whitespace().collect::<Vec<_>>()).unwrap_or_default()
    };
    assert_eq!(line("Patient"), ["Patient", "217", "0", "0", "0", "0"], "{out}");
    assert_eq!(line("Encounter"), ["Encounter", "1281", "0", "0", "0", "0"], "{out}");

    let (status, out, _) = ingest(&[&patients]);
    assert!(status.success());
    assert_eq!(
        line_of(&out, "Patient"),
        ["Patient", "0", "0", "217", "0", "0"],
        "a second load changes nothing: {out}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("Observation.ndjson");
    std::fs::write(&bad, "{\"resourceType\":\"Observation\",\"id\":\"o1\",\"status\":\"final\",\"code\":{},\"subject\":{\"reference\":\"Patient/x\"},\"effectiveDateTime\":\"last week\"}\n{\n").expect("write");
    let (status, out, _) = ingest(&[&bad]);
    assert_eq!(status.code(), Some(1), "rejects make the exit status 1: {out}");
    assert!(out.contains("2 resources were rejected"), "{out}");
    let (status, listed, _) = run(vigil().args(["ingest", "rejects"]).env("DATABASE_URL", db.url()));
    assert!(status.success());
    assert!(listed.contains(&format!("{}, line 1: Observation/o1", bad.display())), "{listed}");
    assert!(listed.contains("Observation.effectiveDateTime"), "{listed}");
    assert!(listed.contains("line 2"), "{listed}");

    // What was loaded is what a FHIR client reads.
    seed::user(db.url(), "feed", "integration", &[]);
    let app = App::spawn(db.url());
    let token = bearer(&seed::token(&app, "feed"));
    let read = app.get_with("/fhir/Patient/pt-00ddd5bb1c41", &[("authorization", &token)]);
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.json()["birthDate"], "1940-10-10");
    assert_eq!(read.json()["gender"], "female");

    // The other mapped types read as stored, with Vigil's version; vread by version.
    let encounter = app.get_with("/fhir/Encounter/enc-003059aff3ca", &[("authorization", &token)]);
    assert_eq!(encounter.status, 200, "{}", encounter.body);
    assert_eq!(encounter.json()["resourceType"], "Encounter");
    assert_eq!(encounter.json()["class"]["code"], "AMB");
    assert_eq!(encounter.json()["meta"]["versionId"], "1");
    assert_eq!(encounter.header("etag"), Some("W/\"1\""));
    let v1 = app.get_with("/fhir/Encounter/enc-003059aff3ca/_history/1", &[("authorization", &token)]);
    assert_eq!(v1.status, 200);
    assert_eq!(v1.json()["id"], "enc-003059aff3ca");
    let v2 = app.get_with("/fhir/Encounter/enc-003059aff3ca/_history/2", &[("authorization", &token)]);
    assert_eq!(v2.status, 404);
    assert_eq!(v2.json()["resourceType"], "OperationOutcome");
    assert_eq!(app.get_with("/fhir/Encounter/no-such", &[("authorization", &token)]).status, 404);
    let unserved = app.get_with("/fhir/Basic/x", &[("authorization", &token)]);
    assert_eq!((unserved.status, unserved.json()["resourceType"].as_str()), (404, Some("OperationOutcome")));

    // Access follows the patient the resource belongs to.
    seed::unit(db.url(), "ICU");
    seed::user(db.url(), "icu-nurse", "clinician", &["ICU"]);
    let nurse = bearer(&seed::token(&app, "icu-nurse"));
    assert_eq!(app.get_with("/fhir/Encounter/enc-003059aff3ca", &[("authorization", &nurse)]).status, 403);

    let metadata = app.get("/fhir/metadata").json();
    assert_eq!(metadata["resourceType"], "CapabilityStatement");
    let encounter_entry = metadata["rest"][0]["resource"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["type"] == "Encounter")
        .expect("Encounter listed")
        .clone();
    let interactions: Vec<&str> = encounter_entry["interaction"]
        .as_array()
        .expect("interactions")
        .iter()
        .filter_map(|i| i["code"].as_str())
        .collect();
    assert_eq!(interactions, ["read", "vread", "history-instance", "search-type", "create", "update", "delete"]);
    let params: Vec<&str> =
        encounter_entry["searchParam"].as_array().expect("params").iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(params, ["_id", "patient", "date", "class", "status", "_lastUpdated"]);
    assert!(
        metadata["rest"][0]["security"]["extension"][0]["extension"][0]["valueUri"]
            .as_str()
            .is_some_and(|u| u.ends_with("/auth/token"))
    );
}

pub fn line_of(out: &str, name: &str) -> Vec<String> {
    out.lines()
        .find(|l| l.starts_with(name))
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}
