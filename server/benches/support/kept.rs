//! Populations kept between bench runs. Loading a million patients through ingestion takes a
//! quarter of an hour; with `VIGIL_BENCH_KEEP=1` a bench leaves the loaded database (with its
//! models) on the server, and its next run works on a copy of it. A kept database is named by the
//! population's size, years and seed, a digest of what `vigil synth` writes for that seed and
//! years, and the migrations (see `TestDb::keep_as`), so a change to the generator or the schema
//! makes a new one. They are large: `psql -c '\l vigil_bench_*'` lists them, `DROP DATABASE` frees
//! the space.

use chrono::{DateTime, Utc};
use diesel::PgConnection;
use sha2::{Digest, Sha256};
use vigil_store::testing::TestDb;

use super::{population_years, synthesize_years};

/// A database holding `patients` synthetic patients with `years` of history, loaded through
/// ingestion and then made ready by `prepare` (training models, say); and the newest time in its
/// data. Loaded afresh unless `VIGIL_BENCH_KEEP=1` and a kept copy exists; with it, a fresh load
/// is kept.
pub fn population(
    patients: u64,
    seed: u64,
    years: u32,
    prepare: impl FnOnce(&mut PgConnection, DateTime<Utc>),
) -> (TestDb, DateTime<Utc>) {
    let keep = std::env::var("VIGIL_BENCH_KEEP").is_ok_and(|v| v == "1");
    let name = format!("vigil_bench_{patients}p_{years}y_s{seed}_{}", generator_digest(seed, years));
    if keep && let Some(db) = TestDb::copy_of(&name) {
        let data_end = vigil_scoring::load::data_end(&mut db.connect()).expect("query").expect("data");
        println!("(population copied from the kept database {name})");
        return (db, data_end);
    }
    let db = TestDb::migrated();
    let mut conn = db.connect();
    let data_end = population_years(&mut conn, patients, seed, years);
    prepare(&mut conn, data_end);
    drop(conn);
    if keep {
        db.keep_as(&name);
        println!("(population kept as {name} for the next run)");
    }
    (db, data_end)
}

/// What `vigil synth` writes for a few patients of `seed` and `years`, digested: a change to the
/// generator changes it.
fn generator_digest(seed: u64, years: u32) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    synthesize_years(50, seed, years, dir.path());
    let mut files: Vec<_> = std::fs::read_dir(dir.path()).expect("synth").map(|e| e.expect("entry").path()).collect();
    files.sort();
    let mut digest = Sha256::new();
    for file in &files {
        digest.update(file.file_name().map(|n| n.as_encoded_bytes()).unwrap_or_default());
        digest.update(std::fs::read(file).expect("read"));
    }
    digest.finalize().iter().take(4).map(|b| format!("{b:02x}")).collect()
}
