//! One record, one identity, whatever its source: the same Patient id with other content from a
//! second source (files and pushes) is refused, and every route then serves, authorizes and audits
//! the one record that holds the id; `_history` never mixes two records.

use diesel::prelude::*;
use serde_json::{Value, json};
use vigil_store::schema::{audit_log, break_glass_grants, patients, raw_resources};
use vigil_store::testing::TestDb;

use crate::support::seed::{self, bearer};
use crate::support::{App, run, vigil};

fn patient(family: &str, mrn: &str) -> Value {
    json!({
        "resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1950-03-04",
        "identifier": [{ "system": "urn:test:mrn", "value": mrn }],
        "name": [{ "family": family, "given": ["Test"] }],
    })
}

fn encounter(id: &str, unit: &str) -> Value {
    let start = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    json!({
        "resourceType": "Encounter", "id": id, "status": "in-progress",
        "class": { "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP" },
        "subject": { "reference": "Patient/p1" },
        "period": { "start": start },
        "location": [{ "location": { "reference": format!("Location/{unit}") } }],
    })
}

/// Writes resources as one NDJSON file and loads it with `vigil ingest [--source S]`.
fn ingest(db: &TestDb, source: Option<&str>, resources: &[Value]) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("load.ndjson");
    let lines: Vec<String> = resources.iter().map(Value::to_string).collect();
    std::fs::write(&file, lines.join("\n")).expect("write");
    let mut cmd = vigil();
    cmd.arg("ingest").arg(&file).env("DATABASE_URL", db.url());
    if let Some(source) = source {
        cmd.args(["--source", source]);
    }
    let (status, out, err) = run(&mut cmd);
    (status.success(), format!("{out}{err}"))
}

#[test]
fn one_id_is_one_record_on_every_route() {
    let db = TestDb::migrated();
    seed::unit(db.url(), "ICU");
    seed::unit(db.url(), "WARD-4");
    seed::user(db.url(), "icu-nurse", "clinician", &["ICU"]);
    seed::user(db.url(), "ward-nurse", "clinician", &["WARD-4"]);
    seed::user(db.url(), "feed", "integration", &[]);

    let (ok, out) = ingest(&db, Some("urn:hospital:a"), &[patient("Alphaname", "A-1"), encounter("enc-a", "ICU")]);
    assert!(ok, "{out}");
    // The hospital's own feed (source `local`) sends the same id with other content.
    let (ok, out) = ingest(&db, None, &[patient("Betaname", "B-1"), encounter("enc-b", "WARD-4")]);
    assert!(!ok, "a refused load exits 1: {out}");
    let (_, rejects, _) = run(vigil().args(["ingest", "rejects"]).env("DATABASE_URL", db.url()));
    assert!(rejects.contains("Patient/p1 is held by source"), "{rejects}");
    assert!(rejects.contains("refers to Patient/p1, which is held by source"), "{rejects}");

    let app = App::spawn(db.url());
    let feed = bearer(&seed::token(&app, "feed"));
    let json_headers = [("authorization", feed.as_str()), ("content-type", "application/fhir+json")];
    let put = app.request("PUT", "/fhir/Patient/p1", &json_headers, Some(patient("Betaname", "B-1").to_string()));
    assert_eq!(put.status, 409, "{}", put.body);
    assert_eq!(put.json()["issue"][0]["code"], "conflict");
    let transaction = json!({ "resourceType": "Bundle", "type": "transaction", "entry": [
        { "resource": { "resourceType": "Patient", "id": "p2", "gender": "male" },
          "request": { "method": "PUT", "url": "Patient/p2" } },
        { "resource": encounter("enc-c", "WARD-4"), "request": { "method": "PUT", "url": "Encounter/enc-c" } },
    ]});
    let refused = app.request("POST", "/fhir", &json_headers, Some(transaction.to_string()));
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("held by source"), "{}", refused.body);
    let delete = app.request("DELETE", "/fhir/Patient/p1", &json_headers, None);
    assert_eq!(delete.status, 409, "{}", delete.body);

    let mut conn = db.connect();
    let holder: (i64, String) = patients::table
        .filter(patients::fhir_id.eq("p1"))
        .select((patients::id, patients::source_system))
        .first(&mut conn)
        .expect("p1");
    assert_eq!(holder.1, "urn:hospital:a");
    let rows: i64 =
        patients::table.filter(patients::fhir_id.eq_any(["p1", "p2"])).count().get_result(&mut conn).expect("n");
    assert_eq!(rows, 1, "one row for p1, and the refused transaction stored nothing");

    // Read, vread, history and search serve A's record, and only it.
    let icu = bearer(&seed::token(&app, "icu-nurse"));
    let get = |path: &str, token: &str| app.get_with(path, &[("authorization", token)]);
    let read = get("/fhir/Patient/p1", &icu);
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.json()["name"][0]["family"], "Alphaname");
    assert_eq!(get("/fhir/Patient/p1/_history/1", &icu).json()["name"][0]["family"], "Alphaname");
    assert_eq!(get("/fhir/Patient/p1/_history/2", &icu).status, 404);
    let history = get("/fhir/Patient/p1/_history", &icu).json();
    assert_eq!(history["total"], 1, "{history}");
    assert_eq!(history["entry"][0]["resource"]["name"][0]["family"], "Alphaname");
    let encounters = get("/fhir/Encounter?patient=p1", &icu).json();
    let ids: Vec<&str> =
        encounters["entry"].as_array().expect("entries").iter().filter_map(|e| e["resource"]["id"].as_str()).collect();
    assert_eq!(ids, ["enc-a"]);
    assert_eq!(get("/api/patients/p1", &icu).json()["units"], json!(["ICU"]));
    let versions: Vec<String> = raw_resources::table
        .filter(raw_resources::resource_type.eq("Patient").and(raw_resources::fhir_id.eq("p1")))
        .select(raw_resources::source_system)
        .load(&mut conn)
        .expect("versions");
    assert_eq!(versions, ["urn:hospital:a"]);

    // Authorized on the same record: the refused WARD-4 encounter gives the ward nurse nothing;
    // break-glass opens A's patient.
    let ward = bearer(&seed::token(&app, "ward-nurse"));
    assert_eq!(get("/fhir/Patient/p1", &ward).status, 403);
    let granted = app.post_json(
        "/api/patients/p1/break-glass",
        &[("authorization", &ward)],
        &json!({ "reason": "covering the unit overnight, rapid response" }),
    );
    assert_eq!(granted.status, 201, "{}", granted.body);
    assert_eq!(get("/fhir/Patient/p1", &ward).json()["name"][0]["family"], "Alphaname");
    let granted_on: Vec<i64> =
        break_glass_grants::table.select(break_glass_grants::patient_id).load(&mut conn).expect("grants");
    assert_eq!(granted_on, [holder.0]);

    // Every audit row that names a patient names A's.
    let audited: Vec<Option<i64>> = audit_log::table
        .filter(audit_log::patient_id.is_not_null())
        .select(audit_log::patient_id)
        .distinct()
        .load(&mut conn)
        .expect("audit");
    assert_eq!(audited, [Some(holder.0)]);
}
