//! The FHIR API as a client sees it, writing: transaction and batch Bundles (all or nothing, or
//! entry by entry), create with If-None-Exist and update with If-Match, `$import` of NDJSON in the
//! background, deletes, and a Synthea transaction Bundle posted whole.

use serde_json::{Value, json};
use vigil_store::testing::TestDb;

use crate::fhir_api::{fixture_resources, outcome_of};
use crate::ingest::fixture;
use crate::support::seed::{self, bearer};
use crate::support::{App, run, vigil};

fn patient(id_or_uuid: &str, family: &str) -> Value {
    json!({
        "resourceType": "Patient",
        "identifier": [{ "system": "urn:test:mrn", "value": format!("MRN-{family}") }],
        "name": [{ "family": family, "given": ["Ada"] }],
        "gender": "female",
        "birthDate": "1951-02-03",
        "id": id_or_uuid,
    })
}

fn transaction(kind: &str, entries: Vec<Value>) -> Value {
    json!({ "resourceType": "Bundle", "type": kind, "entry": entries })
}

/// A server with integration user `feed` (and `others`, of the given roles); feed's bearer header.
fn feed_app(others: &[(&str, &str)]) -> (TestDb, App, String) {
    let db = TestDb::migrated();
    seed::user(db.url(), "feed", "integration", &[]);
    for (name, role) in others {
        seed::user(db.url(), name, role, &[]);
    }
    let app = App::spawn(db.url());
    let feed = bearer(&seed::token(&app, "feed"));
    (db, app, feed)
}

#[test]
fn bundles_push_data_in_all_or_nothing_or_entry_by_entry() {
    let (db, app, feed) = feed_app(&[("nurse", "clinician")]);
    let auth = [("authorization", feed.as_str())];

    // A Synthea-style transaction: urn:uuid full URLs, references between entries.
    let mut pat = patient("x", "Lovelace");
    pat.as_object_mut().expect("object").remove("id");
    let bundle = transaction(
        "transaction",
        vec![
            json!({ "fullUrl": "urn:uuid:5e1c0c1e-0000-4000-8000-000000000001", "resource": pat,
                    "request": { "method": "POST", "url": "Patient" } }),
            json!({ "fullUrl": "urn:uuid:5e1c0c1e-0000-4000-8000-000000000002",
                    "resource": { "resourceType": "Encounter", "status": "finished",
                        "class": { "code": "IMP" }, "period": { "start": "2025-01-02T10:00:00Z", "end": "2025-01-05T10:00:00Z" },
                        "subject": { "reference": "urn:uuid:5e1c0c1e-0000-4000-8000-000000000001" } },
                    "request": { "method": "POST", "url": "Encounter" } }),
        ],
    );
    let response = app.post_json("/fhir", &auth, &bundle);
    assert_eq!(response.status, 200, "{}", response.body);
    let body = response.json();
    assert_eq!(body["type"], "transaction-response");
    assert_eq!(body["entry"][0]["response"]["status"], "201 Created");
    assert_eq!(body["entry"][0]["response"]["location"], "Patient/5e1c0c1e-0000-4000-8000-000000000001/_history/1");
    let encounter = app.get_with("/fhir/Encounter/5e1c0c1e-0000-4000-8000-000000000002", &auth).json();
    assert_eq!(encounter["subject"]["reference"], "Patient/5e1c0c1e-0000-4000-8000-000000000001");

    // The same Bundle again changes nothing.
    let again = app.post_json("/fhir", &auth, &bundle).json();
    assert_eq!(again["entry"][0]["response"]["status"], "200 OK");
    assert_eq!(again["entry"][0]["response"]["etag"], "W/\"1\"");

    // One broken entry: a transaction stores nothing and says where; the reject is kept.
    let broken = transaction(
        "transaction",
        vec![
            json!({ "resource": patient("tx-good", "Hopper") }),
            json!({ "resource": { "resourceType": "Observation", "id": "tx-bad", "status": "final", "code": {},
                    "subject": { "reference": "Patient/tx-good" }, "effectiveDateTime": "last tuesday" } }),
        ],
    );
    let refused = app.post_json("/fhir", &auth, &broken);
    assert_eq!(refused.status, 400, "{}", refused.body);
    let issue = &outcome_of(&refused)["issue"][0];
    assert_eq!(issue["expression"][0], "Observation.effectiveDateTime");
    assert!(issue["diagnostics"].as_str().is_some_and(|d| d.contains("entry 1")), "{issue}");
    assert_eq!(app.get_with("/fhir/Patient/tx-good", &auth).status, 404, "all or nothing");
    let (_, listed, _) = run(vigil().args(["ingest", "rejects"]).env("DATABASE_URL", db.url()));
    assert!(listed.contains("Observation/tx-bad"), "{listed}");

    // The same as a batch: each entry on its own.
    let mut batch = broken.clone();
    batch["type"] = json!("batch");
    let response = app.post_json("/fhir", &auth, &batch);
    assert_eq!(response.status, 200, "{}", response.body);
    let body = response.json();
    assert_eq!(body["type"], "batch-response");
    assert_eq!(body["entry"][0]["response"]["status"], "201 Created");
    assert_eq!(body["entry"][1]["response"]["status"], "422 Unprocessable Entity");
    assert_eq!(body["entry"][1]["response"]["outcome"]["issue"][0]["expression"][0], "Observation.effectiveDateTime");
    assert_eq!(app.get_with("/fhir/Patient/tx-good", &auth).status, 200);

    // Not a Bundle, not JSON, not allowed.
    assert_eq!(app.post_json("/fhir", &auth, &patient("p", "Q")).status, 400);
    let garbled = app.request(
        "POST",
        "/fhir",
        &[auth[0], ("content-type", "application/fhir+json")],
        Some("{\"resourceType\":".into()),
    );
    assert_eq!(garbled.status, 400);
    assert!(outcome_of(&garbled)["issue"][0]["diagnostics"].as_str().is_some_and(|d| d.contains("not valid JSON")));
    assert_eq!(app.post_json("/fhir", &auth, &transaction("collection", vec![])).status, 422);
    let nurse = bearer(&seed::token(&app, "nurse"));
    assert_eq!(app.post_json("/fhir", &[("authorization", &nurse)], &bundle).status, 403);
}

