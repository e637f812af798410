//! `make bench` (cds): CDS Hooks `patient-view` at a fixed 200 requests per second from 16
//! connections against a real `vigil serve`, over `VIGIL_BENCH_CDS_PATIENTS` synthetic patients
//! (default 5,000) scored by a learned model of each target. Every call carries its own signed
//! JWT (a `jti` is taken once) and a prefetch; each answers with the patient's cards, stores them
//! and is audited. Beside it, at the same rate in the same run, the audited FHIR search a client
//! would otherwise make for the same risk (`GET /fhir/RiskAssessment?subject=…&_sort=-date&_count=1`
//! with an access token): the limit a card's extra work (a signature, the rules, a stored card)
//! is measured against.

#![allow(clippy::print_stdout, clippy::expect_used)]

use std::time::Duration;

use base64::Engine;
use diesel::prelude::*;
use serde_json::json;
use vigil_store::testing::TestDb;

mod support;
use support::http::{fixed_rate_with, percentile, serve};
use support::population;

const RATE: u64 = 200;
const SECONDS: u64 = 20;
/// The server's first seconds under load (its pool filling, caches warming), reported apart.
const WARM_UP: u64 = 10;
const ISSUER: &str = "https://ehr.bench.test";
const PASSWORD: &str = "a long and unusual bench passphrase";

/// An EC P-384 key (kid `ehr-1`): its public JWKS and the key to sign with.
fn key() -> (serde_json::Value, jsonwebtoken::EncodingKey) {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).expect("key");
    let raw = pair.public_key_raw();
    let jwks = json!({ "keys": [{
        "kty": "EC", "crv": "P-384", "kid": "ehr-1", "alg": "ES384", "use": "sig",
        "x": b64.encode(&raw[1..49]), "y": b64.encode(&raw[49..97]),
    }]});
    (jwks, jsonwebtoken::EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).expect("pem"))
}

fn report(what: &str, latencies: &[Duration], errors: u64) -> f64 {
    let ms = |p: f64| percentile(latencies, p).as_secs_f64() * 1e3;
    println!(
        "  {what:<34} p50 {:>6.2} ms, p99 {:>6.2} ms, p99.9 {:>6.2} ms, {errors} errors of {}",
        ms(0.50),
        ms(0.99),
        ms(0.999),
        latencies.len()
    );
    ms(0.99)
}

fn main() {
    let patients: u64 = std::env::var("VIGIL_BENCH_CDS_PATIENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(5_000);
    let db = TestDb::migrated();
    let mut conn = db.connect();
    let data_end = population(&mut conn, patients, 13);
    support::score_everyone(&db, &mut conn, data_end);
    let scored: Vec<String> = diesel::sql_query(
        "SELECT DISTINCT p.fhir_id AS t FROM scores s JOIN patients p ON p.id = s.patient_id ORDER BY 1 LIMIT 2000",
    )
    .load::<Text>(&mut conn)
    .expect("patients")
    .into_iter()
    .map(|t| t.t)
    .collect();

    let (jwks, signing) = key();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, jwks.to_string()).expect("jwks");
    let path = file.to_str().expect("path");
    let scopes = "system/RiskAssessment.read";
    support::vigil(
        &db,
        &["client", "add", "--name", "EHR", "--jwks", path, "--scopes", scopes, "--cds-issuer", ISSUER],
        "",
    );
    support::vigil(
        &db,
        &["user", "add", "analyst", "--role", "informatics", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    let server = serve(&db);
    let url = format!("{}/cds-services/vigil-risk", server.base);

    // Every call's JWT and body, made before the clock starts.
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES384);
    header.kid = Some("ehr-1".into());
    let now = jsonwebtoken::get_current_timestamp();
    let calls: Vec<(String, String)> = (0..RATE * (WARM_UP + SECONDS))
        .map(|i| {
            let claims =
                json!({ "iss": ISSUER, "aud": url, "iat": now, "exp": now + 300, "jti": format!("bench-{i}") });
            let jwt = jsonwebtoken::encode(&header, &claims, &signing).expect("sign");
            let patient = &scored[i as usize % scored.len()];
            let body = json!({
                "hook": "patient-view", "hookInstance": uuid::Uuid::new_v4().to_string(),
                "context": { "userId": "Practitioner/bench", "patientId": patient },
                "prefetch": {
                    "patient": { "resourceType": "Patient", "id": patient },
                    "encounters": { "resourceType": "Bundle", "type": "searchset", "entry": [] },
                },
            });
            (format!("Bearer {jwt}"), body.to_string())
        })
        .collect();
    let calls = std::sync::Arc::new(calls);
    let phase = |from: u64, seconds: u64| {
        let (hook, cards) = (url.clone(), std::sync::Arc::clone(&calls));
        fixed_rate_with(RATE, seconds, move |agent, i| {
            let (authorization, body) = &cards[(from + i) as usize];
            agent
                .post(&hook)
                .header("authorization", authorization)
                .header("content-type", "application/json")
                .send(body.as_str())
                .map(|mut r| r.status() == 200 && r.body_mut().read_to_string().is_ok_and(|b| b.contains("\"cards\"")))
                .unwrap_or(false)
        })
    };
    let (cold, cold_errors) = phase(0, WARM_UP);
    let (cds, cds_errors) = phase(RATE * WARM_UP, SECONDS);
    let stored: i64 =
        diesel::sql_query("SELECT count(*) AS n FROM cds_cards").get_result::<Count>(&mut conn).expect("cards").n;

    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut signed_in = agent
        .post(&format!("{}/auth/login", server.base))
        .send_json(json!({ "username": "analyst", "password": PASSWORD }))
        .expect("sign in");
    let body: serde_json::Value = signed_in.body_mut().read_json().expect("json");
    let bearer = format!("Bearer {}", body["access_token"].as_str().expect("token"));
    let (base, patients) = (server.base.clone(), scored.clone());
    let (fhir, fhir_errors) = fixed_rate_with(RATE, SECONDS, move |agent, i| {
        let patient = &patients[i as usize % patients.len()];
        agent
            .get(&format!("{base}/fhir/RiskAssessment?subject=Patient/{patient}&_sort=-date&_count=1"))
            .header("authorization", bearer.as_str())
            .call()
            .map(|mut r| r.status() == 200 && r.body_mut().read_to_string().is_ok())
            .unwrap_or(false)
    });

    println!(
        "CDS Hooks patient-view, {RATE} requests/s from 16 connections for {SECONDS} s each, {} scored patients",
        scored.len()
    );
    report(&format!("vigil-risk, its first {WARM_UP} s"), &cold, cold_errors);
    let ours = report("vigil-risk (signed, prefetched)", &cds, cds_errors);
    println!("  {stored} cards stored, each call audited");
    let limit = report("limit: FHIR RiskAssessment search", &fhir, fhir_errors);
    println!("  p99 {ours:.2} ms against the target of 50 ms; {:.2} of the FHIR search's p99", ours / limit);
}

#[derive(QueryableByName)]
struct Text {
    #[diesel(sql_type = diesel::sql_types::Text)]
    t: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}
