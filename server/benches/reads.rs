//! `make bench` (reads): audited FHIR reads by id against a real `vigil serve` (HTTP on loopback,
//! the runtime role, every read audited before its data is sent), beside the limit measured in the
//! same run: Postgres committing single-row inserts (pgbench), from as many connections.
//! - throughput from 1 and 16 connections (wrk, keep-alive) against pgbench from 1 and 16;
//! - latency at a fixed 500 requests per second from 16 connections (an open-loop generator here:
//!   each request is timed from when it was due, so a stall is not hidden by the requests it
//!   delayed), p50, p99 and the errors.

#![allow(clippy::print_stdout, clippy::expect_used, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use vigil_ehr_adapter::ingest::store_batch;
use vigil_ehr_adapter::read::Incoming;
use vigil_store::audit::{AuditEvent, Outcome};
use vigil_store::testing::TestDb;

const SECONDS: u64 = 10;
const RATE: u64 = 500;
const PASSWORD: &str = "a long and unusual bench passphrase";

struct Server {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A URL for a server on this machine, without TLS to it: both Vigil and pgbench connect so, so
/// that neither pays for encryption the other does not.
fn loopback(url: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}sslmode=disable")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// `vigil serve` over plain HTTP (what a TLS-terminating proxy would reach) as the runtime role.
fn serve(db: &TestDb) -> Server {
    let vigil = env!("CARGO_BIN_EXE_vigil");
    let dir = tempfile::tempdir().expect("tempdir");
    let status = Command::new(vigil).args(["init", "--dir"]).arg(dir.path()).stdout(Stdio::null()).status();
    assert!(status.expect("init").success());
    let config = dir.path().join("vigil.toml");
    let kept: String = std::fs::read_to_string(&config)
        .expect("config")
        .lines()
        .filter(|l| !l.starts_with("tls_") && !l.starts_with("port") && !l.starts_with("public_url"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&config, kept).expect("config");
    let port = free_port();
    let mut child = Command::new(vigil)
        .arg("--config")
        .arg(&config)
        .args(["serve", "--port", &port.to_string()])
        .env("DATABASE_URL", loopback(&db.runtime_url()))
        .env("VIGIL_DATABASE__MIGRATION_URL", db.url())
        .env("VIGIL_SERVER__PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("VIGIL_SERVER__API_REQUESTS_PER_MINUTE", "0")
        .env("VIGIL_AUTH__MFA_REQUIRED_ROLES", "[]")
        .env("VIGIL_LOG__FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("vigil.log")).expect("log"))
        .spawn()
        .expect("vigil serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("listening");
    Server { child, base: format!("http://127.0.0.1:{port}"), _dir: dir }
}

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

fn token(server: &Server) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut response = agent
        .post(&format!("{}/auth/login", server.base))
        .send_json(serde_json::json!({ "username": "nurse", "password": PASSWORD }))
        .expect("sign in");
    let body: serde_json::Value = response.body_mut().read_json().expect("json");
    body["access_token"].as_str().expect("token").to_owned()
}

/// wrk for `SECONDS` from `connections` connections; requests per second and the latency line.
fn wrk(url: &str, token: &str, connections: u32) -> (f64, String) {
    let threads = connections.min(2).to_string();
    let out = Command::new("wrk")
        .args(["-t", &threads, "-c", &connections.to_string(), "-d", &format!("{SECONDS}s"), "--latency"])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .arg(url)
        .output()
        .expect("wrk (Debian's wrk; make bench installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let rate = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("wrk's rate");
    let non_2xx = text.lines().find(|l| l.contains("Non-2xx")).map(str::trim).unwrap_or("0 errors").to_owned();
    let p99 = text.lines().find(|l| l.trim().starts_with("99%")).map(str::trim).unwrap_or("").to_owned();
    (rate, format!("p99 {}, {non_2xx}", p99.trim_start_matches("99%").trim()))
}

/// pgbench committing single-row inserts for `SECONDS` from `connections` connections.
fn pgbench(db: &TestDb, connections: u32) -> f64 {
    let script = tempfile::NamedTempFile::new().expect("script");
    std::fs::write(
        script.path(),
        "INSERT INTO bench_commits (at, note) VALUES (now(), 'a row of about the size of an audit row');\n",
    )
    .expect("script");
    let out = Command::new("pgbench")
        .args(["-n", "-c", &connections.to_string(), "-j", &connections.min(2).to_string(), "-T", &SECONDS.to_string()])
        .arg("-f")
        .arg(script.path())
        .arg(loopback(db.url()))
        .output()
        .expect("pgbench (Debian's postgresql-client)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("pgbench: {text}{}", String::from_utf8_lossy(&out.stderr)))
}

/// `RATE` requests per second for `SECONDS` from 16 connections, each request timed from when it
/// was due; the sorted latencies and the errors.
fn fixed_rate(url: &str, token: &str) -> (Vec<Duration>, u64) {
    let connections = 16_u64;
    let interval = Duration::from_nanos(1_000_000_000 * connections / RATE);
    let start = Instant::now() + Duration::from_millis(100);
    let workers: Vec<_> = (0..connections)
        .map(|w| {
            let (url, token) = (url.to_owned(), format!("Bearer {token}"));
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
                let (mut latencies, mut errors) = (Vec::new(), 0_u64);
                let offset = interval * w as u32 / connections as u32;
                for i in 0..(RATE * SECONDS / connections) {
                    let due = start + offset + interval * i as u32;
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let ok = agent
                        .get(&url)
                        .header("authorization", &token)
                        .call()
                        .map(|mut r| r.status() == 200 && r.body_mut().read_to_string().is_ok())
                        .unwrap_or(false);
                    latencies.push(due.elapsed());
                    errors += u64::from(!ok);
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (latencies, e) = w.join().expect("worker");
        all.extend(latencies);
        errors += e;
    }
    all.sort();
    (all, errors)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn main() {
    let db = TestDb::migrated();
    seed(&db);
    db.connect()
        .batch_execute("CREATE TABLE bench_commits (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at TIMESTAMPTZ, note TEXT)")
        .expect("bench table");
    let server = serve(&db);
    let token = token(&server);
    let url = format!("{}/fhir/Patient/bench-1", server.base);

    println!(
        "audited FHIR read by id (GET /fhir/Patient/{{id}} as a clinician of the patient's unit), {SECONDS} s each"
    );
    let mut rows = Vec::new();
    for connections in [1, 16] {
        let (reads, detail) = wrk(&url, &token, connections);
        let inserts = pgbench(&db, connections);
        println!("  {connections:>2} connections: vigil {reads:>8.0} reads/s ({detail})");
        println!("                  limit: Postgres commits {inserts:>8.0} single-row inserts/s (pgbench)");
        println!("                  ratio {:.2} (target at 16 connections >= 0.50)", reads / inserts);
        rows.push((connections, reads, inserts));
    }
    let (latencies, errors) = fixed_rate(&url, &token);
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
