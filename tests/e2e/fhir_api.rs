//! The FHIR API as a client sees it, reading: search with paging over loaded fixtures, history,
//! and each clinician's units; errors as OperationOutcomes with the right status. Writes are in
//! `fhir_writes.rs`.

use std::collections::BTreeSet;
use std::io::BufRead;

use serde_json::{Value, json};
use vigil_store::testing::TestDb;

use crate::ingest::fixture;
use crate::support::seed::{self, bearer};
use crate::support::{App, Response, run, vigil};

/// The fixture's resources of one type, as a client would compare against.
pub fn fixture_resources(file: &str) -> Vec<Value> {
    let reader = std::io::BufReader::new(flate2::read::GzDecoder::new(
        std::fs::File::open(fixture(&format!("hospital-ndjson/{file}"))).expect("fixture"),
    ));
    reader.lines().map(|l| serde_json::from_str(&l.expect("line")).expect("json")).collect()
}

/// Follows `next` links from `first`, returning the ids of every entry in order.
fn all_pages(app: &App, token: &str, first: &str) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut url = first.to_owned();
    loop {
        let page = app.get_with(&url, &[("authorization", token)]);
        assert_eq!(page.status, 200, "{url}: {}", page.body);
        let bundle = page.json();
        assert_eq!(bundle["type"], "searchset");
        pages += 1;
        for entry in bundle["entry"].as_array().expect("entries") {
            ids.push(entry["resource"]["id"].as_str().expect("id").to_owned());
        }
        let next = bundle["link"].as_array().expect("links").iter().find(|l| l["relation"] == "next").cloned();
        match next {
            Some(link) => {
                let absolute = link["url"].as_str().expect("url");
                url = absolute.strip_prefix(&app.base).expect("next link on this server").to_owned();
            }
            None => return (ids, pages),
        }
    }
}

pub fn outcome_of(response: &Response) -> Value {
    let body = response.json();
    assert_eq!(body["resourceType"], "OperationOutcome", "{}", response.body);
    body
}

