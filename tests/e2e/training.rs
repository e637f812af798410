//! Training as a hospital meets it: a report beside LACE and HOSPITAL, the registry's changes,
//! and whatever history its records hold.

use crate::scoring::{activate, cli, count, population, population_of};
use crate::support::{run, vigil};

/// A hospital that has kept records for a year trains both targets: the admission examples start
/// where its records do, not three years before its cutoff (months with nothing recorded made a
/// fitting slice with no admission at all).
#[test]
fn a_hospital_with_one_year_of_records_trains_both_targets() {
    let db = population_of(2000, 1);
    for target in ["admission", "readmission"] {
        let report = cli(&db, &["train", "--target", target]);
        assert!(report.contains(&format!("registered {target}-")), "{report}");
        assert!(report.contains("  model "), "{report}");
    }
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
    activate(&db, "readmission-4");
    cli(&db, &["train", "--target", "readmission", "--algorithm", "gradient-boosting"]);
    activate(&db, "readmission-5");
    let listed = cli(&db, &["model", "list"]);
    assert!(listed.lines().any(|l| l.starts_with("readmission-4") && l.contains("retired")), "{listed}");
    let rolled = cli(&db, &["model", "rollback", "--target", "readmission"]);
    assert!(rolled.contains("readmission-4 is the active readmission model again"), "{rolled}");
    let (status, _, err) = run(vigil().args(["model", "activate", "readmission-1"]).env("DATABASE_URL", db.url()));
    assert!(!status.success() && err.contains("baseline"), "a baseline is never the active model: {err}");

    // A challenger in shadow scores beside the active model; retired, it scores no more.
    assert!(cli(&db, &["model", "shadow", "readmission-5"]).contains("scores in shadow"));
    let refused = |args: &[&str]| {
        let (status, _, err) = run(vigil().args(args).env("DATABASE_URL", db.url()));
        assert!(!status.success(), "{args:?} should be refused");
        err
    };
    assert!(refused(&["model", "shadow", "readmission-4"]).contains("active model"));
    assert!(refused(&["model", "retire", "readmission-4"]).contains("active model"));
    assert!(refused(&["model", "retire", "readmission-2"]).contains("baseline"));
    let scored_by = |version: &str| {
        count(
            &db,
            &format!(
                "SELECT count(*) AS n FROM scores s JOIN models m ON m.id = s.model_id \
                 WHERE m.version = '{version}' AND s.run_id = (SELECT max(id) FROM scoring_runs)"
            ),
        )
    };
    cli(&db, &["score", "--as-of", "2026-10-01"]);
    assert!(scored_by("readmission-5") > 0 && scored_by("readmission-5") == scored_by("readmission-4"));
    assert!(cli(&db, &["model", "retire", "readmission-5"]).contains("retired"));
    cli(&db, &["score", "--as-of", "2026-10-02"]);
    assert_eq!(scored_by("readmission-5"), 0);
    assert!(scored_by("readmission-4") > 0);

    // A backtest of the active model: one row per discharge of the period, with the FHIR ids.
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("backtest.csv");
    let printed = cli(
        &db,
        &[
            "backtest",
            "--target",
            "readmission",
            "--from",
            "2025-01-01",
            "--to",
            "2026-09-01",
            "--out",
            csv.to_str().expect("path"),
        ],
    );
    assert!(printed.contains("readmission-4") && printed.contains("LACE (points)"), "{printed}");
    let text = std::fs::read_to_string(&csv).expect("csv");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("patient_id,encounter_id,index_time,probability,lace,hospital,label"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert!(rows.len() > 20, "{} rows", rows.len());
    let mut conn = db.connect();
    use diesel::prelude::*;
    use vigil_store::schema::{encounters, patients};
    for row in rows.iter().take(5) {
        let p: f64 = row[3].parse().expect("probability");
        assert!((0.0..=1.0).contains(&p) && ["0", "1"].contains(&row[6]), "{row:?}");
        let stays: i64 = encounters::table
            .inner_join(patients::table)
            .filter(encounters::fhir_id.eq(row[1]).and(patients::fhir_id.eq(row[0])))
            .count()
            .get_result(&mut conn)
            .expect("count");
        assert_eq!(stays, 1, "the ids are the FHIR ids of the stay and its patient: {row:?}");
        assert!(("2025-01-01".."2026-09-01").contains(&&row[2][..10]), "{row:?}");
    }
}
