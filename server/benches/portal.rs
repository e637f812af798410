//! `make bench` (portal): the pages a ward uses most, under load. The worklist of a unit with 50
//! open alerts and one of its patients' pages, each at a fixed 500 requests per second for 30 s
//! from 16 connections (an open-loop generator that times each request from when it was due, so a
//! stall is not hidden by the requests it delayed): p50, p99 and errors, beside `/healthz` at the
//! same rate as the floor (what the HTTP stack costs with no page to build). Targets: worklist p99
//! < 50 ms, patient page p99 < 100 ms, no errors. Every request is a signed-in nurse's, audited.
//! Then the worklist's capacity: its rate from 16 connections (wrk) beside Postgres running the
//! page's two list queries alone from 16 connections (pgbench), the most any server could reach.
//!
//! The data come through the product's paths: `vigil synth` and `ingest`, `train`, `model
//! activate`, a unit and its nurse, the 50 patients at the highest risk assigned to it, a rule at
//! the 50th's probability and a scoring run that opens their alerts.

#![allow(clippy::print_stdout, clippy::expect_used, clippy::unwrap_used)]

use diesel::prelude::*;
use vigil_store::testing::TestDb;

mod support;
use support::http::{fixed_rate, percentile, pgbench, serve, wrk};
use support::vigil;

const RATE: u64 = 500;
const SECONDS: u64 = 30;
const PASSWORD: &str = "a long and unusual bench passphrase";

/// Signs the nurse in through the portal's form; the session cookie pair.
fn sign_in(base: &str) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).build().into();
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

fn main() {
    let db = TestDb::migrated();
    let dir = tempfile::tempdir().expect("tempdir");
    let synth = dir.path().join("synth");
    let synth = synth.to_str().expect("path");
    vigil(&db, &["synth", "--patients", "2000", "--seed", "7", "--out", synth], "");
    vigil(&db, &["ingest", synth], "");
    vigil(&db, &["train", "--target", "admission"], "");
    vigil(&db, &["model", "activate", "admission-1"], "");
    vigil(&db, &["unit", "add", "ward-bench", "--name", "Bench ward"], "");
    vigil(
        &db,
        &["user", "add", "nurse", "--role", "clinician", "--unit", "ward-bench", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    vigil(&db, &["score"], "");
    // The 50 patients at the highest risk are the unit's; the rule alerts on exactly them.
    let top: Vec<(String, f64)> = {
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
    let mut assign = vec!["unit", "assign", "ward-bench"];
    for (patient, _) in &top {
        assign.extend(["--patient", patient.as_str()]);
    }
    vigil(&db, &assign, "");
    let threshold = format!("{:.9}", top.last().expect("50 patients").1 - 1e-9);
    vigil(&db, &["alert", "rule", "add", "--target", "admission", "--warning", &threshold, "--reason", "bench"], "");
    vigil(&db, &["score"], "");

    let server = serve(&db);
    let cookie = sign_in(&server.base);
    let pages = [
        ("/healthz (the floor)", "/healthz".to_owned(), None),
        ("worklist, 50 open alerts", "/worklist?unit=ward-bench".to_owned(), Some(50.0)),
        ("a patient's page", format!("/patients/{}", top[0].0), Some(100.0)),
    ];
    println!("portal pages at a fixed {RATE} requests/s for {SECONDS} s from 16 connections, signed in as a nurse");
    let mut floor_p99 = None;
    for (name, path, target) in pages {
        let (latencies, errors) = fixed_rate(&format!("{}{path}", server.base), ("cookie", &cookie), RATE, SECONDS);
        let (p50, p99) = (percentile(&latencies, 0.50), percentile(&latencies, 0.99));
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
        let target = target.map(|t| format!(" (target < {t:.0} ms)")).unwrap_or_default();
        let ratio = floor_p99.map(|f: f64| format!(", {:.1} x the floor's p99", ms(p99) / f)).unwrap_or_default();
        println!(
            "  {name:<26} p50 {:>6.2} ms  p99 {:>6.2} ms{target}{ratio}  {errors} errors of {}",
            ms(p50),
            ms(p99),
            latencies.len()
        );
        floor_p99.get_or_insert(ms(p99));
    }

    let (pages, detail) =
        wrk(&format!("{}/worklist?unit=ward-bench", server.base), &format!("cookie: {cookie}"), 16, 10);
    let nurse: i64 = {
        use vigil_store::schema::users;
        users::table.filter(users::username.eq("nurse")).select(users::id).first(&mut db.connect()).expect("nurse")
    };
    let queries = pgbench(
        db.url(),
        &format!(
            "SELECT * FROM alert_list('{{ward-bench}}', 9223372036854775807, 'ward-bench', NULL, NULL, 'live', {nurse}, true, 51, 0);\n\
             SELECT * FROM alert_counts('{{ward-bench}}', 9223372036854775807, 'ward-bench', NULL, 'live', {nurse});\n"
        ),
        16,
        10,
    );
    println!("worklist capacity from 16 connections, 10 s each");
    println!("  vigil      {pages:>7.0} pages/s ({detail})");
    println!("  limit: Postgres runs the page's two list queries {queries:>7.0} times/s (pgbench)");
    println!("  ratio {:.2}", pages / queries);
}
