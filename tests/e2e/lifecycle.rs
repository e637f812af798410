//! The model lifecycle on a population whose hidden process changes partway (`vigil synth
//! --drift-from`): a model trained before the change is monitored as later outcomes mature, drift is
//! flagged on the features the change moved, its matured AUROC falls, informatics are notified, a
//! challenger retrained on the newest window enters shadow, and the promotion guard promotes it on
//! the outcomes of its shadow period. On the same population without the change the guard keeps
//! the champion.

use vigil_store::testing::TestDb;

use crate::scoring::{activate, cli, count};
use crate::support::{run, seed, vigil};

/// The population, the champion (trained as Vigil would have on the day the process changed) and
/// an informatics user to notify.
fn champion_on(drift: bool) -> TestDb {
    let db = TestDb::migrated();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().to_str().expect("path");
    // Five years, so that the champion learns from records with a full year of history behind
    // them (a population's first year has none, and a model trained on it is worse for that alone).
    let mut synth = vec!["synth", "--patients", "3000", "--years", "5", "--seed", "7", "--out", out];
    if drift {
        synth.extend(["--drift-from", "2025-05-01"]);
    }
    cli(&db, &synth);
    cli(&db, &["ingest", out]);
    cli(
        &db,
        &["train", "--target", "admission", "--as-of", "2025-05-01", "--since", "2023-05-01", "--test-days", "90"],
    );
    activate(&db, "admission-1");
    let args =
        ["user", "add", "analyst", "--role", "informatics", "--email", "analyst@hospital.test", "--password-stdin"];
    seed::cli(db.url(), &args, &format!("{}\n", seed::PASSWORD));
    db
}

fn score_on(db: &TestDb, days: &[&str]) {
    for day in days {
        cli(db, &["score", "--as-of", day]);
    }
}

const MONITORED: [&str; 13] = [
    "2025-02-01",
    "2025-03-01",
    "2025-04-01",
    "2025-05-15",
    "2025-06-15",
    "2025-07-15",
    "2025-08-15",
    "2025-09-15",
    "2025-10-15",
    "2025-11-15",
    "2025-12-15",
    "2026-01-15",
    "2026-02-15",
];
/// Every other week from the challenger's entry into shadow until outcomes stop maturing.
const SHADOW: [&str; 15] = [
    "2026-03-06",
    "2026-03-20",
    "2026-04-03",
    "2026-04-17",
    "2026-05-01",
    "2026-05-15",
    "2026-05-29",
    "2026-06-12",
    "2026-06-26",
    "2026-07-10",
    "2026-07-24",
    "2026-08-07",
    "2026-08-21",
    "2026-09-04",
    "2026-09-18",
];

/// The challenger: retrained on the newest window (since the change), in shadow, scoring beside
/// the champion; then judged. The drift more than doubled admissions, so a calibrated challenger
/// alerts on more of them: the hospital's band for the change in burden is set wide here.
fn challenger_judged(db: &TestDb) -> (String, String) {
    let trained = cli(
        db,
        &[
            "train",
            "--target",
            "admission",
            "--as-of",
            "2026-03-01",
            "--since",
            "2025-05-01",
            "--test-days",
            "60",
            "--shadow",
        ],
    );
    assert!(trained.contains("registered admission-2 and put it in shadow"), "{trained}");
    score_on(db, &SHADOW);
    let (status, out, err) = run(vigil()
        .args(["model", "promote", "admission-2"])
        .env("DATABASE_URL", db.url())
        .env("VIGIL_MONITORING__PROMOTE_BURDEN_BAND", "2.0"));
    assert!(status.success(), "{out}{err}");
    let active: String = {
        use diesel::prelude::*;
        use vigil_store::schema::models;
        models::table
            .filter(models::status.eq("active").and(models::target.eq("admission")))
            .select(models::version)
            .first(&mut db.connect())
            .expect("active")
    };
    (out, active)
}

