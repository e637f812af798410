//! Alerts from scores, black-box: rules added and changed with `vigil alert rule`, scoring runs
//! through `vigil score`, and the alerts, their history and the rules' versions read back from the
//! database. One alert per episode however often a patient is scored; a tier raised by a lower
//! threshold is recorded; an alert whose score falls below the hysteresis ends; invalid rules are
//! refused with a reason and change nothing.

use diesel::prelude::*;
use vigil_store::testing::TestDb;

use crate::alert_email::{assign, worker};
use crate::scoring::{cli, count, population, with_active_models};
use crate::support::seed;
use crate::support::smtp::{Smtp, header};
use crate::support::{poll, run, vigil};

const AS_OF: &str = "2026-06-01T00:00:00Z";

/// The active admission model's probability at quantile `q` of the last run.
pub fn quantile(db: &TestDb, q: f64) -> f64 {
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

/// A scoring run as of `AS_OF`, whose notices are due at once.
pub fn score(db: &TestDb) -> String {
    score_as_of(db, AS_OF)
}

/// A scoring run as of `as_of` ("now": the present), whose notices are due at once.
pub fn score_as_of(db: &TestDb, as_of: &str) -> String {
    let (status, out, err) = run(vigil()
        .args(["score", "--as-of", as_of])
        .env("DATABASE_URL", db.url())
        .env("VIGIL_ALERTS__GROUP_WAIT_SECS", "0"));
    assert!(status.success(), "vigil score: {out}{err}");
    out
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

pub fn refused(db: &TestDb, args: &[&str]) -> String {
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
    // Each holds the latest score of its patient, with its probability.
    let stale = "SELECT count(*) AS n FROM alerts a JOIN scores s ON s.id = a.score_id
                  WHERE s.probability <> a.probability OR s.factors <> a.factors
                     OR s.run_id <> (SELECT max(id) FROM scoring_runs)";
    assert_eq!(count(&db, stale), 0);

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

    // Candidate thresholds weighed on a backtest of the active model.
    let refused = refused(&db, &["alert", "rule", "suggest", "--target", "admission"]);
    assert!(refused.contains("vigil backtest"), "{refused}");
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("backtest.csv");
    let args = ["backtest", "--target", "admission", "--from", "2025-01-01", "--to", "2026-06-01", "--out"];
    let mut args = args.to_vec();
    args.push(csv.to_str().expect("path"));
    cli(&db, &args);
    let suggested = cli(&db, &["alert", "rule", "suggest", "--target", "admission"]);
    assert!(suggested.contains("per 100 patient-days") && suggested.contains("PPV"), "{suggested}");
    assert!(suggested.contains("no clinician feedback on admission-1's alerts yet"), "{suggested}");
    for candidate in ["top 1%", "top 5%", "top 30%", "rule 1 warning (every unit)", "rule 1 critical"] {
        assert!(suggested.contains(candidate), "{candidate}: {suggested}");
    }
    // More alerts as the threshold falls: the top 30 % alert on more events than the top 1 %.
    let alerts = |name: &str| -> i64 {
        let line = suggested.lines().find(|l| l.starts_with(name)).expect("line");
        line[28..].split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("alerts")
    };
    assert!(alerts("top 30%") > alerts("top 1%"));

    // Every version of the rule is kept with who changed it and why.
    let history = cli(&db, &["alert", "rule", "history", "1"]);
    assert_eq!(history.lines().count(), 3, "{history}");
    assert!(history.contains("top decile") && history.contains("more critical") && history.contains("fewer alerts"));
}

const UNITS: [&str; 5] = ["ward-4W", "ward-5E", "ward-6N", "ward-3S", "ward-2P"];

/// Care units of the synthetic population, a clinician of all of them with an email address,
/// and a rule that alerts on the top decile of admission risk.
pub fn ward_with_a_nurse(db: &TestDb) {
    nurse_on_every_ward(db);
    cli(db, &["score", "--as-of", AS_OF]);
    // The warning threshold taken from the model's own scores: the highest tenth.
    cli(db, &["alert", "rule", "add", "--target", "admission", "--warning", "top10%", "--reason", "top decile"]);
    let listed = cli(db, &["alert", "rule", "list"]);
    assert!(listed.contains(&format!("warning {:>5}", format!("{:.3}", quantile(db, 0.90)))), "{listed}");
}

/// The units, and `nurse` (nurse@hospital.test), a clinician of all of them.
pub fn nurse_on_every_ward(db: &TestDb) {
    for unit in UNITS {
        seed::unit(db.url(), unit);
    }
    let mut args =
        vec!["user", "add", "nurse", "--role", "clinician", "--email", "nurse@hospital.test", "--password-stdin"];
    for unit in UNITS {
        args.extend(["--unit", unit]);
    }
    seed::cli(db.url(), &args, &format!("{}\n", seed::PASSWORD));
}

#[test]
fn clinicians_answer_their_alerts_through_the_api_and_the_lifecycle_holds() {
    let db = population(400);
    with_active_models(&db);
    ward_with_a_nurse(&db);
    seed::unit(db.url(), "ICU-X");
    seed::user(db.url(), "outsider", "clinician", &["ICU-X"]);
    score(&db);
    // The nurse's alerts: those of patients on the five wards (patients at home have no unit).
    let live = count(
        &db,
        "SELECT count(*) AS n FROM alerts WHERE ended_at IS NULL
            AND patient_units(patient_id) && ARRAY['ward-4W', 'ward-5E', 'ward-6N', 'ward-3S', 'ward-2P']",
    );
    assert!(live > 2, "{live}");
    let app = crate::support::App::spawn(db.url());
    let nurse = seed::bearer(&seed::token(&app, "nurse"));
    let outsider = seed::bearer(&seed::token(&app, "outsider"));
    let auth = |who: &str| vec![("authorization", who.to_owned())];
    let get = |path: &str, who: &str| {
        let headers = auth(who);
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        app.get_with(path, &headers)
    };
    let post = |path: &str, who: &str, body: serde_json::Value| {
        let headers = auth(who);
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        app.post_json(path, &headers, &body)
    };

    // The nurse sees every live alert of their units, each read audited; the outsider sees none.
    let listed = get("/api/alerts", &nurse);
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.json()["alerts"].as_array().map(Vec::len), Some(live as usize));
    // One row for the list, naming every patient on it.
    let audited = "SELECT count(DISTINCT p) AS n FROM audit_log, unnest(COALESCE(patients, ARRAY[patient_id])) p
                    WHERE resource_type = 'Alert' AND action = 'search'";
    assert_eq!(count(&db, audited), live);
    assert_eq!(get("/api/alerts", &outsider).json()["alerts"], serde_json::json!([]));
    let critical = get("/api/alerts?tier=critical", &nurse).json()["alerts"].as_array().map_or(0, Vec::len);
    assert!((critical as i64) < live);
    assert_eq!(get("/api/alerts?tier=urgent", &nurse).status, 400);

    let id = listed.json()["alerts"][0]["id"].as_i64().expect("id");
    let path = |action: &str| format!("/api/alerts/{id}/{action}");
    assert_eq!(get(&format!("/api/alerts/{id}"), &outsider).status, 403);
    assert_eq!(post(&path("acknowledge"), &outsider, serde_json::json!({})).status, 403);
    let one = get(&format!("/api/alerts/{id}"), &nurse).json();
    assert_eq!(one["history"][0]["action"], "opened");

    // open → acknowledged; again is a conflict naming the state.
    let acknowledged = post(&path("acknowledge"), &nurse, serde_json::json!({ "note": "seen on the round" }));
    assert_eq!(acknowledged.status, 200, "{}", acknowledged.body);
    assert_eq!(acknowledged.json()["status"], "acknowledged");
    let again = post(&path("acknowledge"), &nurse, serde_json::json!({}));
    assert_eq!(again.status, 409);
    assert!(again.json()["error"]["message"].as_str().is_some_and(|m| m.contains("is acknowledged")), "{}", again.body);

    // Bad input changes nothing: a snooze past the bound, an unknown reason.
    let far = (chrono::Utc::now() + chrono::Duration::hours(100)).to_rfc3339();
    let refused = post(&path("snooze"), &nurse, serde_json::json!({ "until": far, "reason": "later" }));
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("72 hours"));
    assert_eq!(post(&path("dismiss"), &nurse, serde_json::json!({ "reason": "bored" })).status, 422);
    let state = format!("SELECT count(*) AS n FROM alerts WHERE id = {id} AND status = 'acknowledged'");
    assert_eq!(count(&db, &state), 1);

    // snooze → reopen → dismiss → reopen, each recorded with who and why.
    let soon = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    assert_eq!(
        post(&path("snooze"), &nurse, serde_json::json!({ "until": soon, "reason": "awaiting labs" })).json()["status"],
        "snoozed"
    );
    assert_eq!(post(&path("reopen"), &nurse, serde_json::json!({})).json()["status"], "open");
    let dismissed = post(&path("dismiss"), &nurse, serde_json::json!({ "reason": "planned-admission" }));
    assert_eq!(dismissed.json()["status"], "dismissed");
    assert_eq!(post(&path("reopen"), &nurse, serde_json::json!({})).json()["status"], "open");
    let history = get(&format!("/api/alerts/{id}"), &nurse).json()["history"].clone();
    let actions: Vec<&str> = history.as_array().into_iter().flatten().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["opened", "acknowledged", "snoozed", "reopened", "dismissed", "reopened"]);
    assert_eq!(history[2]["reason"], "awaiting labs");
    assert_eq!(history[4]["reason"], "planned-admission");
    assert!(history[1]["by"].as_str().is_some_and(|b| b.starts_with("user:")));
    let responses = "SELECT count(*) AS n FROM audit_log WHERE resource_type = 'Alert' AND action = 'respond' AND outcome = 'success'";
    // Five changes and the refused second acknowledgement: each an access the guard allowed (the
    // refusal revealed the state); the outsider's attempt is a denial.
    assert_eq!(count(&db, responses), 6);
    let denied = "SELECT count(*) AS n FROM audit_log WHERE resource_type = 'Alert' AND outcome = 'denied'";
    assert_eq!(count(&db, denied), 2);

    // The database holds the lifecycle whoever writes: dismissed cannot become snoozed.
    post(&path("dismiss"), &nurse, serde_json::json!({ "reason": "other", "note": "family declined" }));
    let direct = diesel::sql_query(format!(
        "UPDATE alerts SET status = 'snoozed', snoozed_until = now() + interval '1 hour' WHERE id = {id}"
    ))
    .execute(&mut db.connect());
    assert!(direct.is_err_and(|e| e.to_string().contains("cannot become snoozed")));
}

