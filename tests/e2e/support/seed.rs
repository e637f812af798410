//! Test data, made through the product's own paths: units, users and clients with the `vigil`
//! CLI; patients and encounters through the store (ingestion comes later).

use std::io::Write;
use std::process::Stdio;

use diesel::prelude::*;
use vigil_store::models::NewPatient;
use vigil_store::schema::{encounters, patients};

use super::{App, vigil};

pub const PASSWORD: &str = "a long and unusual passphrase";

/// Runs `vigil ARGS` against the database, with `stdin` piped in; panics unless it succeeds.
pub fn cli(database_url: &str, args: &[&str], stdin: &str) -> String {
    let mut child = vigil()
        .args(args)
        .env("DATABASE_URL", database_url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn vigil");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
    let out = child.wait_with_output().expect("vigil output");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "vigil {args:?} failed: {}{}", stdout, String::from_utf8_lossy(&out.stderr));
    stdout
}

pub fn unit(database_url: &str, code: &str) {
    cli(database_url, &["unit", "add", code, "--name", &format!("Unit {code}")], "");
}

pub fn user(database_url: &str, username: &str, role: &str, units: &[&str]) {
    let mut args = vec!["user", "add", username, "--role", role, "--password-stdin"];
    for unit in units {
        args.extend(["--unit", unit]);
    }
    cli(database_url, &args, &format!("{PASSWORD}\n"));
}

/// A patient with the given identity whose last encounter was on `unit`; returns its row id.
pub fn patient(database_url: &str, fhir_id: &str, family: &str, mrn: &str, unit: Option<&str>) -> i64 {
    let mut conn = PgConnection::establish(database_url).expect("connect");
    let id: i64 = diesel::insert_into(patients::table)
        .values(&NewPatient {
            source_system: "urn:test:ehr".into(),
            fhir_id: fhir_id.into(),
            version: 1,
            source_version_id: None,
            source_last_updated: None,
            content_hash: Some(vec![1; 32]),
            mrn: Some(mrn.into()),
            identifiers: serde_json::json!([{ "type": { "text": "MRN" }, "value": mrn }]),
            family_name: Some(family.into()),
            given_names: Some("Test".into()),
            birth_date: chrono::NaiveDate::from_ymd_opt(1948, 5, 17),
            sex: Some("female".into()),
            race_code: None,
            race_display: None,
            ethnicity_code: None,
            ethnicity_display: None,
            deceased: false,
            deceased_at: None,
            postal_code: Some("02139".into()),
        })
        .returning(patients::id)
        .get_result(&mut conn)
        .expect("insert patient");
    if let Some(unit) = unit {
        diesel::insert_into(encounters::table)
            .values((
                encounters::source_system.eq("urn:test:ehr"),
                encounters::fhir_id.eq(format!("enc-{fhir_id}")),
                encounters::version.eq(1),
                encounters::content_hash.eq(vec![2_u8; 32]),
                encounters::patient_id.eq(id),
                encounters::status.eq("in-progress"),
                encounters::class_code.eq("IMP"),
                encounters::period_start.eq(chrono::Utc::now() - chrono::Duration::days(2)),
                encounters::unit.eq(unit),
            ))
            .execute(&mut conn)
            .expect("insert encounter");
    }
    id
}

/// Signs in through the API and returns the bearer token.
pub fn token(app: &App, username: &str) -> String {
    let response =
        app.post_json("/auth/login", &[], &serde_json::json!({ "username": username, "password": PASSWORD }));
    assert_eq!(response.status, 200, "sign-in of {username}: {}", response.body);
    response.json()["access_token"].as_str().expect("access_token").to_owned()
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}
