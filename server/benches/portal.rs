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
use support::ward;

const RATE: u64 = 500;
const SECONDS: u64 = 30;

fn main() {
    let db = TestDb::migrated();
    let top = ward::prepare(&db, 2000).patients;

    let server = serve(&db);
    let cookie = ward::sign_in(&server.base);
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
