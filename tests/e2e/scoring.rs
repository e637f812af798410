//! Training and the model registry, black-box: a synthetic population loaded through `vigil synth`
//! and `vigil ingest`, `vigil train` reporting beside LACE and HOSPITAL, and `vigil model`
//! activating and rolling back.

use vigil_store::testing::TestDb;

use crate::support::{run, vigil};

fn cli(db: &TestDb, args: &[&str]) -> String {
    let (status, out, err) = run(vigil().args(args).env("DATABASE_URL", db.url()));
    assert!(status.success(), "vigil {args:?}: {out}{err}");
    out
}

/// A database holding a small synthetic population.
pub fn population(patients: u32) -> TestDb {
    let db = TestDb::migrated();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().to_str().expect("path");
    cli(&db, &["synth", "--patients", &patients.to_string(), "--seed", "7", "--out", out]);
    cli(&db, &["ingest", out]);
    db
}

#[test]
fn training_reports_beside_the_baselines_and_the_registry_manages_models() {
    let db = population(2000);
    let report = cli(&db, &["train", "--target", "readmission"]);
    for line in [
        "  model ",
        "  LACE ",
        "  HOSPITAL ",
        "calibration by decile",
        "at threshold 0.30",
        "  sex ",
        "  age ",
        "  race ",
    ] {
        assert!(report.contains(line), "{line:?} missing from:\n{report}");
    }
    let auroc = |name: &str| -> f64 {
        let line = report.lines().find(|l| l.trim_start().starts_with(name)).expect("line");
        line.split("AUROC")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("AUROC")
    };
    assert!(auroc("model") > 0.7, "{report}");
    assert!(report.contains("registered readmission-4 as a candidate"), "the baselines are 1 to 3:\n{report}");

    let listed = cli(&db, &["model", "list"]);
    for expected in ["readmission-1    readmission  lace", "readmission-4", "candidate"] {
        assert!(listed.contains(expected), "{expected:?}:\n{listed}");
    }
    assert!(cli(&db, &["model", "show", "readmission-4"]).contains("calibration by decile"));
    cli(&db, &["model", "activate", "readmission-4"]);
    cli(&db, &["train", "--target", "readmission", "--algorithm", "gradient-boosting"]);
    cli(&db, &["model", "activate", "readmission-5"]);
    let listed = cli(&db, &["model", "list"]);
    assert!(listed.lines().any(|l| l.starts_with("readmission-4") && l.contains("retired")), "{listed}");
    let rolled = cli(&db, &["model", "rollback", "--target", "readmission"]);
    assert!(rolled.contains("readmission-4 is the active readmission model again"), "{rolled}");
    let (status, _, err) = run(vigil().args(["model", "activate", "readmission-1"]).env("DATABASE_URL", db.url()));
    assert!(!status.success() && err.contains("baseline"), "a baseline is never the active model: {err}");
}
