//! Alerts from scores, black-box: rules added and changed with `vigil alert rule`, scoring runs
//! through `vigil score`, and the alerts, their history and the rules' versions read back from the
//! database. One alert per episode however often a patient is scored; a tier raised by a lower
//! threshold is recorded; an alert whose score falls below the hysteresis ends; invalid rules are
//! refused with a reason and change nothing.

use diesel::prelude::*;
use vigil_store::testing::TestDb;

use crate::scoring::{cli, count, population, with_active_models};
use crate::support::seed;
use crate::support::smtp::{Behaviour, Smtp, header};
use crate::support::{poll, run, vigil};

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

/// A scoring run as of `AS_OF`, whose notices are due at once.
pub fn score(db: &TestDb) -> String {
    score_as_of(db, AS_OF)
}

/// A scoring run as of `as_of` ("now": the present), whose notices are due at once.
fn score_as_of(db: &TestDb, as_of: &str) -> String {
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
    let err = refused(&db, &["alert", "rule", "add", "--target", "admission", "--warning", "top5%", "--reason", "x"]);
    assert!(err.contains("score first"), "{err}");
    let err = refused(&db, &["alert", "rule", "add", "--target", "admission", "--warning", "top150%", "--reason", "x"]);
    assert!(err.contains("percentage"), "{err}");
    assert_eq!(count(&db, rules), 0);

    cli(&db, &["alert", "rule", "add", "--target", "admission", "--info", "0.5", "--reason", "first"]);
    let err = refused(&db, &["alert", "rule", "add", "--target", "admission", "--info", "0.6", "--reason", "second"]);
    assert!(err.contains("exists already"), "{err}");
    let err = refused(&db, &["alert", "rule", "set", "1", "--warning", "0.4", "--reason", "below info"]);
    assert!(err.contains("info") && err.contains("warning"), "{err}");
    assert_eq!(count(&db, rules), 1);
    assert_eq!(count(&db, "SELECT count(*) AS n FROM alert_rule_history"), 1);
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
fn nurse_on_every_ward(db: &TestDb) {
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
fn an_alert_reaches_its_clinician_once_by_email_without_patient_data() {
    let db = population(300);
    with_active_models(&db);
    ward_with_a_nurse(&db);
    let queued = score(&db);
    let notices = count(&db, "SELECT count(*) AS n FROM outbox");
    assert!(notices > 5, "notices queued for the nurse: {queued}");

    let smtp = Smtp::start();
    let mut worker = worker(&db, &smtp, &[]);
    let message = poll("the email to arrive", || smtp.messages().into_iter().next());
    poll("the message to be recorded as sent", || {
        (count(&db, "SELECT count(*) AS n FROM outbox_messages WHERE status = 'sent'") == 1).then_some(())
    });
    worker.stop();

    // One message for all of the nurse's notices, named by its outbox id.
    assert_eq!(smtp.messages().len(), 1);
    let id = count(&db, "SELECT min(id) AS n FROM outbox_messages");
    assert_eq!(header(&message, "Message-ID"), Some(format!("<vigil-outbox-{id}@hospital.test>")));
    assert_eq!(header(&message, "To").as_deref(), Some("nurse@hospital.test"));
    assert!(message.contains("https://vigil.test/alerts/"), "{message}");
    assert!(message.contains("text/html") && message.contains("text/plain"));
    assert_eq!(count(&db, "SELECT count(*) AS n FROM outbox WHERE message_id IS NULL"), 0);

    names_no_patient(&db, &message);
}

/// Asserts that `message` names none of the alerted patients: not their names, record numbers,
/// birth dates or ids.
fn names_no_patient(db: &TestDb, message: &str) {
    type Identity = (String, Option<String>, Option<String>, Option<String>, Option<chrono::NaiveDate>);
    let identifiers: Vec<Identity> = {
        use vigil_store::schema::{alerts, patients};
        patients::table
            .inner_join(alerts::table)
            .select((
                patients::fhir_id,
                patients::family_name,
                patients::given_names,
                patients::mrn,
                patients::birth_date,
            ))
            .load(&mut db.connect())
            .expect("patients")
    };
    assert!(!identifiers.is_empty());
    let body = message.to_lowercase();
    for (fhir_id, family, given, mrn, birth) in identifiers {
        let mut values = vec![fhir_id];
        values.extend(family.into_iter().chain(given).chain(mrn));
        if let Some(birth) = birth {
            values.push(birth.format("%Y-%m-%d").to_string());
        }
        for value in values.into_iter().filter(|v| v.len() >= 4) {
            assert!(!body.contains(&value.to_lowercase()), "the message names a patient: {value}");
        }
    }
}

#[test]
fn a_lab_result_that_raises_a_risk_is_rescored_and_reaches_the_ward_nurse_by_email() {
    let db = population(300);
    with_active_models(&db);
    nurse_on_every_ward(&db);
    let smtp = Smtp::start();
    let mut worker = worker(&db, &smtp, &[]);
    // The worker first scores the changes of the initial load; no rule yet, so no alert.
    poll("the initial load to be scored and evaluated", || {
        (count(
            &db,
            "SELECT count(*) AS n FROM scoring_runs r, feed_positions f
              WHERE r.kind = 'changed' AND r.status = 'done'
                AND f.consumer = 'alerts' AND f.seq >= (SELECT max(id) FROM scores)",
        ) > 0)
            .then_some(())
    });
    // A patient of middling risk, on the nurse's ward.
    let (patient, before) = {
        #[derive(QueryableByName)]
        struct Scored {
            #[diesel(sql_type = diesel::sql_types::Text)]
            fhir_id: String,
            #[diesel(sql_type = diesel::sql_types::Double)]
            probability: f64,
        }
        let scored: Vec<Scored> = diesel::sql_query(
            "SELECT p.fhir_id, s.probability FROM scores s
               JOIN models m ON m.id = s.model_id JOIN patients p ON p.id = s.patient_id
              WHERE m.target = 'admission' AND m.status = 'active' AND NOT p.deceased
                AND s.run_id = (SELECT max(run_id) FROM scores)
              ORDER BY s.probability, p.fhir_id",
        )
        .load(&mut db.connect())
        .expect("scores");
        let median = &scored[scored.len() / 2];
        (median.fhir_id.clone(), median.probability)
    };
    assign(&db, "ward-4W", std::slice::from_ref(&patient));
    let threshold = format!("{:.6}", before + 0.000_5);
    cli(&db, &["alert", "rule", "add", "--target", "admission", "--warning", &threshold, "--reason", "just above"]);
    assert_eq!(count(&db, "SELECT count(*) AS n FROM alerts"), 0);

    // The EHR sends today's blood results: anaemia, low sodium, failing kidneys.
    let now = chrono::Utc::now().to_rfc3339();
    let lab = |id: &str, loinc: &str, value: f64, unit: &str| {
        serde_json::json!({
            "resourceType": "Observation", "id": id, "status": "final",
            "category": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory" }] }],
            "code": { "coding": [{ "system": "http://loinc.org", "code": loinc }] },
            "subject": { "reference": format!("Patient/{patient}") },
            "effectiveDateTime": now,
            "valueQuantity": { "value": value, "unit": unit },
        })
        .to_string()
    };
    let labs = [
        lab("fresh-hemoglobin", "718-7", 7.6, "g/dL"),
        lab("fresh-sodium", "2951-2", 124.0, "mmol/L"),
        lab("fresh-creatinine", "2160-0", 3.4, "mg/dL"),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("Observation.ndjson");
    std::fs::write(&file, labs.join("\n") + "\n").expect("write");
    cli(&db, &["ingest", file.to_str().expect("path")]);

    let alert = poll("the patient to be re-scored and alerted", || {
        let id = count(
            &db,
            &format!(
                "SELECT coalesce(max(a.id), 0) AS n FROM alerts a JOIN patients p ON p.id = a.patient_id
                  WHERE p.fhir_id = '{patient}' AND a.status = 'open' AND a.tier = 'warning'"
            ),
        );
        (id > 0).then_some(id)
    });
    let message = poll("the email to arrive", || smtp.messages().into_iter().next());
    poll("the message to be recorded as sent", || {
        (count(&db, "SELECT count(*) AS n FROM outbox_messages WHERE status = 'sent'") == 1).then_some(())
    });
    worker.stop();

    let after: f64 = {
        use vigil_store::schema::alerts;
        alerts::table.find(alert).select(alerts::probability).first(&mut db.connect()).expect("the alert")
    };
    assert!(after > before + 0.000_5, "the labs raised the risk from {before} to {after}");
    assert_eq!(count(&db, "SELECT count(*) AS n FROM alerts"), 1, "only the re-scored patient");
    assert_eq!(smtp.messages().len(), 1, "one email");
    assert_eq!(header(&message, "To").as_deref(), Some("nurse@hospital.test"));
    assert!(message.contains(&format!("https://vigil.test/alerts/{alert}")), "{message}");
    names_no_patient(&db, &message);
}

/// `vigil worker` on `db`, sending through `smtp`, with notices due at once and `env` besides.
fn worker(db: &TestDb, smtp: &Smtp, env: &[(&str, &str)]) -> Killed {
    let mut worker = vigil();
    worker
        .arg("worker")
        .env("DATABASE_URL", db.url())
        .env("VIGIL_SCORE_CRON", "all=0 0 2 1 1 *")
        .env("VIGIL_SERVER__PUBLIC_URL", "https://vigil.test")
        .env("VIGIL_ALERTS__GROUP_WAIT_SECS", "0")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    for (key, value) in smtp.env() {
        worker.env(key, value);
    }
    for (key, value) in env {
        worker.env(key, value);
    }
    Killed(worker.spawn().expect("worker"))
}

fn message_ids(smtp: &Smtp) -> Vec<String> {
    smtp.messages().iter().filter_map(|m| header(m, "Message-ID")).collect()
}

#[test]
fn messages_wait_out_an_smtp_outage_and_arrive_once_and_refusals_past_the_budget_are_a_dead_letter() {
    let db = population(300);
    with_active_models(&db);
    ward_with_a_nurse(&db);
    charge_nurse(&db);
    score(&db);
    let mut smtp = Smtp::start();
    smtp.stop();
    let fast_retries = [("VIGIL_EMAIL__RETRY_BASE_SECS", "1"), ("VIGIL_EMAIL__RETRY_MAX_SECS", "1")];
    let mut relay = worker(&db, &smtp, &fast_retries);
    poll("attempts to fail while the SMTP server is down", || {
        (count(&db, "SELECT count(*) AS n FROM outbox_messages WHERE status = 'pending' AND attempts >= 2") >= 1)
            .then_some(())
    });
    smtp.restart();
    let messages = "SELECT count(*) AS n FROM outbox_messages";
    poll("every message to be sent", || {
        let sent = "SELECT CASE WHEN count(*) >= 2 AND bool_and(status = 'sent') THEN 1 ELSE 0 END::BIGINT AS n FROM outbox_messages";
        (count(&db, sent) == 1).then_some(())
    });
    relay.stop();
    let mut ids = message_ids(&smtp);
    assert_eq!(ids.len() as i64, count(&db, messages), "each message once");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len() as i64, count(&db, messages), "no Message-ID twice");
    assert!(count(&db, messages) >= 2, "one message per person");

    // A server that refuses (451) past the budget: a dead letter that says why, sent again on request.
    cli(
        &db,
        &["alert", "rule", "set", "1", "--critical", &quantile(&db, 0.95).to_string(), "--reason", "more critical"],
    );
    score(&db);
    smtp.restart_as(Behaviour::Refuse);
    let mut relay = worker(
        &db,
        &smtp,
        &[
            fast_retries[0],
            fast_retries[1],
            ("VIGIL_EMAIL__MAX_ATTEMPTS", "2"),
            ("VIGIL_EMAIL__GROUP_INTERVAL_SECS", "0"),
        ],
    );
    poll("a dead letter", || {
        (count(&db, "SELECT count(*) AS n FROM outbox_messages WHERE status = 'dead'") >= 1).then_some(())
    });
    relay.stop();
    let dead = cli(&db, &["outbox", "list", "--status", "dead"]);
    let id = count(&db, "SELECT min(id) AS n FROM outbox_messages WHERE status = 'dead'");
    assert!(dead.contains("dead") && dead.contains("last error"), "{dead}");
    assert!(
        count(&db, &format!("SELECT count(*) AS n FROM outbox_messages WHERE id = {id} AND last_error LIKE '%451%'"))
            == 1,
        "the dead letter says what the server answered"
    );
    smtp.restart_as(Behaviour::Accept);
    cli(&db, &["outbox", "retry", &id.to_string()]);
    let _relay = worker(&db, &smtp, &fast_retries);
    poll("the dead letter to be sent", || {
        message_ids(&smtp).contains(&format!("<vigil-outbox-{id}@hospital.test>")).then_some(())
    });
}

#[test]
fn a_relay_killed_after_the_server_accepted_a_message_causes_at_most_one_duplicate_with_the_same_id() {
    let db = population(300);
    with_active_models(&db);
    ward_with_a_nurse(&db);
    score(&db);
    // The server stores each message, then takes five seconds to say so.
    let smtp = Smtp::started(Behaviour::Slow(5));
    let short_lease = [("VIGIL_EMAIL__LEASE_SECS", "2")];
    let mut first = worker(&db, &smtp, &short_lease);
    poll("the server to accept the message", || smtp.messages().into_iter().next());
    first.stop();
    assert_eq!(
        count(&db, "SELECT count(*) AS n FROM outbox_messages WHERE status = 'sent'"),
        0,
        "killed before it knew"
    );

    // Another relay sends it again once the lease has run out, under the same Message-ID.
    let mut second = worker(&db, &smtp, &short_lease);
    poll("the message to be recorded as sent", || {
        (count(&db, "SELECT count(*) AS n FROM outbox_messages WHERE status = 'sent'") == 1).then_some(())
    });
    second.stop();
    let ids = message_ids(&smtp);
    assert_eq!(ids.len(), 2, "the message and at most one duplicate");
    let id = count(&db, "SELECT min(id) AS n FROM outbox_messages");
    assert!(ids.iter().all(|m| *m == format!("<vigil-outbox-{id}@hospital.test>")), "{ids:?}");
}

/// A second clinician with an email address, on ward-4W only.
fn charge_nurse(db: &TestDb) {
    let args = ["user", "add", "charge", "--role", "clinician", "--email", "charge@hospital.test", "--unit", "ward-4W"];
    let mut args = args.to_vec();
    args.push("--password-stdin");
    seed::cli(db.url(), &args, &format!("{}\n", seed::PASSWORD));
}

/// Assigns `patients` to `unit` in one command.
pub fn assign(db: &TestDb, unit: &str, patients: &[String]) {
    let mut args = vec!["unit", "assign", unit];
    for patient in patients {
        args.extend(["--patient", patient.as_str()]);
    }
    cli(db, &args);
}

#[test]
fn a_storm_of_alerts_is_one_message_per_person_however_many_relays_run() {
    let db = population(1000);
    with_active_models(&db);
    ward_with_a_nurse(&db);
    charge_nurse(&db);
    // Every patient scored for admission on the community team's list, and a rule most cross.
    let everyone: Vec<String> = {
        use vigil_store::schema::{models, patients, scores};
        scores::table
            .inner_join(models::table)
            .inner_join(patients::table)
            .filter(models::target.eq("admission").and(models::status.eq("active")))
            .select(patients::fhir_id)
            .distinct()
            .load(&mut db.connect())
            .expect("patients")
    };
    assign(&db, "ward-4W", &everyone);
    cli(&db, &["alert", "rule", "set", "1", "--warning", "top60%", "--hysteresis", "0", "--reason", "storm"]);
    score_as_of(&db, &chrono::Utc::now().to_rfc3339());
    let opened = count(&db, "SELECT count(*) AS n FROM alerts WHERE unit IS NOT NULL");
    assert!(opened >= 500, "{opened} alerts at once");

    let smtp = Smtp::start();
    let relays: Vec<Killed> = (0..3).map(|_| worker(&db, &smtp, &[])).collect();
    poll("the messages to be sent", || {
        // One statement, so that no message appears between two counts.
        let sent = "SELECT CASE WHEN count(*) >= 2 AND bool_and(status = 'sent') THEN 1 ELSE 0 END::BIGINT AS n FROM outbox_messages";
        (count(&db, sent) == 1).then_some(())
    });
    drop(relays);
    let messages = smtp.messages();
    let mut ids = message_ids(&smtp);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), messages.len(), "no message twice");
    let to = |who: &str| messages.iter().filter(|m| header(m, "To").as_deref() == Some(who)).count();
    let heads: Vec<&str> = messages.iter().map(|m| m.split("\n\n").next().unwrap_or_default()).collect();
    assert_eq!((to("nurse@hospital.test"), to("charge@hospital.test")), (1, 1), "one message per person: {heads:?}");
    let nurse = messages.iter().find(|m| header(m, "To").as_deref() == Some("nurse@hospital.test")).expect("nurse");
    assert!(nurse.contains(" more on your worklist"), "counts, not a line per alert");
}