#[test]
fn snoozes_run_out_critical_alerts_escalate_and_a_death_ends_the_episode() {
    let db = population(400);
    with_active_models(&db);
    ward_with_a_nurse(&db);
    cli(
        &db,
        &["alert", "rule", "set", "1", "--critical", &quantile(&db, 0.95).to_string(), "--reason", "critical tier"],
    );
    // The community team of ward-4W looks after the patients at home with the highest risk.
    let at_risk: Vec<String> = {
        use vigil_store::schema::{models, patients, scores};
        scores::table
            .inner_join(models::table)
            .inner_join(patients::table)
            .filter(models::target.eq("admission").and(models::status.eq("active")))
            .filter(scores::probability.ge(quantile(&db, 0.85)))
            .select(patients::fhir_id)
            .distinct()
            .load(&mut db.connect())
            .expect("patients at risk")
    };
    assign(&db, "ward-4W", &at_risk);
    for unit in UNITS {
        cli(&db, &["unit", "escalation", unit, "--after", "1", "--repeat", "3600"]);
        cli(&db, &["unit", "contact", unit, "nurse"]);
    }
    // As of now, as the worker will score the changes it finds: the same risks.
    let now = chrono::Utc::now().to_rfc3339();
    score_as_of(&db, &now);
    let on_wards = "patient_units(patient_id) && ARRAY['ward-4W', 'ward-5E', 'ward-6N', 'ward-3S', 'ward-2P']";
    let alert_where = |condition: &str| {
        count(
            &db,
            &format!(
                "SELECT coalesce(min(id), 0) AS n FROM alerts WHERE ended_at IS NULL AND {on_wards} AND {condition}"
            ),
        )
    };
    let (critical, snoozing) = (alert_where("tier = 'critical'"), alert_where("tier = 'warning'"));
    assert!(critical > 0 && snoozing > 0, "a critical and a warning alert on the wards");

    // Through the API: the warning alert snoozed for two seconds; one critical one acknowledged.
    let app = crate::support::App::spawn(db.url());
    let nurse = seed::bearer(&seed::token(&app, "nurse"));
    let headers = [("authorization", nurse.as_str())];
    let until = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let snoozed = app.post_json(
        &format!("/api/alerts/{snoozing}/snooze"),
        &headers,
        &serde_json::json!({ "until": until, "reason": "back from theatre soon" }),
    );
    assert_eq!(snoozed.status, 200, "{}", snoozed.body);
    let acknowledged = app.post_json(&format!("/api/alerts/{critical}/acknowledge"), &headers, &serde_json::json!({}));
    assert_eq!(acknowledged.status, 200);
    // Critical, open and on a ward with escalation contacts: these must escalate, each once.
    let waiting = "SELECT count(*) AS n FROM alerts WHERE ended_at IS NULL AND tier = 'critical' AND status = 'open'
                     AND unit = ANY(ARRAY['ward-4W', 'ward-5E', 'ward-6N', 'ward-3S', 'ward-2P']) AND escalations = 0";

    // A patient with a live alert dies: the episode ends.
    let (dead_alert, patient): (i64, String) = {
        use vigil_store::schema::{alerts, patients};
        alerts::table
            .inner_join(patients::table)
            .filter(alerts::ended_at.is_null().and(alerts::id.ne(critical)).and(alerts::id.ne(snoozing)))
            .select((alerts::id, patients::fhir_id))
            .first(&mut db.connect())
            .expect("another live alert")
    };
    let mut record: serde_json::Value = {
        use vigil_store::schema::raw_resources;
        raw_resources::table
            .filter(raw_resources::resource_type.eq("Patient").and(raw_resources::fhir_id.eq(&patient)))
            .filter(raw_resources::superseded_at.is_null())
            .select(raw_resources::content)
            .first(&mut db.connect())
            .expect("the patient's record")
    };
    record["deceasedBoolean"] = serde_json::json!(true);
    record.as_object_mut().expect("object").remove("meta");
    seed::ingest(db.url(), vec![record]);

    let smtp = Smtp::start();
    let mut relay = worker(&db, &smtp, &[]);
    let event = |action: &str, id: i64| {
        count(&db, &format!("SELECT count(*) AS n FROM alert_events WHERE action = '{action}' AND alert_id = {id}"))
    };
    poll("the snooze to end", || (event("snooze-ended", snoozing) == 1).then_some(()));
    assert_eq!(count(&db, &format!("SELECT count(*) AS n FROM alerts WHERE id = {snoozing} AND status = 'open'")), 1);
    poll("the death to end the episode", || (event("resolved", dead_alert) == 1).then_some(()));
    let why =
        format!("SELECT count(*) AS n FROM alert_events WHERE alert_id = {dead_alert} AND reason = 'the patient died'");
    assert_eq!(count(&db, &why), 1);
    poll("critical alerts to escalate", || {
        let escalated = count(&db, "SELECT count(*) AS n FROM alert_events WHERE action = 'escalated'");
        (escalated > 0 && count(&db, waiting) == 0).then_some(())
    });
    assert_eq!(event("escalated", critical), 0, "an acknowledged alert is not escalated");
    poll("the escalation email", || {
        smtp.messages().into_iter().find(|m| header(m, "Subject").is_some_and(|s| s.contains("not acknowledged")))
    });
    relay.stop();
    // Once each: the repeat interval (an hour) has not passed.
    let repeated = "SELECT count(*) AS n FROM (SELECT alert_id FROM alert_events WHERE action = 'escalated'
                      GROUP BY alert_id HAVING count(*) > 1) twice";
    assert_eq!(count(&db, repeated), 0);
}
