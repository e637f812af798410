//! Alerts by email, black-box: a clinician hears of an alert once, without patient data, through a
//! real SMTP server; a lab result re-scored from the change feed reaches the ward nurse; an SMTP
//! outage is waited out and refusals past the budget become dead letters; a relay killed mid-send
//! duplicates at most one message, with the same Message-ID; a storm is one message per person.

use diesel::prelude::*;
use vigil_store::testing::TestDb;

use crate::alerts::{nurse_on_every_ward, quantile, score, score_as_of, ward_with_a_nurse};
use crate::scoring::{cli, count, population, with_active_models};
use crate::support::seed;
use crate::support::smtp::{Behaviour, Smtp, header};
use crate::support::{poll, vigil};

#[test]
fn an_alert_reaches_its_clinician_once_by_email_without_patient_data() {
    let db = population(400);
    with_active_models(&db);
    ward_with_a_nurse(&db);
    let queued = score(&db);
    let notices = count(&db, "SELECT count(*) AS n FROM outbox");
    // Several, so that one message carrying them all is what is shown below.
    assert!(notices >= 2, "notices queued for the nurse: {queued}");
    // The worker may queue notices of its own (it scores the load's changes as of now); these
    // are the ones this run queued.
    let last = count(&db, "SELECT max(id) AS n FROM outbox");
    let unsent = format!(
        "SELECT count(*) AS n FROM outbox WHERE id <= {last}
            AND (message_id IS NULL OR message_id NOT IN (SELECT id FROM outbox_messages WHERE status = 'sent'))"
    );

    let smtp = Smtp::start();
    let mut worker = worker(&db, &smtp, &[]);
    poll("the notices to be sent", || (count(&db, &unsent) == 0).then_some(()));
    worker.stop();

    // One message for all of the nurse's notices, named by its outbox id.
    let messages = format!("SELECT count(DISTINCT message_id) AS n FROM outbox WHERE id <= {last}");
    assert_eq!(count(&db, &messages), 1);
    let id = count(&db, &format!("SELECT min(message_id) AS n FROM outbox WHERE id <= {last}"));
    let named = format!("<vigil-outbox-{id}@hospital.test>");
    let delivered: Vec<String> =
        smtp.messages().into_iter().filter(|m| header(m, "Message-ID").as_deref() == Some(named.as_str())).collect();
    assert_eq!(delivered.len(), 1, "the message arrived once");
    let message = &delivered[0];
    assert_eq!(header(message, "To").as_deref(), Some("nurse@hospital.test"));
    assert!(message.contains("https://vigil.test/alerts/"), "{message}");
    assert!(message.contains("text/html") && message.contains("text/plain"));

    names_no_patient(&db, message);
}

/// Asserts that `message` names none of the alerted patients: not their names, record numbers,
/// birth dates or ids.
pub fn names_no_patient(db: &TestDb, message: &str) {
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
    let db = population(400);
    with_active_models(&db);
    nurse_on_every_ward(&db);
    let smtp = Smtp::start();
    let metrics_addr = format!("127.0.0.1:{}", crate::support::free_port());
    let mut worker = worker(&db, &smtp, &[("VIGIL_WORKER__METRICS_ADDR", &metrics_addr)]);
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
    // The worker's own metrics: its scoring runs and the send.
    let page =
        ureq::get(&format!("http://{metrics_addr}/metrics")).call().expect("metrics").body_mut().read_to_string();
    let page = page.expect("page");
    assert!(page.contains("vigil_relay_send_duration_seconds_count{outcome=\"sent\"} 1"), "{page}");
    assert!(page.contains("vigil_scores_total{kind=\"changes\"}"), "{page}");
    assert!(page.contains("vigil_scoring_run_duration_seconds_bucket{kind=\"changes\""), "{page}");
    assert!(!page.contains(&patient), "no patient on the page");
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
pub fn worker(db: &TestDb, smtp: &Smtp, env: &[(&str, &str)]) -> Killed {
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

pub fn message_ids(smtp: &Smtp) -> Vec<String> {
    smtp.messages().iter().filter_map(|m| header(m, "Message-ID")).collect()
}

#[test]
fn messages_wait_out_an_smtp_outage_and_arrive_once_and_refusals_past_the_budget_are_a_dead_letter() {
    let db = population(400);
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
    let db = population(400);
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
pub struct Killed(pub std::process::Child);

impl Killed {
    pub fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        self.stop();
    }
}
