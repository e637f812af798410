//! What the benches share: peak memory, and a synthetic population written by `vigil synth` and
//! loaded through ingestion.

#![allow(dead_code, clippy::expect_used)] // each bench uses part of it

pub mod http;
pub mod kept;
pub mod mail;
pub mod processes;
pub mod ward;

use std::fs::File;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use vigil_ehr_adapter::load::{DEFAULT_BATCH, load};
use vigil_ehr_adapter::synth::{self, Format, Options, Written};
use vigil_scoring::training::{Example, Target};
use vigil_store::audit::{AuditEvent, Outcome};
use vigil_store::schema::scores;
use vigil_store::testing::TestDb;

/// A memory figure of this process from /proc/self/status, in MiB.
fn status_mib(field: &str) -> f64 {
    process_status_mib("self", field)
}

/// A memory figure of process `pid` ("self" for this one) from its /proc status, in MiB; 0 once
/// it has exited.
pub fn process_status_mib(pid: &str, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// Peak resident memory of this process so far (since the last [`reset_peak_rss`]).
pub fn peak_rss_mib() -> f64 {
    status_mib("VmHWM:")
}

/// Resident memory of this process now.
pub fn rss_mib() -> f64 {
    status_mib("VmRSS:")
}

/// Writes `patients` synthetic patients (three years ending 2026-10-31) as NDJSON into `out`.
pub fn synthesize(patients: u64, seed: u64, out: &Path) -> Written {
    synthesize_years(patients, seed, 3, out)
}

/// [`synthesize`] with `years` of history.
pub fn synthesize_years(patients: u64, seed: u64, years: u32, out: &Path) -> Written {
    let options = Options {
        patients,
        seed,
        years,
        end: chrono::NaiveDate::from_ymd_opt(2026, 10, 31).expect("date"),
        format: Format::Ndjson,
        drift_from: None,
    };
    synth::generate(&options, out, |_| {}).expect("synth")
}

/// Hands everything a `COPY ... TO STDOUT` reads out to `sink` (`std::io::sink()` to discard it);
/// the bytes.
pub fn copy_out(mut out: impl BufRead, mut sink: impl Write) -> u64 {
    let mut bytes = 0;
    loop {
        let chunk = out.fill_buf().expect("read copy");
        if chunk.is_empty() {
            return bytes;
        }
        sink.write_all(chunk).expect("write copy");
        let n = chunk.len();
        bytes += n as u64;
        out.consume(n);
    }
}

/// `COPY (query) TO STDOUT`, read by psql into `sink`; the bytes. diesel copies tables only, and
/// a partitioned table (`scores`) can be copied out only as a query.
pub fn copy_query_out(database_url: &str, query: &str, mut sink: impl Write) -> u64 {
    let mut psql = std::process::Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", database_url, "-c"])
        .arg(format!("COPY ({query}) TO STDOUT"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("psql (Debian's postgresql-client)");
    let bytes = std::io::copy(&mut psql.stdout.take().expect("stdout"), &mut sink).expect("copy out");
    assert!(psql.wait().expect("psql").success(), "psql: COPY ({query}) TO STDOUT");
    bytes
}

/// An I/O error inside a diesel `COPY` callback.
pub fn io(e: std::io::Error) -> diesel::result::Error {
    diesel::result::Error::SerializationError(Box::new(e))
}

/// The stored scores moved out to a file (not timed), for a limit to `COPY` back in (timed).
pub struct SavedScores {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl SavedScores {
    /// Exports the scores and empties their table.
    pub fn take(db: &TestDb, conn: &mut PgConnection) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("scores");
        copy_query_out(db.url(), "SELECT * FROM scores", File::create(&path).expect("file"));
        // Not TRUNCATE: alerts, outcomes, feedback and cards reference scores (none here).
        conn.batch_execute("DELETE FROM scores").expect("empty the scores");
        Self { _dir: dir, path }
    }

    /// `COPY`s the scores back in.
    pub fn copy_back(&self, conn: &mut PgConnection) {
        diesel::copy_from(scores::table)
            .from_raw_data(scores::table, |w| {
                let mut file = File::open(&self.path).map_err(io)?;
                std::io::copy(&mut file, w).map(|_| ()).map_err(io)
            })
            .execute(conn)
            .expect("copy from");
    }
}

/// Starts measuring peak memory afresh (Linux resets the high-water mark on "5").
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Loads a synthetic population into `conn` through ingestion; returns the newest time in the data.
pub fn population(conn: &mut PgConnection, patients: u64, seed: u64) -> DateTime<Utc> {
    population_years(conn, patients, seed, 3)
}

/// [`population`] with `years` of history.
pub fn population_years(conn: &mut PgConnection, patients: u64, seed: u64, years: u32) -> DateTime<Utc> {
    let dir = tempfile::tempdir().expect("tempdir");
    synthesize_years(patients, seed, years, dir.path());
    let loader = AuditEvent::new("service:bench", "service", "ingest", Outcome::Success);
    load(conn, "urn:bench", &loader, &[dir.path().to_owned()], DEFAULT_BATCH, |_| {}).expect("load");
    vigil_scoring::load::data_end(conn).expect("query").expect("data")
}

/// The examples of `target` in `conn` (at most `max` admission examples, sampled evenly).
pub fn examples(conn: &mut PgConnection, target: Target, data_end: DateTime<Utc>, max: u64) -> Vec<Example> {
    let start = vigil_scoring::load::data_start(conn).expect("query");
    let from = vigil_scoring::load::admission_from(data_end, start);
    vigil_scoring::load::examples(conn, target, from, data_end, max, |_| {}).expect("examples")
}

/// Loads a synthetic population into `conn` through ingestion and returns every admission example
/// of it (no sampling) with the newest time in the data.
pub fn admission_examples(conn: &mut PgConnection, patients: u64, seed: u64) -> (DateTime<Utc>, Vec<Example>) {
    let data_end = population(conn, patients, seed);
    (data_end, examples(conn, Target::Admission, data_end, u64::MAX))
}

/// Runs `vigil ARGS` against `db` with `stdin` piped in (alert notices due at once); what it
/// printed. Panics unless it succeeds.
pub fn vigil(db: &TestDb, args: &[&str], stdin: &str) -> String {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .env("DATABASE_URL", db.url())
        .env("VIGIL_ALERTS__GROUP_WAIT_SECS", "0")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("vigil");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("stdin");
    let out = child.wait_with_output().expect("vigil");
    let errors = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = errors.lines().rev().take(20).collect();
    assert!(out.status.success(), "vigil {args:?}:\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A learned model of each target trained on the population ending at `data_end`, registered and
/// activated, and the three baselines: what a scoring run scores with.
pub fn active_models(conn: &mut PgConnection, data_end: DateTime<Utc>) {
    use vigil_scoring::model::Algorithm;
    use vigil_scoring::registry;
    use vigil_scoring::training::{self, Settings, default_cutoff};
    registry::ensure_baselines(conn, "service:bench").expect("baselines");
    for (target, threshold) in [(Target::Readmission, 0.30), (Target::Admission, 0.05)] {
        let examples = examples(conn, target, data_end, 200_000);
        let cutoff = default_cutoff(data_end, 180);
        let settings =
            Settings { target, learners: vec![Algorithm::LogisticRegression], cutoff, threshold, threads: None };
        let (model, report) = training::train(&examples, &settings).expect("train");
        let version = registry::register(conn, &model, &report, "service:bench").expect("register");
        registry::activate(conn, &version, "service:bench", Some("bench population")).expect("activate");
    }
}

/// What `sql` (one row, a BIGINT column `n`) counts in `db`.
pub fn count(db: &TestDb, sql: &str) -> i64 {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(sql).get_result::<N>(&mut db.connect()).expect(sql).n
}

/// The models of [`active_models`], a scoring run of everyone as of `data_end` (records read on a
/// second connection), and fresh planner statistics.
pub fn score_everyone(db: &TestDb, conn: &mut PgConnection, data_end: DateTime<Utc>) {
    use vigil_scoring::run::{DEFAULT_CHUNK, Runner, Scope};
    active_models(conn, data_end);
    let mut readers = vigil_scoring::run::open_readers(db.url()).expect("readers");
    Runner { conn, readers: &mut readers, by: "service:bench", chunk: DEFAULT_CHUNK }
        .run(Scope::All, data_end, |_| {})
        .expect("run");
    conn.batch_execute("VACUUM ANALYZE").expect("analyze");
}
