//! `make bench` (alert_latency): how long from new data to an email in a clinician's mailbox. A
//! patient's blood results are stored by ingestion (the transaction a FHIR push or an import ends
//! in); `vigil worker`, woken by the change feed, re-scores the patient; the alert engine opens a
//! critical alert and queues its notice; the relay sends it; the local SMTP server (Debian's
//! aiosmtpd, plain SMTP on loopback) accepts it, and the time it wrote the message into its
//! Maildir ends the event. `EVENTS` events one after another, p50 and p95 (target: p95 < 2 s).
//! Notices are due at once (`alerts.group_wait_secs = 0`); the default group wait of 30 s, which
//! gathers a storm into one message, adds its deliberate delay on top.
//!
//! The limit, measured in the same run for other patients: the same steps back to back in this
//! process with nothing handed over (store the results, score the changes, evaluate, one relay
//! pass), so the ratio is what waking the worker and the relay costs.
//!
//! Only results that take a patient over the critical threshold make an event: patients between
//! the 75th and the 95th centile of risk are tried, highest first, with the threshold at the 95th.

#![allow(clippy::print_stdout, clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable};
use vigil::alerts::engine::{self, Timing};
use vigil::alerts::relay;
use vigil::alerts::transport::Transport;
use vigil_ehr_adapter::ingest::store_batch;
use vigil_ehr_adapter::read::Incoming;
use vigil_scoring::run::{DEFAULT_CHUNK, Runner};
use vigil_store::audit::{AuditEvent, Outcome};
use vigil_store::testing::TestDb;

mod support;
use support::mail::{Killed, wait_for};
use support::vigil;

const PATIENTS: u64 = 4_000;
const EVENTS: usize = 200;
const LIMIT_EVENTS: usize = 50;
const PUBLIC_URL: &str = "https://vigil.example";
const FROM: &str = "Vigil <vigil@hospital.example>";

fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = Nullable<BigInt>)]
        n: Option<i64>,
    }
    diesel::sql_query(sql).get_result::<N>(conn).expect(sql).n.unwrap_or(0)
}

/// Today's results for `patient`: anaemia, low sodium and failing kidneys.
fn blood_results(patient: &str, event: usize) -> Vec<serde_json::Value> {
    let now = chrono::Utc::now().to_rfc3339();
    [
        ("hemoglobin", "718-7", 7.6, "g/dL"),
        ("sodium", "2951-2", 124.0, "mmol/L"),
        ("creatinine", "2160-0", 3.4, "mg/dL"),
    ]
    .into_iter()
    .map(|(name, loinc, value, unit)| {
        serde_json::json!({
            "resourceType": "Observation", "id": format!("bench-{event}-{name}"), "status": "final",
            "code": { "coding": [{ "system": "http://loinc.org", "code": loinc }] },
            "subject": { "reference": format!("Patient/{patient}") },
            "effectiveDateTime": now,
            "valueQuantity": { "value": value, "unit": unit },
        })
    })
    .collect()
}

/// The patient's open alert, or 0 once they were re-scored (after score id `after`) and evaluated
/// without one; None while neither is known.
fn outcome(conn: &mut PgConnection, patient: i64, after: i64) -> Option<i64> {
    #[derive(QueryableByName)]
    struct Seen {
        #[diesel(sql_type = Nullable<BigInt>)]
        alert: Option<i64>,
        #[diesel(sql_type = Nullable<BigInt>)]
        score: Option<i64>,
        #[diesel(sql_type = Nullable<BigInt>)]
        evaluated: Option<i64>,
    }
    let seen: Seen = diesel::sql_query(format!(
        "SELECT (SELECT max(id) FROM alerts WHERE patient_id = {patient} AND ended_at IS NULL) AS alert,
                (SELECT max(s.id) FROM scores s JOIN models m ON m.id = s.model_id
                  WHERE s.patient_id = {patient} AND s.id > {after} AND m.status = 'active') AS score,
                (SELECT seq FROM feed_positions WHERE consumer = 'alerts') AS evaluated"
    ))
    .get_result(conn)
    .expect("outcome");
    match seen {
        Seen { alert: Some(alert), .. } => Some(alert),
        Seen { score: Some(score), evaluated: Some(evaluated), .. } if evaluated >= score => Some(0),
        _ => None,
    }
}

