//! `make loadtest`: a real `vigil serve` on a Postgres cluster of the run's own, driven from 16
//! connections on loopback at fixed rates (an open-loop generator: each request is timed from when
//! it was due, so a stall is not hidden by the requests it delayed), then three faults under load.
//!
//! Fixed rates, each reporting p50, p99, p99.9 and errors:
//! - FHIR read by id (`GET /fhir/Patient/{id}`, a nurse's token, a patient of her ward), 500/s;
//! - FHIR search (`GET /fhir/Encounter?patient={id}`), 500/s;
//! - the worklist (`/worklist`, 50 open alerts, the nurse's portal session), 500/s;
//! - `POST /auth/token` (SMART Backend Services: an ES384-signed client assertion each), 200/s;
//! - `POST /fhir` transactions (a Patient, an Encounter and an Observation each, a client's
//!   token), 100/s.
//!
//! Faults:
//! - Postgres restarted (`pg_ctl -m fast stop`, then start) under 200 reads/s: errors only while
//!   it is down, recovery without restarting Vigil;
//! - SIGTERM to one of two servers under 500 reads/s, requests refused a connection sent to the
//!   other as a proxy's next-upstream does: no request in flight fails;
//! - SMTP down during an alert burst (100 recipients): nothing lost, nothing sent twice.
//!
//! Targets (PRODUCT.md): FHIR read p99 < 10 ms and worklist p99 < 50 ms at 500 requests/s with
//! no errors. The run exits non-zero when a fault loses or fails what it must not.
//! `VIGIL_LOADTEST=rates` or `=faults` runs only that half.

#![allow(clippy::print_stdout, clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use vigil_store::testing::TestDb;

mod support;
use support::http::{Sample, fixed_rate_log, percentile, serve};
use support::ward;
use vigil_store::cluster::Cluster;

#[path = "loadtest/faults.rs"]
mod faults;

const SECONDS: u64 = 15;

/// Requests of one kind: sent by `send(agent, i)`, true when answered as they should be.
type Requests = Box<dyn Fn(&ureq::Agent, u64) -> bool + Send + Sync>;

/// Prints a fixed-rate run's figures; whether its target (if any) was met.
fn report(name: &str, rate: u64, samples: &[Sample], target_ms: Option<f64>) -> bool {
    let mut latencies: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
    latencies.sort();
    let errors = samples.iter().filter(|s| !s.ok).count();
    let ms = |p: f64| percentile(&latencies, p).as_secs_f64() * 1e3;
    let (met, target) = match target_ms {
        Some(t) => {
            let met = ms(0.99) < t && errors == 0;
            (met, format!("  target p99 < {t:.0} ms, 0 errors: {}", if met { "met" } else { "NOT met" }))
        }
        None => (true, String::new()),
    };
    println!(
        "  {name:<34} {rate:>4}/s  p50 {:>7.2} ms  p99 {:>7.2} ms  p99.9 {:>7.2} ms  errors {errors} of {}{target}",
        ms(0.50),
        ms(0.99),
        ms(0.999),
        latencies.len()
    );
    met
}

/// A GET with `header`, answered 200 with its whole body.
fn get(agent: &ureq::Agent, url: &str, header: (&str, &str)) -> bool {
    agent
        .get(url)
        .header(header.0, header.1)
        .call()
        .map(|mut r| r.status() == 200 && r.body_mut().read_to_string().is_ok())
        .unwrap_or(false)
}

/// A client registered with `scopes` through `vigil client add`, with an EC P-384 key; its id and
/// the key to sign its assertions with.
fn client(db: &TestDb, scopes: &str) -> (String, jsonwebtoken::EncodingKey) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).expect("key");
    let raw = pair.public_key_raw();
    let jwks = serde_json::json!({ "keys": [{ "kty": "EC", "crv": "P-384", "kid": "load-1", "alg": "ES384",
        "use": "sig", "x": b64.encode(&raw[1..49]), "y": b64.encode(&raw[49..97]) }]});
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, jwks.to_string()).expect("jwks");
    let id = support::vigil(
        db,
        &["client", "add", "--name", "Load", "--jwks", file.to_str().expect("path"), "--scopes", scopes],
        "",
    );
    let key = jsonwebtoken::EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).expect("key");
    (id.trim().to_owned(), key)
}

/// `n` client assertions for `client`, each with its own `jti`, signed before the run so that the
/// generator's signing does not take the server's CPU while it is measured.
fn assertions(client: &str, key: &jsonwebtoken::EncodingKey, audience: &str, n: u64) -> Vec<String> {
    let now = jsonwebtoken::get_current_timestamp();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES384);
    header.kid = Some("load-1".into());
    (0..n)
        .map(|i| {
            let claims = serde_json::json!({ "iss": client, "sub": client, "aud": audience,
                "exp": now + 280, "jti": format!("load-{i}") });
            jsonwebtoken::encode(&header, &claims, key).expect("sign")
        })
        .collect()
}

fn token_form(scope: &str, assertion: &str) -> [(&'static str, String); 4] {
    [
        ("grant_type", "client_credentials".to_owned()),
        ("scope", scope.to_owned()),
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned()),
        ("client_assertion", assertion.to_owned()),
    ]
}