#[test]
fn search_pages_through_what_was_loaded() {
    let db = TestDb::migrated();
    let (status, out, err) = run(vigil()
        .arg("ingest")
        .args(
            ["Patient", "Encounter", "Condition", "Observation"]
                .map(|t| fixture(&format!("hospital-ndjson/{t}.ndjson.gz"))),
        )
        .env("DATABASE_URL", db.url()));
    assert!(status.success(), "{out}{err}");
    seed::user(db.url(), "analyst", "informatics", &[]);
    seed::user(db.url(), "chief", "admin", &[]);
    let app = App::spawn(db.url());
    let token = bearer(&seed::token(&app, "analyst"));
    let get = |path: &str| app.get_with(path, &[("authorization", &token)]);

    // Patients by identifier (with and without system), name prefix, birth date.
    let by_mrn = get("/fhir/Patient?identifier=http://hospital.example.org/identifiers/mrn|POP-000209").json();
    assert_eq!(by_mrn["entry"].as_array().map(Vec::len), Some(1));
    assert_eq!(by_mrn["entry"][0]["resource"]["id"], "pt-00ddd5bb1c41");
    assert_eq!(get("/fhir/Patient?identifier=POP-000209").json()["entry"][0]["resource"]["id"], "pt-00ddd5bb1c41");
    let coopers = get("/fhir/Patient?name=coop&birthdate=1940-10-10").json();
    assert!(coopers["entry"].as_array().expect("entries").iter().any(|e| e["resource"]["id"] == "pt-00ddd5bb1c41"));
    let born_1940s = get("/fhir/Patient?birthdate=ge1940-01-01&birthdate=lt1950-01-01&_count=1000").json();
    let expected: BTreeSet<String> = fixture_resources("Patient.ndjson.gz")
        .iter()
        .filter(|p| p["birthDate"].as_str().is_some_and(|d| ("1940".."1950").contains(&&d[..4])))
        .map(|p| p["id"].as_str().expect("id").to_owned())
        .collect();
    let found: BTreeSet<String> = born_1940s["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["resource"]["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(found, expected);

    // Sodium values of a patient, paged three at a time: each exactly once.
    let sodium: BTreeSet<String> = fixture_resources("Observation.ndjson.gz")
        .iter()
        .filter(|o| o["subject"]["reference"] == "Patient/pt-00ddd5bb1c41")
        .filter(|o| o["code"]["coding"].as_array().is_some_and(|c| c.iter().any(|c| c["code"] == "2951-2")))
        .map(|o| o["id"].as_str().expect("id").to_owned())
        .collect();
    assert!(sodium.len() > 3, "the fixture has enough sodium values to page through");
    let (ids, pages) = all_pages(
        &app,
        &token,
        "/fhir/Observation?patient=Patient/pt-00ddd5bb1c41&code=http://loinc.org|2951-2&_count=3",
    );
    assert_eq!(ids.len(), sodium.len(), "no resource twice");
    assert_eq!(ids.iter().cloned().collect::<BTreeSet<_>>(), sodium);
    assert_eq!(pages, sodium.len().div_ceil(3));
    let (in_2025, _) =
        all_pages(&app, &token, "/fhir/Observation?patient=pt-00ddd5bb1c41&code=2951-2&date=2025&_count=500");
    assert!(!in_2025.is_empty() && in_2025.len() <= sodium.len());

    // Conditions by ICD-10-CM code, with the system; a SNOMED system finds no ICD-10 code.
    let obesity = get("/fhir/Condition?patient=pt-00ddd5bb1c41&code=http://hl7.org/fhir/sid/icd-10-cm|E66.9").json();
    assert_eq!(obesity["entry"][0]["resource"]["id"], "cond-1ae3c0130df4");
    let none = get("/fhir/Condition?patient=pt-00ddd5bb1c41&code=http://snomed.info/sct|E66.9").json();
    assert_eq!(none["entry"].as_array().map(Vec::len), Some(0));

    // Encounters by class and status, and by date against their period.
    let encounters = fixture_resources("Encounter.ndjson.gz");
    let inpatient = encounters
        .iter()
        .filter(|e| e["subject"]["reference"] == "Patient/pt-00ddd5bb1c41" && e["class"]["code"] == "IMP")
        .count();
    let (found, _) = all_pages(&app, &token, "/fhir/Encounter?patient=pt-00ddd5bb1c41&class=IMP&status=finished");
    assert_eq!(found.len(), inpatient);
    let stay = &encounters.iter().find(|e| e["id"] == "enc-a84991112555").expect("stay")["period"];
    let day = &stay["start"].as_str().expect("start")[..10];
    let (on_day, _) = all_pages(&app, &token, &format!("/fhir/Encounter?patient=pt-00ddd5bb1c41&date=ge{day}"));
    assert!(on_day.contains(&"enc-a84991112555".to_owned()), "{on_day:?}");

    // Everything loaded is reachable by _lastUpdated paging, as `vigil pull` reads it.
    let (all, _) = all_pages(&app, &token, "/fhir/Condition?_lastUpdated=ge2000-01-01&_count=250");
    assert_eq!(all.len(), fixture_resources("Condition.ndjson.gz").len());

    // Client mistakes are 400 OperationOutcomes that say what is wrong.
    let unknown = get("/fhir/Observation?subject=Patient/x");
    assert_eq!(unknown.status, 400);
    assert!(outcome_of(&unknown)["issue"][0]["diagnostics"].as_str().is_some_and(|d| d.contains("subject")));
    assert_eq!(get("/fhir/Observation?date=yesterday").status, 400);
    assert_eq!(get("/fhir/Observation?_count=abc").status, 400);
    assert_eq!(get("/fhir/Observation?code:text=hemoglobin").status, 400);
    assert_eq!(get("/fhir/Basic?_id=x").status, 404);
    assert_eq!(app.get("/fhir/Patient?name=x").status, 401);
    let chief = bearer(&seed::token(&app, "chief"));
    assert_eq!(
        app.get_with("/fhir/Patient?name=coop", &[("authorization", &chief)]).status,
        403,
        "admins read no records"
    );

    // Each patient whose data a search returned is audited.
    let mut conn = db.connect();
    use diesel::prelude::*;
    let audited: i64 = diesel::sql_query(
        "SELECT count(*) AS n FROM audit_log WHERE action = 'search' AND actor = 'user:analyst' \
         AND (SELECT id FROM patients WHERE fhir_id = 'pt-00ddd5bb1c41') = ANY (COALESCE(patients, ARRAY[patient_id]))",
    )
    .get_result::<Count>(&mut conn)
    .expect("count")
    .n;
    assert!(audited >= 5, "{audited}");
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[test]
fn clinicians_search_only_their_units() {
    let db = TestDb::migrated();
    seed::unit(db.url(), "ICU");
    seed::unit(db.url(), "WARD-4");
    seed::user(db.url(), "nurse", "clinician", &["ICU"]);
    seed::patient(db.url(), "p-icu", "Searchable", "MRN-1", Some("ICU"));
    seed::patient(db.url(), "p-ward", "Searchable", "MRN-2", Some("WARD-4"));
    let app = App::spawn(db.url());
    let nurse = bearer(&seed::token(&app, "nurse"));
    let found = app.get_with("/fhir/Patient?name=searchable", &[("authorization", &nurse)]).json();
    let ids: Vec<&str> =
        found["entry"].as_array().expect("entries").iter().filter_map(|e| e["resource"]["id"].as_str()).collect();
    assert_eq!(ids, ["p-icu"]);
    let encounters = app.get_with("/fhir/Encounter?patient=p-ward", &[("authorization", &nurse)]).json();
    assert_eq!(encounters["entry"].as_array().map(Vec::len), Some(0), "another unit's data stays hidden");

    // Break-glass opens that patient to searches too, flagged in the audit.
    let opened = app.post_json(
        "/api/patients/p-ward/break-glass",
        &[("authorization", &nurse)],
        &json!({ "reason": "covering a colleague's patient tonight" }),
    );
    assert_eq!(opened.status, 201, "{}", opened.body);
    let encounters = app.get_with("/fhir/Encounter?patient=p-ward", &[("authorization", &nurse)]).json();
    assert_eq!(encounters["entry"][0]["resource"]["id"], "enc-p-ward");
    let mut conn = db.connect();
    use diesel::prelude::*;
    let flagged: i64 = diesel::sql_query(
        "SELECT count(*) AS n FROM audit_log WHERE action = 'search' AND break_glass AND patient_id = \
         (SELECT id FROM patients WHERE fhir_id = 'p-ward')",
    )
    .get_result::<Count>(&mut conn)
    .expect("count")
    .n;
    assert_eq!(flagged, 1);
}