/// A child process killed when dropped.
struct Killed(std::process::Child);

impl Killed {
    fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        self.stop();
    }
}

#[test]
fn clinicians_answer_their_alerts_through_the_api_and_the_lifecycle_holds() {
    let db = population(300);
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
    let db = population(300);
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

#[test]
fn admins_and_informatics_manage_rules_over_the_api_with_every_version_kept() {
    let db = TestDb::migrated();
    seed::unit(db.url(), "ward-4W");
    seed::user(db.url(), "analyst", "informatics", &[]);
    seed::user(db.url(), "nurse", "clinician", &["ward-4W"]);
    let app = crate::support::App::spawn(db.url());
    let analyst = seed::bearer(&seed::token(&app, "analyst"));
    let nurse = seed::bearer(&seed::token(&app, "nurse"));
    let put = |who: &str, body: serde_json::Value| {
        app.request(
            "PUT",
            "/api/alert-rules",
            &[("authorization", who), ("content-type", "application/json")],
            Some(body.to_string()),
        )
    };
    let rule = serde_json::json!({ "target": "readmission", "warning": 0.3, "critical": 0.6, "reason": "pilot" });
    assert_eq!(put(&nurse, rule.clone()).status, 403, "clinicians do not configure alerting");
    let created = put(&analyst, rule);
    assert_eq!(created.status, 200, "{}", created.body);
    assert_eq!(created.json()["version"], 1);
    let changed = put(
        &analyst,
        serde_json::json!({ "target": "readmission", "warning": 0.35, "critical": 0.6, "reason": "too many alerts" }),
    );
    assert_eq!(changed.json()["version"], 2);
    let unit = put(
        &analyst,
        serde_json::json!({ "target": "readmission", "unit": "ward-4W", "info": 0.1, "reason": "ward pilot" }),
    );
    assert_eq!(unit.status, 200, "{}", unit.body);

    // Invalid rules: a clear reason, nothing changed.
    let bad =
        put(&analyst, serde_json::json!({ "target": "readmission", "warning": 0.7, "critical": 0.6, "reason": "x" }));
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("warning") && bad.body.contains("critical"), "{}", bad.body);
    let bad =
        put(&analyst, serde_json::json!({ "target": "readmission", "unit": "ICU-9", "info": 0.1, "reason": "x" }));
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("ICU-9"), "{}", bad.body);

    let listed = app.get_with("/api/alert-rules", &[("authorization", analyst.as_str())]);
    assert_eq!(listed.status, 200);
    let rules = listed.json()["rules"].clone();
    assert_eq!(rules.as_array().map(Vec::len), Some(2));
    let every_unit = &rules[0];
    assert_eq!(every_unit["rule"]["thresholds"]["warning"], 0.35);
    let reasons: Vec<&str> =
        every_unit["history"].as_array().into_iter().flatten().filter_map(|v| v["reason"].as_str()).collect();
    assert_eq!(reasons, ["pilot", "too many alerts"]);
    assert_eq!(every_unit["history"][1]["changed_by"].as_str().map(|b| b.starts_with("user:")), Some(true));
    assert_eq!(count(&db, "SELECT count(*) AS n FROM audit_log WHERE action = 'configure' AND outcome = 'denied'"), 1);
}

