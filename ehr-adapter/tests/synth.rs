//! The generator: the same seed gives the same files, and what it writes loads without a reject,
//! as NDJSON and as Bundles.

use chrono::NaiveDate;
use diesel::prelude::*;
use vigil_ehr_adapter::load::load;
use vigil_ehr_adapter::synth::{Format, Options, generate};
use vigil_store::schema::{encounters, patients};
use vigil_store::testing::TestDb;

fn options(seed: u64, format: Format) -> Options {
    Options {
        patients: 60,
        seed,
        years: 3,
        end: NaiveDate::from_ymd_opt(2026, 10, 31).expect("date"),
        format,
        drift_from: None,
    }
}

fn files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut all: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .map(|p| (p.file_name().expect("name").to_string_lossy().into_owned(), std::fs::read(&p).expect("read")))
        .collect();
    all.sort();
    all
}

#[test]
fn the_same_seed_gives_the_same_files() {
    let (a, b, c) =
        (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    generate(&options(3, Format::Ndjson), a.path(), |_| {}).expect("generate");
    generate(&options(3, Format::Ndjson), b.path(), |_| {}).expect("generate");
    generate(&options(4, Format::Ndjson), c.path(), |_| {}).expect("generate");
    assert_eq!(files(a.path()), files(b.path()));
    assert_ne!(files(a.path()), files(c.path()));
}

#[test]
fn generated_data_loads_without_rejects_in_both_formats() {
    for format in [Format::Ndjson, Format::Bundle] {
        let dir = tempfile::tempdir().expect("dir");
        let written = generate(&options(5, format), dir.path(), |_| {}).expect("generate");
        assert_eq!(written.get("Patient"), Some(&60));
        let db = TestDb::migrated();
        let mut conn = db.connect();
        let summary =
            load(&mut conn, "urn:test:synth", &loader(), &[dir.path().to_owned()], 1000, |_| {}).expect("load");
        let totals = summary.totals();
        assert_eq!(totals.rejected, 0, "{format:?}: {summary:?}");
        assert_eq!(totals.stored, written.values().sum::<u64>(), "{format:?}: every resource stored");
        let stored: i64 = patients::table.filter(patients::version.gt(0)).count().get_result(&mut conn).expect("count");
        assert_eq!(stored, 60);
        let inpatient: i64 = encounters::table
            .filter(encounters::class_code.eq("IMP").and(encounters::discharge_disposition_code.is_not_null()))
            .count()
            .get_result(&mut conn)
            .expect("count");
        assert!(inpatient > 0, "{format:?}: inpatient stays with dispositions");
    }
}

fn loader() -> vigil_store::audit::AuditEvent {
    vigil_store::audit::AuditEvent::new(
        "service:test-loader",
        "service",
        "ingest",
        vigil_store::audit::Outcome::Success,
    )
}
