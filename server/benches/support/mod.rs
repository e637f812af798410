//! What the benches share: peak memory, and a synthetic population written by `vigil synth`.

#![allow(dead_code, clippy::expect_used)] // each bench uses part of it

use std::path::Path;

use chrono::{DateTime, Utc};
use diesel::PgConnection;
use vigil_ehr_adapter::load::{DEFAULT_BATCH, load};
use vigil_ehr_adapter::synth::{self, Format, Options, Written};
use vigil_scoring::training::{Example, Target};
use vigil_store::audit::{AuditEvent, Outcome};

/// Peak resident memory of this process so far, from /proc.
pub fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// Writes `patients` synthetic patients (three years ending 2026-10-31) as NDJSON into `out`.
pub fn synthesize(patients: u64, seed: u64, out: &Path) -> Written {
    let options = Options {
        patients,
        seed,
        years: 3,
        end: chrono::NaiveDate::from_ymd_opt(2026, 10, 31).expect("date"),
        format: Format::Ndjson,
    };
    synth::generate(&options, out, |_| {}).expect("synth")
}

/// Loads a synthetic population into `conn` through ingestion and returns every admission example
/// of it (no sampling) with the newest time in the data.
pub fn admission_examples(conn: &mut PgConnection, patients: u64, seed: u64) -> (DateTime<Utc>, Vec<Example>) {
    let dir = tempfile::tempdir().expect("tempdir");
    synthesize(patients, seed, dir.path());
    let loader = AuditEvent::new("service:bench", "service", "ingest", Outcome::Success);
    load(conn, "urn:bench", &loader, &[dir.path().to_owned()], DEFAULT_BATCH, |_| {}).expect("load");
    let data_end = vigil_scoring::load::data_end(conn).expect("query").expect("data");
    let examples = vigil_scoring::load::examples(
        conn,
        Target::Admission,
        vigil_scoring::load::admission_from(data_end),
        data_end,
        u64::MAX,
        |_| {},
    )
    .expect("examples");
    (data_end, examples)
}