#[test]
fn create_and_update_are_conditional() {
    let (_db, app, feed) = feed_app(&[]);
    let auth = [("authorization", feed.as_str())];

    let condition = "identifier=urn:test:mrn|MRN-Turing";
    let first = app.post_json("/fhir/Patient", &[auth[0], ("if-none-exist", condition)], &patient("ignored", "Turing"));
    assert_eq!(first.status, 201, "{}", first.body);
    let id = first.json()["id"].as_str().expect("id").to_owned();
    assert_ne!(id, "ignored", "the server assigns the id of a created resource");
    assert!(first.header("location").is_some_and(|l| l.ends_with(&format!("/fhir/Patient/{id}/_history/1"))));
    let second = app.post_json("/fhir/Patient", &[auth[0], ("if-none-exist", condition)], &patient("other", "Turing"));
    assert_eq!(second.status, 200, "an existing match is returned, not created again");
    assert_eq!(second.json()["id"], id.as_str());
    let bad_condition =
        app.post_json("/fhir/Patient", &[auth[0], ("if-none-exist", "colour=blue")], &patient("x", "T"));
    assert_eq!(bad_condition.status, 400);

    // Update with If-Match: the current version, or 412.
    let mut changed = patient(&id, "Turing");
    changed["gender"] = json!("male");
    let stale = app.request(
        "PUT",
        &format!("/fhir/Patient/{id}"),
        &[auth[0], ("if-match", "W/\"7\""), ("content-type", "application/fhir+json")],
        Some(changed.to_string()),
    );
    assert_eq!(stale.status, 412, "{}", stale.body);
    let updated = app.request(
        "PUT",
        &format!("/fhir/Patient/{id}"),
        &[auth[0], ("if-match", "W/\"1\""), ("content-type", "application/fhir+json")],
        Some(changed.to_string()),
    );
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.header("etag"), Some("W/\"2\""));
    assert_eq!(updated.json()["gender"], "male");

    // Both versions stay in the history, newest first; vread reads the old one.
    let history = app.get_with(&format!("/fhir/Patient/{id}/_history"), &auth).json();
    assert_eq!(history["type"], "history");
    let versions: Vec<&str> = history["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["resource"]["meta"]["versionId"].as_str())
        .collect();
    assert_eq!(versions, ["2", "1"]);
    assert_eq!(app.get_with(&format!("/fhir/Patient/{id}/_history/1"), &auth).json()["gender"], "female");

    // PUT with a new client id creates; ids must agree; an invalid resource is a 422 naming the element.
    let created = app.request(
        "PUT",
        "/fhir/Patient/client-chosen",
        &[auth[0]],
        Some(patient("client-chosen", "Liskov").to_string()),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let mismatch = app.request("PUT", "/fhir/Patient/one", &[auth[0]], Some(patient("two", "Liskov").to_string()));
    assert_eq!(mismatch.status, 400);
    let mut invalid = patient("client-chosen", "Liskov");
    invalid["birthDate"] = json!("the fifties");
    let rejected = app.request("PUT", "/fhir/Patient/client-chosen", &[auth[0]], Some(invalid.to_string()));
    assert_eq!(rejected.status, 422, "{}", rejected.body);
    assert_eq!(outcome_of(&rejected)["issue"][0]["expression"][0], "Patient.birthDate");
    let wrong_type = app.request(
        "PUT",
        "/fhir/Encounter/client-chosen",
        &[auth[0]],
        Some(patient("client-chosen", "L").to_string()),
    );
    assert_eq!(wrong_type.status, 400);
}

#[test]
fn import_runs_ndjson_in_the_background_and_reports_errors() {
    let (_db, app, feed) = feed_app(&[("other-feed", "integration")]);
    let ndjson = |body: String| {
        app.request(
            "POST",
            "/fhir/$import",
            &[("authorization", &feed), ("content-type", "application/fhir+ndjson")],
            Some(body),
        )
    };
    let mut body: String = fixture_resources("Patient.ndjson.gz").iter().map(|p| format!("{p}\n")).collect();
    let patients = body.lines().count();
    body.push_str("{\"resourceType\": \"Patient\", \"id\": \"broken\", \"birthDate\": \"soon\"}\n");

    let accepted = ndjson(body.clone());
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let location = accepted.header("content-location").expect("Content-Location").to_owned();
    let status_path = location.strip_prefix(&app.base).expect("on this server").to_owned();
    let poll_done = |path: &str| {
        crate::support::poll("the import to finish", || {
            let status = app.get_with(path, &[("authorization", &feed)]);
            (status.status != 202).then_some(status)
        })
    };
    let done = poll_done(&status_path);
    assert_eq!(done.status, 200, "{}", done.body);
    let manifest = done.json();
    let patient_output = manifest["output"]
        .as_array()
        .expect("output")
        .iter()
        .find(|o| o["type"] == "Patient")
        .cloned()
        .expect("Patient");
    assert_eq!(patient_output["count"], patients);
    assert_eq!(patient_output["stored"], patients);
    assert_eq!(patient_output["rejected"], 1);
    let errors_url = manifest["error"][0]["url"].as_str().expect("errors link");
    let errors = app.get_with(errors_url.strip_prefix(&app.base).expect("here"), &[("authorization", &feed)]);
    assert_eq!(errors.status, 200);
    let lines: Vec<Value> = errors.body.lines().map(|l| serde_json::from_str(l).expect("outcome")).collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["issue"][0]["expression"][0], "Patient.birthDate");
    assert!(
        lines[0]["issue"][0]["diagnostics"].as_str().is_some_and(|d| d.contains(&format!("line {}", patients + 1)))
    );
    assert_eq!(app.get_with("/fhir/Patient/pt-00ddd5bb1c41", &[("authorization", &feed)]).status, 200);

    // Only whoever asked sees a job; the same data again changes nothing.
    let other = bearer(&seed::token(&app, "other-feed"));
    assert_eq!(app.get_with(&status_path, &[("authorization", &other)]).status, 404);
    let again =
        poll_done(ndjson(body).header("content-location").and_then(|l| l.strip_prefix(&app.base)).expect("location"));
    let output = again.json()["output"]
        .as_array()
        .expect("output")
        .iter()
        .find(|o| o["type"] == "Patient")
        .cloned()
        .expect("Patient");
    assert_eq!(output["unchanged"], patients);

    let wrong_type = app.request(
        "POST",
        "/fhir/$import",
        &[("authorization", &feed), ("content-type", "application/json")],
        Some("{}".into()),
    );
    assert_eq!(wrong_type.status, 415);
    assert_eq!(app.get_with("/fhir/$import-status/not-a-job", &[("authorization", &feed)]).status, 404);
}

