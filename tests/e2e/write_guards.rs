//! Writes that cannot sidestep their permission: `$import` parses each line with the importer's
//! own parser (a repeated key is refused, naming its line) and checks every type against the
//! requester's scopes, which the job keeps; a conditional create reveals a match only to who may
//! read it, and audits it; the write permission is checked before a body is read; bodies and
//! Bundles are bounded; API writes take only JSON, and cookie-authenticated ones only from this
//! site; the SMART audience never comes from the Host header.

use diesel::prelude::*;
use serde_json::{Value, json};
use vigil_store::schema::{audit_log, import_jobs, patients};
use vigil_store::testing::TestDb;

use crate::support::seed::{self, PASSWORD, bearer, form_token};
use crate::support::{App, Response};

fn ndjson(app: &App, token: &str, body: &str) -> Response {
    app.request(
        "POST",
        "/fhir/$import",
        &[("authorization", token), ("content-type", "application/fhir+ndjson")],
        Some(body.to_owned()),
    )
}

fn jobs(db: &TestDb) -> Vec<(String, String)> {
    let mut conn = db.connect();
    import_jobs::table.select((import_jobs::requested_by, import_jobs::write_scopes)).load(&mut conn).expect("jobs")
}

#[test]
fn import_lines_are_parsed_once_and_every_type_is_checked_against_the_requesters_scopes() {
    let db = TestDb::migrated();
    let app = App::spawn(db.url());
    let lab = seed::client_bearer(&app, db.url(), "system/Observation.write");

    // A Patient line dressed up as an Observation by a repeated key: refused, naming the line.
    let disguised = "{\"resourceType\":\"Observation\",\"id\":\"o1\",\"status\":\"final\",\"code\":{\"text\":\"x\"}}\n\
                     {\"resourceType\":\"Observation\",\"id\":\"p1\",\"resourceType\":\"Patient\",\"gender\":\"male\"}\n";
    let refused = ndjson(&app, &lab, disguised);
    assert_eq!(refused.status, 422, "{}", refused.body);
    let message = refused.json()["issue"][0]["diagnostics"].as_str().expect("diagnostics").to_owned();
    assert!(message.contains("line 2") && message.contains("\"resourceType\" appears twice"), "{message}");
    // A type the scopes do not cover: 403.
    let patient = "{\"resourceType\":\"Patient\",\"id\":\"p1\",\"gender\":\"male\"}\n";
    assert_eq!(ndjson(&app, &lab, patient).status, 403);
    assert!(jobs(&db).is_empty(), "nothing queued by a refused import");

    // An import within the scopes: queued with them, and stored.
    let observation = "{\"resourceType\":\"Observation\",\"id\":\"o1\",\"status\":\"final\",\"code\":{\"text\":\"x\"},\
                       \"subject\":{\"reference\":\"Patient/p9\"}}\n";
    let accepted = ndjson(&app, &lab, observation);
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let queued = jobs(&db);
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].1, "system/Observation.write", "the job keeps the requester's write scopes");
}

#[test]
fn a_conditional_create_reveals_its_match_only_to_who_may_read_it() {
    let db = TestDb::migrated();
    seed::patient(db.url(), "known", "Knownname", "MRN-77", None);
    let app = App::spawn(db.url());
    let body = json!({ "resourceType": "Patient", "identifier": [{ "system": "urn:test:mrn", "value": "MRN-77" }] });
    let create = |token: &str| {
        app.request(
            "POST",
            "/fhir/Patient",
            &[("authorization", token), ("if-none-exist", "identifier=urn:test:mrn|MRN-77")],
            Some(body.to_string()),
        )
    };
    let writer = seed::client_bearer(&app, db.url(), "system/Patient.write");
    let blind = create(&writer);
    assert_eq!(blind.status, 403, "{}", blind.body);
    assert!(!blind.body.contains("Knownname") && !blind.body.contains("known"), "{}", blind.body);

    let reader_writer = seed::client_bearer(&app, db.url(), "system/Patient.*");
    let matched = create(&reader_writer);
    assert_eq!(matched.status, 200, "{}", matched.body);
    assert_eq!(matched.json()["id"], "known");
    let mut conn = db.connect();
    let patient: i64 =
        patients::table.filter(patients::fhir_id.eq("known")).select(patients::id).first(&mut conn).expect("known");
    let revealed: Vec<(String, Option<i64>, String)> = audit_log::table
        .filter(audit_log::action.eq("read"))
        .select((audit_log::actor, audit_log::patient_id, audit_log::outcome))
        .load(&mut conn)
        .expect("audit");
    assert_eq!(revealed.len(), 1, "{revealed:?}");
    assert_eq!((revealed[0].1, revealed[0].2.as_str()), (Some(patient), "success"));
    assert!(revealed[0].0.starts_with("client:"));
}

