//! `make bench` (reads): audited FHIR reads by id against a real `vigil serve` (HTTP on loopback,
//! the runtime role, every read audited before its data is sent), beside the limit measured in the
//! same run: Postgres committing single-row inserts (pgbench), from as many connections.
//! - for scale, what HTTP alone answers from 16 connections (`/healthz`, no database);
//! - throughput from 1 and 16 connections (wrk, keep-alive) against pgbench from 1 and 16;
//! - latency at a fixed 500 requests per second from 16 connections (an open-loop generator here:
//!   each request is timed from when it was due, so a stall is not hidden by the requests it
//!   delayed), p50, p99 and the errors.

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
use support::http::{fixed_rate, percentile, pgbench, serve, wrk};
use support::ward::{self, PASSWORD};

const SECONDS: u64 = 10;
const RATE: u64 = 500;

/// A clinician of ICU and a patient on ICU, made through the product's own code.
fn seed(db: &TestDb) {
    let mut conn = db.connect();
    let resources = vec![
        serde_json::json!({ "resourceType": "Patient", "id": "bench-1", "gender": "female", "birthDate": "1950-01-01",
            "name": [{ "family": "Benchmark", "given": ["Ada"] }] }),
        serde_json::json!({ "resourceType": "Encounter", "id": "bench-e1", "status": "in-progress",
            "class": { "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP" },
            "subject": { "reference": "Patient/bench-1" }, "period": { "start": "2026-11-30T08:00:00Z" },
            "location": [{ "location": { "reference": "Location/ICU" } }] }),
    ];
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

fn main() {
    let db = TestDb::migrated();
    seed(&db);
    db.connect()
        .batch_execute("CREATE TABLE bench_commits (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at TIMESTAMPTZ, note TEXT)")
        .expect("bench table");
    let server = serve(&db);
    let token = ward::api_token(&server.base);
    let url = format!("{}/fhir/Patient/bench-1", server.base);

    println!(
        "audited FHIR read by id (GET /fhir/Patient/{{id}} as a clinician of the patient's unit), {SECONDS} s each"
    );
    // What HTTP alone costs on this machine, for scale: a request that touches no database.
    let (bare, detail) = wrk(&format!("{}/healthz", server.base), "Accept: */*", 16, SECONDS);
    println!("  16 connections: GET /healthz (no database) {bare:>8.0} requests/s ({detail})");
    let mut rows = Vec::new();
    for connections in [1, 16] {
        let (reads, detail) = wrk(&url, &format!("Authorization: Bearer {token}"), connections, SECONDS);
        let inserts = pgbench(
            db.url(),
            "INSERT INTO bench_commits (at, note) VALUES (now(), 'a row of about the size of an audit row');\n",
            connections,
            SECONDS,
        );
        println!("  {connections:>2} connections: vigil {reads:>8.0} reads/s ({detail})");
        println!("                  limit: Postgres commits {inserts:>8.0} single-row inserts/s (pgbench)");
        println!("                  ratio {:.2} (target at 16 connections >= 0.50)", reads / inserts);
        rows.push((connections, reads, inserts));
    }
    let (latencies, errors) = fixed_rate(&url, ("authorization", &format!("Bearer {token}")), RATE, SECONDS);
    println!(
        "  fixed {RATE} requests/s from 16 connections: p50 {:.2} ms, p99 {:.2} ms (target < 10 ms), max {:.2} ms, {errors} errors of {}",
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
        latencies.len()
    );
    let mut conn = db.connect();
    let audited: i64 = vigil_store::schema::audit_log::table
        .filter(vigil_store::schema::audit_log::action.eq("read"))
        .count()
        .get_result(&mut conn)
        .expect("count");
    println!("  audit rows of reads written: {audited}");
}