/// When the SMTP server stored the message about `alert`: the Maildir file's modification time.
fn accepted(conn: &mut PgConnection, maildir: &Path, seen: &mut HashSet<PathBuf>, alert: i64) -> SystemTime {
    let mut message = 0;
    wait_for("the notice to be grouped into a message", || {
        message = count(conn, &format!("SELECT max(message_id) AS n FROM outbox WHERE alert_id = {alert}"));
        message > 0
    });
    let wanted = format!("<vigil-outbox-{message}@");
    let mut found = None;
    wait_for("the SMTP server to store the message", || {
        for entry in std::fs::read_dir(maildir.join("new")).into_iter().flatten().flatten() {
            let path = entry.path();
            if seen.contains(&path) {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else { continue };
            seen.insert(path.clone());
            if text.contains(&wanted) {
                found = Some(entry.metadata().expect("metadata").modified().expect("mtime"));
            }
        }
        found.is_some()
    });
    found.expect("found")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let db = TestDb::migrated();
    let mut conn = db.connect();
    support::population(&mut conn, PATIENTS, 11);
    vigil(&db, &["train", "--target", "admission"], "");
    vigil(&db, &["model", "activate", "admission-1"], "");
    vigil(&db, &["unit", "add", "ward-bench", "--name", "Bench ward"], "");
    vigil(
        &db,
        &[
            "user",
            "add",
            "nurse",
            "--role",
            "clinician",
            "--email",
            "nurse@hospital.example",
            "--unit",
            "ward-bench",
            "--password-stdin",
        ],
        "a long and unusual bench passphrase\n",
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let maildir = dir.path().join("maildir");
    let (_smtp, port) = support::mail::smtp(&maildir);
    let smtp_env = [
        ("VIGIL_EMAIL__SMTP_HOST", "127.0.0.1".to_owned()),
        ("VIGIL_EMAIL__SMTP_PORT", port.to_string()),
        ("VIGIL_EMAIL__SMTP_TLS", "none".to_owned()),
        ("VIGIL_EMAIL__FROM", FROM.to_owned()),
        ("VIGIL_ALERTS__GROUP_WAIT_SECS", "0".to_owned()),
        ("VIGIL_SERVER__PUBLIC_URL", PUBLIC_URL.to_owned()),
    ];
    let mut worker = Command::new(env!("CARGO_BIN_EXE_vigil"));
    worker
        .arg("worker")
        .env("DATABASE_URL", db.url())
        // No scheduled run of everyone during the bench.
        .env("VIGIL_SCORE_CRON", "all=0 0 2 1 1 *")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (key, value) in &smtp_env {
        worker.env(key, value);
    }
    let worker = Killed(worker.spawn().expect("worker"));
    // The worker first scores the whole load (the change feed) and evaluates it, with no rule yet.
    let caught_up = "SELECT count(*) AS n FROM feed_positions s, feed_positions a
                      WHERE s.consumer = 'scoring' AND s.seq >= (SELECT max(seq) FROM patient_changes)
                        AND a.consumer = 'alerts' AND a.seq >= (SELECT max(id) FROM scores)";
    wait_for("the load to be scored", || count(&mut conn, caught_up) == 1);

    // The critical threshold at the 95th centile; the patients below it, highest first.
    #[derive(QueryableByName)]
    struct Ranked {
        #[diesel(sql_type = BigInt)]
        id: i64,
        #[diesel(sql_type = diesel::sql_types::Text)]
        fhir_id: String,
        #[diesel(sql_type = diesel::sql_types::Double)]
        probability: f64,
    }
    let ranked: Vec<Ranked> = diesel::sql_query(
        "SELECT p.id, p.fhir_id, s.probability FROM scores s
           JOIN models m ON m.id = s.model_id JOIN patients p ON p.id = s.patient_id
          WHERE m.status = 'active' AND m.target = 'admission' AND NOT p.deceased
            AND s.run_id = (SELECT max(run_id) FROM scores)
          ORDER BY s.probability DESC, p.id",
    )
    .load(&mut conn)
    .expect("ranked");
    let threshold = ranked[ranked.len() / 20].probability;
    let candidates: Vec<&Ranked> = ranked.iter().filter(|r| r.probability < threshold).take(ranked.len() / 5).collect();
    let mut assign = vec!["unit", "assign", "ward-bench"];
    for c in &candidates {
        assign.extend(["--patient", c.fhir_id.as_str()]);
    }
    vigil(&db, &assign, "");
    vigil(
        &db,
        &[
            "alert",
            "rule",
            "add",
            "--target",
            "admission",
            "--critical",
            &format!("{threshold:.6}"),
            "--reason",
            "bench",
        ],
        "",
    );
    wait_for("any change to be scored", || count(&mut conn, caught_up) == 1);

    let loader = AuditEvent::new("service:bench", "service", "ingest", Outcome::Success);
    let mut seen = HashSet::new();
    let mut candidates = candidates.into_iter().enumerate();
    let mut tried = 0;

    // Ours: the worker and its relay, woken by commits.
    let mut latencies = Vec::new();
    for (i, patient) in candidates.by_ref() {
        if latencies.len() == EVENTS {
            break;
        }
        tried += 1;
        let after = count(&mut conn, "SELECT max(id) AS n FROM scores");
        let started = SystemTime::now();
        store_batch(&mut conn, "urn:bench", &loader, Incoming::items("bench", blood_results(&patient.fhir_id, i)))
            .expect("store");
        let mut alert = None;
        wait_for("the patient to be re-scored", || {
            alert = outcome(&mut conn, patient.id, after);
            alert.is_some()
        });
        if let Some(alert) = alert.filter(|a| *a > 0) {
            let at = accepted(&mut conn, &maildir, &mut seen, alert);
            latencies.push(at.duration_since(started).unwrap_or_default());
        }
    }
    drop(worker);

    // The limit: the same steps in this process, back to back.
    let settings = vigil::config::Settings::load(
        None,
        &[
            ("email.smtp_host", "127.0.0.1".into()),
            ("email.smtp_port", u64::from(port).into()),
            ("email.smtp_tls", "none".into()),
            ("email.from", FROM.into()),
        ],
    )
    .expect("settings");
    let transport = Transport::from_settings(&settings.email).expect("transport");
    let timing = Timing { group_wait: Duration::ZERO, ..Timing::default() };
    let mut readers = vigil_scoring::run::open_readers(db.url()).expect("readers");
    let mut limits = Vec::new();
    for (i, patient) in candidates {
        if limits.len() == LIMIT_EVENTS {
            break;
        }
        let started = SystemTime::now();
        store_batch(&mut conn, "urn:bench", &loader, Incoming::items("bench", blood_results(&patient.fhir_id, i)))
            .expect("store");
        Runner { conn: &mut conn, readers: &mut readers, by: "service:bench", chunk: DEFAULT_CHUNK }
            .score_changes("scoring", chrono::Utc::now())
            .expect("score");
        engine::evaluate_all(&mut conn, timing).expect("evaluate");
        let alert = count(
            &mut conn,
            &format!("SELECT max(id) AS n FROM alerts WHERE patient_id = {} AND ended_at IS NULL", patient.id),
        );
        if alert > 0 {
            let pass = relay::pass(&mut conn, &transport, &settings.email, PUBLIC_URL, 50).expect("relay");
            assert_eq!(pass.sent, 1, "one message");
            let at = accepted(&mut conn, &maildir, &mut seen, alert);
            limits.push(at.duration_since(started).unwrap_or_default());
        }
    }

    latencies.sort();
    limits.sort();
    assert!(!latencies.is_empty() && !limits.is_empty(), "no patient crossed the threshold");
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "new data to an accepted email: {PATIENTS} patients, critical threshold {threshold:.3} (95th centile), \
         {} of {tried} patients' results crossed it",
        latencies.len()
    );
    println!(
        "  vigil worker + relay: p50 {:>7.1} ms  p95 {:>7.1} ms  max {:>7.1} ms over {} events (target p95 < 2000 ms)",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.95)),
        ms(*latencies.last().expect("one")),
        latencies.len()
    );
    println!(
        "  limit: same steps back to back in one process: p50 {:>7.1} ms  p95 {:>7.1} ms over {} events",
        ms(percentile(&limits, 0.5)),
        ms(percentile(&limits, 0.95)),
        limits.len()
    );
    println!(
        "  ratio p50 {:.2}, p95 {:.2} (of the limit)",
        ms(percentile(&latencies, 0.5)) / ms(percentile(&limits, 0.5)),
        ms(percentile(&latencies, 0.95)) / ms(percentile(&limits, 0.95))
    );
}
