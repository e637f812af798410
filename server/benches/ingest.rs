//! `make bench` (ingest): FHIR ingestion into the normalized tables, beside the limit the issue sets:
//! Postgres `COPY` of the same rows into the same tables (same indexes and constraints), measured in
//! the same run. Two inputs: the fixtures in `tests/fixtures` (Synthea Bundles and hospital NDJSON), and a
//! `vigil synth` NDJSON population of `VIGIL_BENCH_PATIENTS` patients (default 100,000).
//!
//! Target: ingestion at least half of COPY's rate (ratio >= 0.5).

#![allow(clippy::print_stdout, clippy::expect_used)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use diesel::prelude::*;
use vigil_ehr_adapter::load::{DEFAULT_BATCH, load};
use vigil_store::audit::{AuditEvent, Outcome};
use vigil_store::schema::{
    conditions, encounters, medication_requests, observations, patients, procedures, raw_resources,
};
use vigil_store::testing::TestDb;

mod support;
use support::{copy_out, peak_rss_mib, synthesize};

macro_rules! each_table {
    ($m:ident) => {
        $m!(raw_resources);
        $m!(patients);
        $m!(encounters);
        $m!(conditions);
        $m!(observations);
        $m!(medication_requests);
        $m!(procedures);
    };
}

fn case(name: &str, paths: &[PathBuf]) {
    let source = TestDb::migrated();
    let mut conn = source.connect();
    let loader = AuditEvent::new("service:bench", "service", "ingest", Outcome::Success);
    let started = Instant::now();
    let summary = load(&mut conn, "urn:bench", &loader, paths, DEFAULT_BATCH, |_| {}).expect("load");
    let ingest = started.elapsed().as_secs_f64();
    let resources = summary.totals().total();
    let peak = peak_rss_mib();

    // The rows ingestion produced, exported (not timed) and copied into an empty database (timed).
    let dump = tempfile::tempdir().expect("tempdir");
    macro_rules! export {
        ($t:ident) => {{
            let path = dump.path().join(stringify!($t));
            // diesel's COPY TO reader leaves its connection mid-command once drained (it never collects
            // the final result), so each table is exported on a connection of its own.
            let mut export_conn = source.connect();
            let out = diesel::copy_to($t::table).load_raw(&mut export_conn).expect("copy to");
            copy_out(out, File::create(&path).expect("file"));
        }};
    }
    each_table!(export);
    let target = TestDb::migrated();
    let mut conn = target.connect();
    let mut rows = 0_u64;
    let started = Instant::now();
    macro_rules! import {
        ($t:ident) => {{
            let path: &Path = &dump.path().join(stringify!($t));
            let copied = diesel::copy_from($t::table)
                .from_raw_data($t::table, |w| {
                    let mut file =
                        File::open(path).map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
                    std::io::copy(&mut file, w)
                        .map(|_| ())
                        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))
                })
                .execute(&mut conn)
                .expect("copy from");
            rows += copied as u64;
        }};
    }
    each_table!(import);
    let copy = started.elapsed().as_secs_f64();
    println!("{name}");
    println!(
        "  ingest                 {resources:>9} resources in {ingest:>7.1} s  {:>8.0} resources/s",
        resources as f64 / ingest
    );
    println!("  COPY, same rows (limit) {rows:>8} rows in {copy:>10.1} s  {:>8.0} rows/s", rows as f64 / copy);
    println!("  ratio                  {:>9.2} of COPY's rate (target >= 0.50)", copy / ingest);
    println!("  peak memory            {peak:>9.0} MiB (whole bench process)");
}

fn main() {
    let fixtures = vigil_store::testing::fixtures();
    case("fixtures: Synthea Bundles and hospital NDJSON", &[fixtures]);

    let patients: u64 = std::env::var("VIGIL_BENCH_PATIENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let written = synthesize(patients, 1, dir.path());
    println!(
        "synth: {patients} patients, {} resources written in {:.1} s",
        written.values().sum::<u64>(),
        started.elapsed().as_secs_f64()
    );
    case(&format!("vigil synth NDJSON, {patients} patients"), &[dir.path().to_owned()]);
}
