//! A ward to load: a synthetic population through the product's paths (`vigil synth` and `ingest`,
//! `train`, `model activate`), a unit with its nurse, the 50 patients at the highest risk assigned
//! to it, a rule at the 50th's probability and a scoring run that opens their alerts; and the
//! nurse signed in through the portal's form or the API.

use diesel::prelude::*;
use vigil_store::testing::TestDb;

use super::vigil;

pub const PASSWORD: &str = "a long and unusual bench passphrase";
pub const UNIT: &str = "ward-bench";

/// The ward's patients (FHIR id and admission probability), highest risk first.
pub struct Ward {
    pub patients: Vec<(String, f64)>,
}

/// Builds the ward in `db` from `population` synthetic patients (seed 7).
pub fn prepare(db: &TestDb, population: u64) -> Ward {
    let dir = tempfile::tempdir().expect("tempdir");
    let synth = dir.path().join("synth");
    let synth = synth.to_str().expect("path");
    vigil(db, &["synth", "--patients", &population.to_string(), "--seed", "7", "--out", synth], "");
    vigil(db, &["ingest", synth], "");
    vigil(db, &["train", "--target", "admission"], "");
    vigil(db, &["model", "activate", "admission-1", "--override", "bench population"], "");
    vigil(db, &["unit", "add", UNIT, "--name", "Bench ward"], "");
    vigil(
        db,
        &["user", "add", "nurse", "--role", "clinician", "--unit", UNIT, "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    vigil(db, &["score"], "");
    let patients: Vec<(String, f64)> = {
        use vigil_store::schema::{models, patients, scores};
        scores::table
            .inner_join(models::table)
            .inner_join(patients::table)
            .filter(models::status.eq("active").and(scores::probability.is_not_null()))
            .order(scores::probability.desc())
            .select((patients::fhir_id, scores::probability.assume_not_null()))
            .limit(50)
            .load(&mut db.connect())
            .expect("top 50")
    };
    let mut assign = vec!["unit", "assign", UNIT];
    for (patient, _) in &patients {
        assign.extend(["--patient", patient.as_str()]);
    }
    vigil(db, &assign, "");
    let threshold = format!("{:.9}", patients.last().expect("50 patients").1 - 1e-9);
    vigil(db, &["alert", "rule", "add", "--target", "admission", "--warning", &threshold, "--reason", "bench"], "");
    vigil(db, &["score"], "");
    Ward { patients }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).build().into()
}

/// Signs the nurse in through the portal's form; the session cookie pair.
pub fn sign_in(base: &str) -> String {
    let agent = agent();
    let cookie = |response: &ureq::http::Response<ureq::Body>, name: &str| -> String {
        response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(name))
            .and_then(|v| v.split(';').next())
            .expect("cookie")
            .to_owned()
    };
    let mut page = agent.get(&format!("{base}/sign-in")).call().expect("sign-in page");
    let csrf = cookie(&page, "__Host-vigil-csrf=");
    let body = page.body_mut().read_to_string().expect("body");
    let marker = "name=\"csrf_token\" value=\"";
    let token = body[body.find(marker).expect("token") + marker.len()..].split('"').next().expect("token").to_owned();
    let signed_in = agent
        .post(&format!("{base}/sign-in"))
        .header("cookie", &csrf)
        .send_form([("username", "nurse"), ("password", PASSWORD), ("csrf_token", token.as_str())])
        .expect("sign in");
    assert_eq!(signed_in.status(), 303, "signed in");
    cookie(&signed_in, "__Host-vigil-session=")
}

/// Signs the nurse in through the API; the access token.
pub fn api_token(base: &str) -> String {
    let mut response = agent()
        .post(&format!("{base}/auth/login"))
        .send_json(serde_json::json!({ "username": "nurse", "password": PASSWORD }))
        .expect("sign in");
    let body: serde_json::Value = response.body_mut().read_json().expect("json");
    body["access_token"].as_str().expect("token").to_owned()
}