#[test]
fn drift_is_flagged_informatics_are_told_and_the_guard_promotes_a_retrained_challenger() {
    let db = champion_on(true);
    score_on(&db, &MONITORED);
    let monitored = cli(&db, &["model", "monitor", "--run", "--model", "admission-1", "--features"]);
    assert!(monitored.contains("outcomes: ") && monitored.contains(" matured, 0 still open"), "{monitored}");

    // Before the change the population is the training window's; after it the HbA1c features move.
    let before = count(&db, "SELECT count(*) AS n FROM model_monitoring m JOIN models v ON v.id = m.model_id
        WHERE v.version = 'admission-1' AND m.unit IS NULL AND m.week < '2025-05-01'
          AND (m.figures->>'psi_prediction')::float8 < 0.25
          AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(m.figures->'psi_features') f WHERE (f->>1)::float8 > 0.25)");
    assert_eq!(before, 3, "no drift is significant in the three weeks before the change:\n{monitored}");
    let drifted = cli(&db, &["model", "monitor", "--model", "admission-1", "--features"]);
    let newest = drifted.split("drift per feature").nth(1).expect("drift per feature");
    let significant: Vec<&str> =
        newest.lines().filter(|l| l.ends_with("significant")).filter_map(|l| l.split_whitespace().next()).collect();
    assert!(
        !significant.is_empty() && significant.iter().all(|f| f.starts_with("hba1c")),
        "only the HbA1c features drift: {significant:?}\n{drifted}"
    );
    assert!(drifted.contains("finding, week of") && drifted.contains(": drift: PSI above 0.25"), "{drifted}");

    // Matured AUROC falls below validation, and is found at least once.
    let validation: f64 = {
        let show = cli(&db, &["model", "monitor", "--model", "admission-1"]);
        let at = show.find("AUROC ").expect("validation");
        show[at + 6..at + 11].parse().expect("number")
    };
    let after = count(
        &db,
        &format!(
            "SELECT count(*) AS n FROM model_monitoring m JOIN models v ON v.id = m.model_id
          WHERE v.version = 'admission-1' AND m.unit IS NULL AND m.week >= '2025-05-01'
            AND (m.figures->'auroc'->>0)::float8 < {validation}"
        ),
    );
    assert!(after >= 5, "{after} weeks after the change below validation ({validation}):\n{monitored}");
    assert!(count(&db, "SELECT count(*) AS n FROM model_findings WHERE kind = 'performance'") >= 1, "{monitored}");

    // Each finding reached the informatics user once, through the outbox; a second pass adds none.
    let findings = count(&db, "SELECT count(*) AS n FROM model_findings");
    let notices = "SELECT count(*) AS n FROM outbox o JOIN users u ON u.id = o.user_id
        WHERE u.username = 'analyst' AND o.model_id IS NOT NULL AND o.kind IN ('drift', 'performance')";
    assert_eq!(count(&db, notices), findings);
    let again = cli(&db, &["model", "monitor", "--run", "--model", "admission-1"]);
    assert!(again.contains("0 new findings"), "{again}");
    assert_eq!(count(&db, notices), findings);

    let (decision, active) = challenger_judged(&db);
    assert!(decision.contains("pass  discrimination") && decision.contains("promoted: admission-2"), "{decision}");
    assert_eq!(active, "admission-2");
    let recorded = count(
        &db,
        "SELECT count(*) AS n FROM promotion_decisions d JOIN models c ON c.id = d.challenger_id
        WHERE c.version = 'admission-2' AND d.decision = 'promoted' AND d.decided_by LIKE 'cli:%'
          AND (d.figures->'difference'->>0)::float8 > 0",
    );
    assert_eq!(recorded, 1, "the decision is recorded with its figures and who made it");
    // Rollback stays one action.
    cli(&db, &["model", "rollback", "--target", "admission"]);
    assert_eq!(count(&db, "SELECT count(*) AS n FROM models WHERE version = 'admission-1' AND status = 'active'"), 1);
}

#[test]
fn without_a_change_the_guard_keeps_the_champion_and_force_needs_a_reason() {
    let db = champion_on(false);
    let (decision, active) = challenger_judged(&db);
    assert!(decision.contains("FAIL  discrimination") && decision.contains("kept: admission-1"), "{decision}");
    assert_eq!(active, "admission-1");
    assert_eq!(count(&db, "SELECT count(*) AS n FROM promotion_decisions WHERE decision = 'kept'"), 1);

    let (status, _, err) =
        run(vigil().args(["model", "promote", "admission-2", "--force"]).env("DATABASE_URL", db.url()));
    assert!(!status.success() && err.contains("--reason"), "{err}");
    let forced = cli(&db, &["model", "promote", "admission-2", "--force", "--reason", "validated at the bedside"]);
    assert!(forced.contains("promoted by force"), "{forced}");
    assert_eq!(
        count(
            &db,
            "SELECT count(*) AS n FROM promotion_decisions WHERE decision = 'forced' AND reason = 'validated at the bedside'"
        ),
        1
    );
}

#[test]
fn the_worker_retrains_on_its_schedule_into_shadow_and_promotes_nothing_before_the_shadow_period_matures() {
    let db = crate::scoring::population(1500);
    crate::scoring::with_active_models(&db);
    let mut worker = vigil();
    worker
        .arg("worker")
        .env("DATABASE_URL", db.url())
        .env("VIGIL_SCORE_CRON", "all=0 0 2 1 1 *")
        .env("VIGIL_MONITORING__RETRAIN_CRON", "* * * * * *")
        .env("VIGIL_MONITORING__CRON", "* * * * * *")
        .env("VIGIL_MONITORING__AUTO_PROMOTE", "true")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .env("VIGIL_SERVER__PUBLIC_URL", "https://vigil.test");
    let mut worker = crate::alert_email::Killed(worker.spawn().expect("worker"));
    let shadow = "SELECT count(*) AS n FROM models WHERE status = 'shadow' AND created_by = 'service:worker'";
    crate::support::poll("scheduled retraining to put a model of each target in shadow", || {
        (count(&db, shadow) >= 2).then_some(())
    });
    // Monitoring passes run beside it; with auto-promotion on, a challenger whose shadow period
    // holds no matured outcome yet is not judged.
    crate::support::poll("a monitoring pass after the retraining", || {
        (count(&db, "SELECT count(*) AS n FROM audit_log WHERE action = 'model-monitor'") >= 2).then_some(())
    });
    worker.stop();
    assert_eq!(
        count(&db, shadow),
        2,
        "one challenger per target waits out its shadow period; no other is stacked beside it"
    );
    assert_eq!(count(&db, "SELECT count(*) AS n FROM promotion_decisions"), 0);
    assert_eq!(
        count(&db, "SELECT count(*) AS n FROM models WHERE status = 'active' AND created_by = 'service:worker'"),
        0,
        "the champions stay"
    );
}