#[test]
fn preferences_choose_the_tiers_a_person_is_emailed() {
    let db = population(300);
    with_active_models(&db);
    ward_with_a_nurse(&db);
    let app = crate::support::App::spawn(db.url());
    let nurse = seed::bearer(&seed::token(&app, "nurse"));
    let put = |body: serde_json::Value| {
        app.request(
            "PUT",
            "/api/me/notifications",
            &[("authorization", nurse.as_str()), ("content-type", "application/json")],
            Some(body.to_string()),
        )
    };
    let mine = app.get_with("/api/me/notifications", &[("authorization", nurse.as_str())]);
    assert_eq!(mine.json()["email_tiers"], serde_json::json!(["warning", "critical"]));
    let refused = put(serde_json::json!({ "email_tiers": ["critical"], "delivery": "immediate",
        "quiet_start": null, "quiet_end": null, "time_zone": "Mars/Olympus" }));
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("Mars/Olympus"));
    let stored = put(serde_json::json!({ "email_tiers": ["critical"], "delivery": "immediate",
        "quiet_start": "22:00:00", "quiet_end": "07:00:00", "time_zone": "Europe/Paris" }));
    assert_eq!(stored.status, 200, "{}", stored.body);
    assert_eq!(stored.json()["email_tiers"], serde_json::json!(["critical"]));

    // Quiet hours around now: a warning waits for their end; a critical notice does not.
    let now = chrono::Utc::now();
    let quiet = put(serde_json::json!({ "email_tiers": ["warning", "critical"], "delivery": "immediate",
        "quiet_start": (now - chrono::Duration::hours(1)).format("%H:%M:%S").to_string(),
        "quiet_end": (now + chrono::Duration::hours(1)).format("%H:%M:%S").to_string(), "time_zone": "UTC" }));
    assert_eq!(quiet.status, 200, "{}", quiet.body);
    let wait = |tier: &str| {
        count(
            &db,
            &format!(
                "SELECT extract(epoch FROM notice_due(u.id, '{tier}', interval '0 seconds', interval '1 hour') - now())::bigint AS n
                   FROM users u WHERE u.username = 'nurse'"
            ),
        )
    };
    assert!((3500..=3700).contains(&wait("warning")), "{}", wait("warning"));
    assert_eq!(wait("critical"), 0);
    put(serde_json::json!({ "email_tiers": ["critical"], "delivery": "immediate",
        "quiet_start": null, "quiet_end": null, "time_zone": "UTC" }));

    // Only warning alerts open (no critical tier): the nurse, who asked for critical only, hears nothing.
    score(&db);
    assert!(count(&db, "SELECT count(*) AS n FROM alerts") > 0);
    assert_eq!(count(&db, "SELECT count(*) AS n FROM outbox"), 0);
}