/// A client's access token for `scope`.
fn client_token(base: &str, db: &TestDb, scope: &str) -> String {
    let (id, key) = client(db, scope);
    let assertion = assertions(&id, &key, &format!("{base}/auth/token"), 1).remove(0);
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut response =
        agent.post(&format!("{base}/auth/token")).send_form(token_form(scope, &assertion)).expect("token");
    let body: serde_json::Value = response.body_mut().read_json().expect("json");
    body["access_token"].as_str().expect("access_token").to_owned()
}

/// Request `i`'s transaction: a new patient, an inpatient stay and a lab result.
fn bundle(i: u64) -> serde_json::Value {
    let (patient, reference) = (format!("load-{i}"), format!("Patient/load-{i}"));
    serde_json::json!({ "resourceType": "Bundle", "type": "transaction", "entry": [
        { "resource": { "resourceType": "Patient", "id": patient, "gender": "female", "birthDate": "1948-03-02",
            "name": [{ "family": format!("Load{i}"), "given": ["Ada"] }] } },
        { "resource": { "resourceType": "Encounter", "id": format!("load-{i}-e"), "status": "finished",
            "class": { "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP" },
            "subject": { "reference": reference }, "period": { "start": "2026-11-01T08:00:00Z", "end": "2026-11-04T10:00:00Z" } } },
        { "resource": { "resourceType": "Observation", "id": format!("load-{i}-o"), "status": "final",
            "code": { "coding": [{ "system": "http://loinc.org", "code": "2160-0" }] },
            "subject": { "reference": reference }, "effectiveDateTime": "2026-11-02T06:00:00Z",
            "valueQuantity": { "value": 1.4, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL" } } }
    ]})
}

fn main() {
    let cluster = Cluster::start();
    let db = TestDb::migrated_on(&cluster.admin_url());
    println!(
        "preparing: 2,000 synthetic patients, a model, a ward of 50 open alerts (Postgres of its own on port {})",
        cluster.port
    );
    let ward = ward::prepare(&db, 2000);
    let server = serve(&db);
    let base = server.base.clone();
    let nurse = format!("Bearer {}", ward::api_token(&base));
    let cookie = ward::sign_in(&base);
    let patients: Arc<Vec<String>> = Arc::new(ward.patients.iter().map(|(p, _)| p.clone()).collect());
    let writer = format!("Bearer {}", client_token(&base, &db, "system/*.write"));
    let (token_client, key) = client(&db, "system/Patient.read");
    let signed = Arc::new(assertions(&token_client, &key, &format!("{base}/auth/token"), 200 * SECONDS));

    let read = reads(&base, &nurse, &patients);
    let search: Requests = {
        let (base, nurse, patients) = (base.clone(), nurse.clone(), patients.clone());
        Box::new(move |agent, i| {
            let url = format!("{base}/fhir/Encounter?patient={}", patients[i as usize % patients.len()]);
            get(agent, &url, ("authorization", &nurse))
        })
    };
    let worklist: Requests = {
        let (url, cookie) = (format!("{base}/worklist?unit={}", ward::UNIT), cookie.clone());
        Box::new(move |agent, _| get(agent, &url, ("cookie", &cookie)))
    };
    let token: Requests = {
        let (url, signed) = (format!("{base}/auth/token"), signed.clone());
        Box::new(move |agent, i| {
            agent
                .post(&url)
                .send_form(token_form("system/Patient.read", &signed[i as usize]))
                .map(|mut r| r.status() == 200 && r.body_mut().read_to_string().is_ok())
                .unwrap_or(false)
        })
    };
    let transaction: Requests = {
        let (url, writer) = (format!("{base}/fhir"), writer.clone());
        Box::new(move |agent, i| {
            agent
                .post(&url)
                .header("authorization", &writer)
                .header("content-type", "application/fhir+json")
                .send(bundle(i).to_string())
                .map(|mut r| r.status() == 200 && r.body_mut().read_to_string().is_ok())
                .unwrap_or(false)
        })
    };

    let only = std::env::var("VIGIL_LOADTEST").unwrap_or_default();
    let mut met = true;
    if only != "faults" {
        println!("fixed rates for {SECONDS} s each from 16 connections");
    }
    for (name, rate, send, target) in [
        ("FHIR read by id", 500, read, Some(10.0)),
        ("FHIR search (Encounter?patient=)", 500, search, None),
        ("worklist, 50 open alerts", 500, worklist, Some(50.0)),
        ("POST /auth/token (client assertion)", 200, token, None),
        ("POST /fhir transaction (3 resources)", 100, transaction, None),
    ]
    .into_iter()
    .filter(|_| only != "faults")
    {
        let samples = fixed_rate_log(rate, SECONDS, send);
        met &= report(name, rate, &samples, target);
    }
    drop(server);

    let mut held = true;
    if only != "rates" {
        println!("faults under load");
        held &= faults::postgres_restart(&cluster, &db, &patients);
        held &= faults::sigterm(&db, &patients);
        held &= faults::smtp_outage(&db, &ward);
    }
    println!(
        "targets {}; faults {}",
        if met { "met" } else { "NOT all met" },
        if held { "held" } else { "NOT all held" }
    );
    if !held {
        std::process::exit(1);
    }
}

/// Reads of the ward's patients as `nurse` (a bearer header) from `base`.
pub fn reads(base: &str, nurse: &str, patients: &Arc<Vec<String>>) -> Requests {
    let (base, nurse, patients) = (base.to_owned(), nurse.to_owned(), patients.clone());
    Box::new(move |agent, i| {
        let url = format!("{base}/fhir/Patient/{}", patients[i as usize % patients.len()]);
        get(agent, &url, ("authorization", &nurse))
    })
}