#[test]
fn the_write_permission_is_checked_before_the_body_and_bodies_are_bounded() {
    let db = TestDb::migrated();
    seed::user(db.url(), "nurse", "clinician", &[]);
    seed::user(db.url(), "feed", "integration", &[]);
    let app = App::spawn_with(
        db.url(),
        &[("VIGIL_SERVER__MAX_FHIR_BODY_BYTES", "4000"), ("VIGIL_SERVER__MAX_BUNDLE_ENTRIES", "2")],
    );
    let nurse = bearer(&seed::token(&app, "nurse"));
    let feed = bearer(&seed::token(&app, "feed"));
    let post = |token: &str, body: String| app.request("POST", "/fhir", &[("authorization", token)], Some(body));

    // Whoever may not write is refused before the body counts: not 413, not 400.
    assert_eq!(post(&nurse, "x".repeat(10_000)).status, 403);
    assert_eq!(post(&nurse, "not json".into()).status, 403);
    assert_eq!(app.request("PUT", "/fhir/Patient/a", &[("authorization", &nurse)], Some("{".into())).status, 403);

    assert_eq!(post(&feed, "x".repeat(10_000)).status, 413, "larger than server.max_fhir_body_bytes");
    let entry = |id: &str| json!({ "resource": { "resourceType": "Patient", "id": id }, "request": { "method": "PUT", "url": format!("Patient/{id}") } });
    let three = json!({ "resourceType": "Bundle", "type": "batch", "entry": [entry("a"), entry("b"), entry("c")] });
    let too_many = post(&feed, three.to_string());
    assert_eq!(too_many.status, 413, "{}", too_many.body);
    assert!(too_many.body.contains("server.max_bundle_entries"));
    let two = json!({ "resourceType": "Bundle", "type": "batch", "entry": [entry("a"), entry("b")] });
    assert_eq!(post(&feed, two.to_string()).status, 200);
}

/// Signs in through the portal form; returns the session cookie pair and the page's CSRF token.
fn portal_session(app: &App, username: &str) -> (String, String) {
    let page = app.get("/sign-in");
    let csrf_cookie = page.cookie_pair("__Host-vigil-csrf").expect("csrf cookie");
    let token = form_token(&page.body);
    let signed_in = app.post_form(
        "/sign-in",
        &[("cookie", &csrf_cookie)],
        &[("username", username), ("password", PASSWORD), ("csrf_token", &token)],
    );
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let session = signed_in.cookie_pair("__Host-vigil-session").expect("session");
    let home = app.get_with("/", &[("cookie", &session)]);
    (session, form_token(&home.body))
}

#[test]
fn api_writes_take_json_and_cookie_writes_only_from_this_site() {
    let db = TestDb::migrated();
    seed::user(db.url(), "feed", "integration", &[]);
    let app = App::spawn(db.url());
    let (session, csrf) = portal_session(&app, "feed");
    let resource = json!({ "resourceType": "Patient", "id": "c1", "gender": "female" }).to_string();
    let put = |headers: &[(&str, &str)], body: &str| {
        let mut all = vec![("cookie", session.as_str())];
        all.extend_from_slice(headers);
        app.request("PUT", "/fhir/Patient/c1", &all, Some(body.to_owned()))
    };
    // What a cross-site form can send never reaches a FHIR or JSON write.
    for form_type in ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain"] {
        let response = put(&[("content-type", form_type), ("x-csrf-token", &csrf)], &resource);
        assert_eq!(response.status, 415, "{form_type}: {}", response.body);
    }
    let form_to_api = app.post_form("/api/patients/c1/break-glass", &[("cookie", &session)], &[("reason", "x")]);
    assert_eq!(form_to_api.status, 415);
    // JSON from another site, or without the token: refused.
    let json = ("content-type", "application/fhir+json");
    assert_eq!(put(&[json, ("x-csrf-token", &csrf), ("sec-fetch-site", "cross-site")], &resource).status, 403);
    assert_eq!(put(&[json, ("x-csrf-token", &csrf), ("origin", "https://evil.example")], &resource).status, 403);
    assert_eq!(put(&[json], &resource).status, 403);
    // From this site with the token: stored.
    let own = app.base.clone();
    let stored = put(&[json, ("x-csrf-token", &csrf), ("origin", &own), ("sec-fetch-site", "same-origin")], &resource);
    assert_eq!(stored.status, 201, "{}", stored.body);
    // Portal forms: a cross-site post is refused even with the form's token.
    let cross =
        app.post_form("/sign-out", &[("cookie", &session), ("sec-fetch-site", "cross-site")], &[("csrf_token", &csrf)]);
    assert_eq!(cross.status, 403);
    let signed_out = app.post_form(
        "/sign-out",
        &[("cookie", &session), ("sec-fetch-site", "same-origin")],
        &[("csrf_token", &csrf)],
    );
    assert_eq!(signed_out.status, 303);
}

#[test]
fn the_token_endpoint_audience_is_the_public_url_whatever_the_host_header() {
    let db = TestDb::migrated();
    let app = App::spawn(db.url());
    let (client, pem) = seed::es384_client(db.url(), "system/Patient.read");
    let now = jsonwebtoken::get_current_timestamp();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES384);
    header.kid = Some("lab-1".into());
    let key = jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes()).expect("key");
    let for_elsewhere = json!({ "iss": client, "sub": client, "aud": "https://elsewhere.example/auth/token",
        "exp": now + 240, "jti": "replayed" });
    let assertion = jsonwebtoken::encode(&header, &for_elsewhere, &key).expect("sign");
    let form = [
        ("grant_type", "client_credentials"),
        ("scope", "system/Patient.read"),
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        ("client_assertion", assertion.as_str()),
    ];
    let replayed = app.post_form("/auth/token", &[("host", "elsewhere.example")], &form);
    assert_eq!(replayed.status, 401, "{}", replayed.body);
    let discovery: Value = app.get_with("/.well-known/smart-configuration", &[("host", "elsewhere.example")]).json();
    assert_eq!(discovery["token_endpoint"], format!("{}/auth/token", app.base));
}
