//! Alerts from scores, black-box: rules added and changed with `vigil alert rule`, scoring runs
//! through `vigil score`, and the alerts, their history and the rules' versions read back from the
//! database. One alert per episode however often a patient is scored; a tier raised by a lower
//! threshold is recorded; an alert whose score falls below the hysteresis ends; invalid rules are
//! refused with a reason and change nothing.

use diesel::prelude::*;
use vigil_store::testing::TestDb;

use crate::scoring::{cli, count, population, with_active_models};
use crate::support::{run, vigil};

const AS_OF: &str = "2026-06-01T00:00:00Z";

/// The active admission model's probability at quantile `q` of the last run.
fn quantile(db: &TestDb, q: f64) -> f64 {
    #[derive(QueryableByName)]
    struct V {
        #[diesel(sql_type = diesel::sql_types::Double)]
        v: f64,
    }
    let sql = format!(
        "SELECT percentile_disc({q}) WITHIN GROUP (ORDER BY s.probability) AS v FROM scores s
           JOIN models m ON m.id = s.model_id
          WHERE m.target = 'admission' AND m.status = 'active' AND s.run_id = (SELECT max(id) FROM scoring_runs)"
    );
    diesel::sql_query(&sql).get_result::<V>(&mut db.connect()).expect("quantile").v
}

fn score(db: &TestDb) -> String {
    cli(db, &["score", "--as-of", AS_OF])
}

fn admission_scores_at_least(db: &TestDb, threshold: f64) -> i64 {
    count(
        db,
        &format!(
            "SELECT count(*) AS n FROM scores s JOIN models m ON m.id = s.model_id
              WHERE m.target = 'admission' AND m.status = 'active' AND s.probability >= {threshold}
                AND s.run_id = (SELECT max(id) FROM scoring_runs)"
        ),
    )
}

fn refused(db: &TestDb, args: &[&str]) -> String {
    let (status, out, err) = run(vigil().args(args).env("DATABASE_URL", db.url()));
    assert!(!status.success(), "vigil {args:?} should fail: {out}");
    err
}

#[test]
fn scores_open_one_alert_per_episode_and_rules_move_their_tiers() {
    let db = population(400);
    with_active_models(&db);
    let first = score(&db);
    assert!(first.contains("alerts: 0 opened"), "no rule, no alert: {first}");

    let (warning, critical) = (quantile(&db, 0.90), quantile(&db, 0.97));
    assert!(warning < critical, "the population spreads: {warning} {critical}");
    let rule = cli(
        &db,
        &[
            "alert",
            "rule",
            "add",
            "--target",
            "admission",
            "--warning",
            &warning.to_string(),
            "--critical",
            &critical.to_string(),
            "--hysteresis",
            "0",
            "--reason",
            "top decile",
        ],
    );
    assert!(rule.contains("admission") && rule.contains("v1"), "{rule}");

    // A scoring run opens an alert for each patient at or above the lowest tier, at their tier.
    score(&db);
    let expected = admission_scores_at_least(&db, warning);
    assert!(expected > 10, "enough patients alert: {expected}");
    let alerts = "SELECT count(*) AS n FROM alerts WHERE target = 'admission'";
    assert_eq!(count(&db, alerts), expected);
    let critical_now = admission_scores_at_least(&db, critical);
    assert_eq!(count(&db, "SELECT count(*) AS n FROM alerts WHERE tier = 'critical'"), critical_now);
    assert_eq!(count(&db, "SELECT count(*) AS n FROM alert_events WHERE action = 'opened'"), expected);

    // Scored again with the same data: the same alerts, updated, none opened again.
    let again = score(&db);
    assert!(again.contains("alerts: 0 opened"), "{again}");
    assert_eq!(count(&db, alerts), expected);
    assert_eq!(count(&db, "SELECT count(*) AS n FROM alert_events WHERE action = 'opened'"), expected);

    // A lower critical threshold raises the tier of the alerts between the two.
    let lower = quantile(&db, 0.94);
    cli(&db, &["alert", "rule", "set", "1", "--critical", &lower.to_string(), "--reason", "more critical"]);
    score(&db);
    let raised = admission_scores_at_least(&db, lower) - critical_now;
    assert!(raised > 0);
    assert_eq!(count(&db, "SELECT count(*) AS n FROM alert_events WHERE action = 'tier-raised'"), raised);
    assert_eq!(count(&db, "SELECT count(*) AS n FROM alerts WHERE tier = 'critical'"), critical_now + raised);

    // A higher warning threshold ends the episodes now below it (no hysteresis here).
    let higher = quantile(&db, 0.93);
    cli(&db, &["alert", "rule", "set", "1", "--warning", &higher.to_string(), "--reason", "fewer alerts"]);
    score(&db);
    let ended = expected - admission_scores_at_least(&db, higher);
    assert!(ended > 0);
    assert_eq!(
        count(&db, "SELECT count(*) AS n FROM alerts WHERE status = 'resolved' AND ended_at IS NOT NULL"),
        ended
    );
    assert_eq!(count(&db, "SELECT count(*) AS n FROM alert_events WHERE action = 'resolved'"), ended);

    // Every version of the rule is kept with who changed it and why.
    let history = cli(&db, &["alert", "rule", "history", "1"]);
    assert_eq!(history.lines().count(), 3, "{history}");
    assert!(history.contains("top decile") && history.contains("more critical") && history.contains("fewer alerts"));
}

#[test]
fn invalid_rules_are_refused_with_a_reason_and_change_nothing() {
    let db = TestDb::migrated();
    let rules = "SELECT count(*) AS n FROM alert_rules";
    let err = refused(
        &db,
        &["alert", "rule", "add", "--target", "admission", "--warning", "0.5", "--critical", "0.4", "--reason", "x"],
    );
    assert!(err.contains("warning") && err.contains("critical") && err.contains("below"), "{err}");
    let err = refused(&db, &["alert", "rule", "add", "--target", "admission", "--info", "1.5", "--reason", "x"]);
    assert!(err.contains("info") && err.contains("1.5"), "{err}");
    let err = refused(&db, &["alert", "rule", "add", "--target", "discharge", "--info", "0.5", "--reason", "x"]);
    assert!(err.contains("discharge"), "{err}");
    let err = refused(
        &db,
        &["alert", "rule", "add", "--target", "admission", "--info", "0.5", "--unit", "NOPE", "--reason", "x"],
    );
    assert!(err.contains("NOPE"), "{err}");
    let err = refused(&db, &["alert", "rule", "add", "--target", "admission", "--info", "0.5", "--reason", " "]);
    assert!(err.contains("reason"), "{err}");
    assert_eq!(count(&db, rules), 0);

    cli(&db, &["alert", "rule", "add", "--target", "admission", "--info", "0.5", "--reason", "first"]);
    let err = refused(&db, &["alert", "rule", "add", "--target", "admission", "--info", "0.6", "--reason", "second"]);
    assert!(err.contains("exists already"), "{err}");
    let err = refused(&db, &["alert", "rule", "set", "1", "--warning", "0.4", "--reason", "below info"]);
    assert!(err.contains("info") && err.contains("warning"), "{err}");
    assert_eq!(count(&db, rules), 1);
    assert_eq!(count(&db, "SELECT count(*) AS n FROM alert_rule_history"), 1);
}
