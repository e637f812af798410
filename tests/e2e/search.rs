//! Search as a real FHIR client uses it: counting (`_count=0`, `_summary=count`, `_total`), sorting by
//! the date parameters with paging, and `_include` / `_revinclude` of the patient, read permission
//! checked for what is included; and the portal's start page sends the signed-out to sign in.

use serde_json::Value;
use vigil_store::testing::TestDb;

use crate::ingest::fixture;
use crate::support::seed::{self, bearer};
use crate::support::{App, run, vigil};

fn ids(bundle: &Value, mode: &str) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter(|e| e["search"]["mode"] == mode)
                .map(|e| {
                    format!(
                        "{}/{}",
                        e["resource"]["resourceType"].as_str().unwrap_or(""),
                        e["resource"]["id"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn counts_sorts_and_includes_as_clients_expect() {
    let db = TestDb::migrated();
    let (status, out, err) = run(vigil()
        .arg("ingest")
        .args(["Patient", "Encounter", "Observation"].map(|t| fixture(&format!("hospital-ndjson/{t}.ndjson.gz"))))
        .env("DATABASE_URL", db.url()));
    assert!(status.success(), "{out}{err}");
    seed::user(db.url(), "analyst", "informatics", &[]);
    let app = App::spawn(db.url());
    let token = bearer(&seed::token(&app, "analyst"));
    let get = |path: &str| {
        let response = app.get_with(path, &[("authorization", &token)]);
        assert_eq!(response.status, 200, "{path}: {}", response.body);
        response.json()
    };

    // Counting, as fhirpy's count() does (_count=0), and with _summary=count.
    let patients = get("/fhir/Patient?_count=0");
    let total = patients["total"].as_i64().expect("a total");
    assert_eq!(total, 217, "every patient of the fixtures");
    assert!(ids(&patients, "match").is_empty());
    let summary = get("/fhir/Patient?_summary=count&birthdate=lt1950-01-01");
    assert!(summary.get("entry").is_none() && summary["total"].as_i64().is_some_and(|n| 0 < n && n < total));
    assert!(get("/fhir/Patient?_count=5").get("total").is_none(), "no total unless asked for");
    assert_eq!(get("/fhir/Patient?_count=5&_total=accurate")["total"], total);

    // Sorted by a date, newest first, across pages.
    let mut dates: Vec<String> = Vec::new();
    let mut url = "/fhir/Observation?code=8867-4&_sort=-date&_count=40".to_owned();
    for _ in 0..3 {
        let page = get(&url);
        dates.extend(
            page["entry"]
                .as_array()
                .expect("entries")
                .iter()
                .map(|e| e["resource"]["effectiveDateTime"].as_str().unwrap_or("").to_owned()),
        );
        let next = page["link"].as_array().expect("links").iter().find(|l| l["relation"] == "next").cloned();
        let Some(next) = next else { break };
        url = next["url"].as_str().expect("url").strip_prefix(&app.base).expect("here").to_owned();
    }
    assert!(dates.len() > 40, "more than one page: {}", dates.len());
    let instants: Vec<chrono::DateTime<chrono::FixedOffset>> =
        dates.iter().map(|d| chrono::DateTime::parse_from_rfc3339(d).expect("a dateTime")).collect();
    assert!(instants.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let births: Vec<String> = get("/fhir/Patient?_sort=birthdate&_count=30")["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["resource"]["birthDate"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(births.windows(2).all(|w| w[0] <= w[1]), "{births:?}");
    assert_eq!(app.get_with("/fhir/Patient?_sort=gender", &[("authorization", &token)]).status, 400);

    // The patient of each match, and the encounters of a patient.
    let with_patients = get("/fhir/Observation?code=8867-4&_count=3&_include=Observation:patient");
    let matched = with_patients["entry"].as_array().expect("entries");
    let subjects: std::collections::BTreeSet<String> = matched
        .iter()
        .filter(|e| e["search"]["mode"] == "match")
        .map(|e| e["resource"]["subject"]["reference"].as_str().expect("subject").to_owned())
        .collect();
    let included: std::collections::BTreeSet<String> = ids(&with_patients, "include").into_iter().collect();
    assert_eq!(included, subjects);
    let one = get("/fhir/Patient?_id=pt-00ddd5bb1c41&_revinclude=Encounter:patient");
    assert_eq!(ids(&one, "match"), ["Patient/pt-00ddd5bb1c41"]);
    let encounters = ids(&one, "include");
    assert!(!encounters.is_empty() && encounters.iter().all(|e| e.starts_with("Encounter/")), "{encounters:?}");

    // What is included must be readable too.
    let observations_only = seed::client_bearer(&app, db.url(), "system/Observation.read");
    let refused = app
        .get_with("/fhir/Observation?_count=1&_include=Observation:patient", &[("authorization", &observations_only)]);
    assert_eq!(refused.status, 403);
    let allowed = app.get_with("/fhir/Observation?_count=1", &[("authorization", &observations_only)]);
    assert_eq!(allowed.status, 200);
}

#[test]
fn signed_out_the_start_page_leads_to_sign_in() {
    let db = TestDb::migrated();
    let app = App::spawn(db.url());
    let home = app.get("/");
    assert_eq!((home.status, home.header("location")), (303, Some("/sign-in")));
}