#[test]
fn deleted_resources_are_gone_and_may_come_back() {
    let (_db, app, feed) = feed_app(&[]);
    let auth = [("authorization", feed.as_str())];
    let put = |path: &str, body: &Value| app.request("PUT", path, &auth, Some(body.to_string()));
    assert_eq!(put("/fhir/Patient/del-1", &patient("del-1", "Gone")).status, 201);
    let encounter = json!({ "resourceType": "Encounter", "id": "del-e1", "status": "finished", "class": { "code": "AMB" },
        "subject": { "reference": "Patient/del-1" }, "period": { "start": "2025-03-01T09:00:00Z" } });
    assert_eq!(put("/fhir/Encounter/del-e1", &encounter).status, 201);

    let refused = app.request("DELETE", "/fhir/Patient/del-1", &auth, None);
    assert_eq!(refused.status, 409, "{}", refused.body);
    let deleted = app.request("DELETE", "/fhir/Encounter/del-e1", &auth, None);
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    assert_eq!(deleted.header("etag"), Some("W/\"2\""));
    let gone = app.get_with("/fhir/Encounter/del-e1", &auth);
    assert_eq!(gone.status, 410);
    assert_eq!(outcome_of(&gone)["issue"][0]["code"], "deleted");
    let listed = app.get_with("/fhir/Encounter?patient=del-1", &auth).json();
    assert_eq!(listed["entry"].as_array().map(Vec::len), Some(0));
    assert_eq!(app.request("DELETE", "/fhir/Encounter/del-e1", &auth, None).status, 204, "deleting twice is harmless");
    assert_eq!(app.request("DELETE", "/fhir/Encounter/never-was", &auth, None).status, 404);

    // Sent again, it is back as a new version; its history shows the deletion.
    assert_eq!(put("/fhir/Encounter/del-e1", &encounter).status, 200);
    let history = app.get_with("/fhir/Encounter/del-e1/_history", &auth).json();
    let methods: Vec<&str> =
        history["entry"].as_array().expect("entries").iter().filter_map(|e| e["request"]["method"].as_str()).collect();
    assert_eq!(methods, ["PUT", "DELETE", "POST"]);
    assert_eq!(app.get_with("/fhir/Encounter/del-e1/_history/2", &auth).status, 410);

    assert_eq!(app.request("DELETE", "/fhir/Encounter/del-e1", &auth, None).status, 204);
    assert_eq!(app.request("DELETE", "/fhir/Patient/del-1", &auth, None).status, 204);
    assert_eq!(app.get_with("/fhir/Patient/del-1", &auth).status, 410);
}

