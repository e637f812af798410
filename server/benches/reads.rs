//! `make bench` (reads): audited FHIR reads by id against a real `vigil serve` (HTTP on loopback,
//! the runtime role, every read audited before its data is sent), beside the limit measured in the
//! same run: Postgres committing single-row inserts (pgbench), from as many connections.
//! - for scale, what HTTP alone answers from 16 connections (`/healthz`, no database);
//! - throughput from 1 and 16 connections (wrk, keep-alive, the patients read in turn) against
//!   pgbench from 1 and 16, with reads remembered (the default) and not (`database.remember_reads`
//!   off: each read asks Postgres for the record and its access facts);
//! - latency at a fixed 500 requests per second from 16 connections (an open-loop generator here:
//!   each request is timed from when it was due, so a stall is not hidden by the requests it
//!   delayed), p50, p99 and the errors;
//! - that every read answered has its audit row.

#![allow(clippy::print_stdout, clippy::expect_used, clippy::unwrap_used)]

use std::io::Write;
use std::process::{Command, Stdio};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use vigil_ehr_adapter::ingest::store_batch;
use vigil_ehr_adapter::read::Incoming;
use vigil_store::audit::{AuditEvent, Outcome};
use vigil_store::testing::TestDb;

mod support;
use support::http::{Server, fixed_rate_with, percentile, pgbench, serve_with, wrk, wrk_scripted};
use support::ward::{self, PASSWORD};

const SECONDS: u64 = 10;
const RATE: u64 = 500;
/// Patients read in turn: a ward's worth many times over, each with its stay on ICU.
const PATIENTS: u64 = 1_000;

/// A clinician of ICU and [`PATIENTS`] patients on ICU, made through the product's own code.
fn seed(db: &TestDb) {
    let mut conn = db.connect();
    let resources: Vec<serde_json::Value> = (1..=PATIENTS)
        .flat_map(|n| {
            [
                serde_json::json!({ "resourceType": "Patient", "id": format!("bench-{n}"), "gender": "female",
                    "birthDate": "1950-01-01", "name": [{ "family": "Benchmark", "given": ["Ada"] }] }),
                serde_json::json!({ "resourceType": "Encounter", "id": format!("bench-e{n}"), "status": "in-progress",
                    "class": { "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP" },
                    "subject": { "reference": format!("Patient/bench-{n}") }, "period": { "start": "2026-11-30T08:00:00Z" },
                    "location": [{ "location": { "reference": "Location/ICU" } }] }),
            ]
        })
        .collect();
    let batch = Incoming::items("bench", resources);
    let loader = AuditEvent::new("cli:bench", "operator", "ingest", Outcome::Success);
    store_batch(&mut conn, "local", &loader, batch).expect("seed");
    let vigil = env!("CARGO_BIN_EXE_vigil");
    let run = |args: &[&str], stdin: &str| {
        let mut child = Command::new(vigil)
            .args(args)
            .env("DATABASE_URL", db.url())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("vigil");
        child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("stdin");
        assert!(child.wait().expect("wait").success(), "vigil {args:?}");
    };
    run(&["unit", "add", "ICU", "--name", "Intensive care"], "");
    run(
        &["user", "add", "nurse", "--role", "clinician", "--unit", "ICU", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
}

/// wrk's script: each connection reads the patients one after another.
fn in_turn() -> String {
    format!(
        "local n = 0\nrequest = function()\n  n = n + 1\n  return wrk.format(\"GET\", \"/fhir/Patient/bench-\" .. ((n % {PATIENTS}) + 1))\nend\n"
    )
}

/// Reads per second from `connections` connections, and wrk's p99 and errors.
fn throughput(server: &Server, token: &str, connections: u32) -> (f64, String) {
    let url = format!("{}/fhir/Patient/bench-1", server.base);
    wrk_scripted(&url, &format!("Authorization: Bearer {token}"), Some(&in_turn()), connections, SECONDS)
}

/// The patients read in turn at a fixed [`RATE`]: p50, p99 and max in ms, errors and requests.
fn at_fixed_rate(server: &Server, token: &str) -> String {
    let (base, bearer) = (server.base.clone(), format!("Bearer {token}"));
    let (latencies, errors) = fixed_rate_with(RATE, SECONDS, move |agent, n| {
        agent
            .get(&format!("{base}/fhir/Patient/bench-{}", n % PATIENTS + 1))
            .header("authorization", bearer.as_str())
            .call()
            .map(|mut r| r.status() == 200 && r.body_mut().read_to_string().is_ok())
            .unwrap_or(false)
    });
    let ms = |q: f64| percentile(&latencies, q).as_secs_f64() * 1e3;
    format!(
        "p50 {:.2} ms, p99 {:.2} ms (target < 10 ms), max {:.2} ms, {errors} errors of {}",
        ms(0.50),
        ms(0.99),
        latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
        latencies.len()
    )
}

fn main() {
    let db = TestDb::migrated();
    seed(&db);
    db.connect()
        .batch_execute("CREATE TABLE bench_commits (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at TIMESTAMPTZ, note TEXT)")
        .expect("bench table");
    let remembering = serve_with(&db, &[]);
    let asking = serve_with(&db, &[("VIGIL_DATABASE__REMEMBER_READS", "false")]);
    let servers = [
        ("remembered (database.remember_reads, the default)", ward::api_token(&remembering.base), &remembering),
        ("not remembered (each read asks Postgres)", ward::api_token(&asking.base), &asking),
    ];

    println!(
        "audited FHIR read by id (GET /fhir/Patient/{{id}}, {PATIENTS} patients in turn, as a clinician of their unit), {SECONDS} s each"
    );
    // What HTTP alone costs on this machine, for scale: a request that touches no database.
    let (bare, detail) = wrk(&format!("{}/healthz", remembering.base), "Accept: */*", 16, SECONDS);
    println!("  16 connections: GET /healthz (no database) {bare:>8.0} requests/s ({detail})");
    for connections in [1, 16] {
        let inserts = pgbench(
            db.url(),
            "INSERT INTO bench_commits (at, note) VALUES (now(), 'a row of about the size of an audit row');\n",
            connections,
            SECONDS,
        );
        println!(
            "  {connections:>2} connections: limit: Postgres commits {inserts:>8.0} single-row inserts/s (pgbench)"
        );
        for (label, token, server) in &servers {
            let (reads, detail) = throughput(server, token, connections);
            println!("      {label}: vigil {reads:>8.0} reads/s ({detail})");
            println!("          ratio {:.2} (target at 16 connections >= 0.50)", reads / inserts);
        }
    }
    for (label, token, server) in &servers {
        println!("  fixed {RATE} requests/s from 16 connections, {label}: {}", at_fixed_rate(server, token));
    }
    let mut conn = db.connect();
    let audited: i64 = vigil_store::schema::audit_log::table
        .filter(vigil_store::schema::audit_log::action.eq("read"))
        .count()
        .get_result(&mut conn)
        .expect("count");
    println!("  audit rows of reads written: {audited}");
}
