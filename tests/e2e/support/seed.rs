//! Test data, made through the product's own paths: units, users and clients with the `vigil`
//! CLI; patients and encounters through ingestion.

use std::io::Write;
use std::process::Stdio;

use diesel::prelude::*;
use vigil_ehr_adapter::ingest::store_batch;
use vigil_ehr_adapter::read::Incoming;
use vigil_store::audit::{AuditEvent, Outcome};
use vigil_store::schema::patients;

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

/// A patient with the given identity whose current encounter is on `unit`, stored through
/// ingestion as FHIR resources; returns its row id.
pub fn patient(database_url: &str, fhir_id: &str, family: &str, mrn: &str, unit: Option<&str>) -> i64 {
    let mut resources = vec![serde_json::json!({
        "resourceType": "Patient",
        "id": fhir_id,
        "identifier": [{ "type": { "text": "MRN" }, "system": "urn:test:mrn", "value": mrn }],
        "name": [{ "family": family, "given": ["Test"] }],
        "gender": "female",
        "birthDate": "1948-05-17",
        "address": [{ "postalCode": "02139" }],
    })];
    if let Some(unit) = unit {
        let start = (chrono::Utc::now() - chrono::Duration::days(2)).to_rfc3339();
        resources.push(serde_json::json!({
            "resourceType": "Encounter",
            "id": format!("enc-{fhir_id}"),
            "status": "in-progress",
            "class": { "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP" },
            "subject": { "reference": format!("Patient/{fhir_id}") },
            "period": { "start": start },
            "location": [{ "location": { "reference": format!("Location/{unit}") } }],
        }));
    }
    ingest(database_url, resources);
    let mut conn = PgConnection::establish(database_url).expect("connect");
    patients::table.filter(patients::fhir_id.eq(fhir_id)).select(patients::id).first(&mut conn).expect("patient")
}

/// Stores FHIR resources through ingestion, as `vigil ingest` would; panics on a reject.
pub fn ingest(database_url: &str, resources: Vec<serde_json::Value>) {
    let mut conn = PgConnection::establish(database_url).expect("connect");
    let batch = Incoming::items("seed", resources);
    let loader = AuditEvent::new("cli:test", "operator", "ingest", Outcome::Success);
    let summary = store_batch(&mut conn, "local", &loader, batch).expect("store");
    assert_eq!(summary.totals().rejected, 0, "seed data rejected: {summary:?}");
}

/// A fresh EC P-384 key (kid `lab-1`): its public JWKS and the private key as PEM.
pub fn es384_jwks() -> (serde_json::Value, String) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).expect("key");
    let raw = pair.public_key_raw();
    let jwks = serde_json::json!({ "keys": [{
        "kty": "EC", "crv": "P-384", "kid": "lab-1", "alg": "ES384", "use": "sig",
        "x": b64.encode(&raw[1..49]), "y": b64.encode(&raw[49..97]),
    }]});
    (jwks, pair.serialize_pem())
}

/// Registers a SMART Backend Services client with an EC P-384 key (kid `lab-1`) through
/// `vigil client add`; returns its client id and the private key as PEM.
pub fn es384_client(database_url: &str, scopes: &str) -> (String, String) {
    let (jwks, pem) = es384_jwks();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, jwks.to_string()).expect("write");
    let id = cli(
        database_url,
        &["client", "add", "--name", "Lab system", "--jwks", file.to_str().expect("path"), "--scopes", scopes],
        "",
    );
    (id.trim().to_owned(), pem)
}

/// Registers a client with `scopes` and gets an access token for all of them through SMART
/// Backend Services; returns `Bearer <token>`.
pub fn client_bearer(app: &App, database_url: &str, scopes: &str) -> String {
    let (client, pem) = es384_client(database_url, scopes);
    let now = jsonwebtoken::get_current_timestamp();
    let claims = serde_json::json!({
        "iss": client, "sub": client, "aud": format!("{}/auth/token", app.base),
        "exp": now + 240, "jti": uuid::Uuid::new_v4().to_string(),
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES384);
    header.kid = Some("lab-1".into());
    let key = jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes()).expect("key");
    let assertion = jsonwebtoken::encode(&header, &claims, &key).expect("sign");
    let response = app.post_form(
        "/auth/token",
        &[],
        &[
            ("grant_type", "client_credentials"),
            ("scope", scopes),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", &assertion),
        ],
    );
    assert_eq!(response.status, 200, "token for {scopes}: {}", response.body);
    bearer(response.json()["access_token"].as_str().expect("access_token"))
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

/// The CSRF token a portal page's forms carry.
pub fn form_token(body: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = body.find(marker).expect("a csrf_token field") + marker.len();
    body[start..].split('"').next().expect("value").to_owned()
}

/// Signs `username` in through the portal's form; the answer to the sign-in post.
pub fn portal_sign_in(app: &App, username: &str) -> super::Response {
    let page = app.get("/sign-in");
    let csrf_cookie = page.cookie_pair("__Host-vigil-csrf").expect("csrf cookie");
    let signed_in = app.post_form(
        "/sign-in",
        &[("cookie", &csrf_cookie)],
        &[("username", username), ("password", PASSWORD), ("csrf_token", &form_token(&page.body))],
    );
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    signed_in
}

/// Signs `username` in through the portal's form; the session cookie pair.
pub fn portal_session(app: &App, username: &str) -> String {
    portal_sign_in(app, username).cookie_pair("__Host-vigil-session").expect("session")
}