#[test]
fn a_synthea_transaction_bundle_posts_whole() {
    let (_db, app, feed) = feed_app(&[]);
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(
            std::fs::File::open(fixture("synthea-bundles/patient-01.json.gz")).expect("fixture"),
        ),
        &mut text,
    )
    .expect("read");
    let sent: Value = serde_json::from_str(&text).expect("bundle");
    let entries = sent["entry"].as_array().expect("entries").len();
    let response = app.request(
        "POST",
        "/fhir",
        &[("authorization", &feed), ("content-type", "application/fhir+json")],
        Some(text.clone()),
    );
    assert_eq!(response.status, 200, "{}", &response.body[..response.body.len().min(2000)]);
    let body = response.json();
    let statuses: Vec<&str> =
        body["entry"].as_array().expect("entries").iter().filter_map(|e| e["response"]["status"].as_str()).collect();
    assert_eq!(statuses.len(), entries);
    assert!(statuses.iter().all(|s| *s == "201 Created"), "{:?}", statuses.iter().find(|s| **s != "201 Created"));
    let patient_id =
        sent["entry"][0]["fullUrl"].as_str().and_then(|u| u.strip_prefix("urn:uuid:")).expect("patient uuid");
    let encounters =
        app.get_with(&format!("/fhir/Encounter?patient={patient_id}&_count=1000"), &[("authorization", &feed)]).json();
    let expected = sent["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "Encounter")
        .count();
    assert_eq!(encounters["entry"].as_array().map(Vec::len), Some(expected));
    let again = app
        .request("POST", "/fhir", &[("authorization", &feed), ("content-type", "application/fhir+json")], Some(text))
        .json();
    assert!(
        again["entry"].as_array().expect("entries").iter().all(|e| e["response"]["status"] == "200 OK"),
        "the same Bundle again changes nothing"
    );
}
