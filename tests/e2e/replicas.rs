//! Many replicas on one database: three workers on one schedule make one scoring run per tick,
//! with no score, alert or email twice (Message-IDs counted at the SMTP server), and when the
//! worker that holds a run of everyone is killed with SIGKILL, another finishes that run.

use diesel::prelude::*;

use crate::alert_email::{Killed, message_ids, worker};
use crate::alerts::nurse_on_every_ward;
use crate::scoring::{cli, count, population, with_active_models};
use crate::support::poll;
use crate::support::smtp::Smtp;

/// Which worker (by the application name it connects with) holds the runners' lock while a run of
/// everyone is in progress, and that run.
fn holder_of_a_run_of_everyone(db: &vigil_store::testing::TestDb) -> Option<(String, i64)> {
    #[derive(QueryableByName)]
    struct Holder {
        #[diesel(sql_type = diesel::sql_types::Text)]
        application_name: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        run: i64,
    }
    diesel::sql_query(
        "SELECT a.application_name, r.id AS run
           FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid,
                (SELECT id FROM scoring_runs WHERE kind = 'all' AND status = 'running' AND scored > 0) r
          WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND l.objid = (hashtext('vigil.scoring')::BIGINT & 4294967295)::OID AND a.application_name LIKE 'worker-%'",
    )
    .get_result::<Holder>(&mut db.connect())
    .optional()
    .expect("lock holder")
    .map(|h| (h.application_name, h.run))
}

#[test]
fn three_workers_make_one_run_per_tick_and_a_killed_runners_run_is_finished_by_another() {
    let db = population(1500);
    with_active_models(&db);
    nurse_on_every_ward(&db);
    cli(&db, &["score"]);
    cli(&db, &["alert", "rule", "add", "--target", "admission", "--warning", "top10%", "--reason", "top decile"]);
    let smtp = Smtp::start();
    let mut workers: Vec<(String, Killed)> = (1..=3)
        .map(|n| {
            let name = format!("worker-{n}");
            let url = format!("{}?application_name={name}", db.url());
            let env = [("DATABASE_URL", url.as_str()), ("VIGIL_SCORE_CRON", "all=*/3 * * * * *")];
            (name, worker(&db, &smtp, &env))
        })
        .collect();
    let done_runs = || count(&db, "SELECT count(*) AS n FROM scoring_runs WHERE kind = 'all' AND status = 'done'");
    poll("two scheduled runs", || (done_runs() >= 2).then_some(()));

    // The worker that holds a run of everyone is killed mid-run; another finishes it.
    let (name, run) = poll("a worker in the middle of a run of everyone", || holder_of_a_run_of_everyone(&db));
    let killed = workers.iter().position(|(n, _)| *n == name).expect("the holder is one of ours");
    let (_, mut holder) = workers.remove(killed);
    holder.0.kill().expect("SIGKILL");
    let _ = holder.0.wait();
    // A result arrives meanwhile: the survivors score that change too, and finish the killed run
    // rather than close it as failed.
    let patient: String = {
        use vigil_store::schema::patients;
        patients::table.select(patients::fhir_id).order(patients::id).first(&mut db.connect()).expect("a patient")
    };
    let lab = serde_json::json!({
        "resourceType": "Observation", "id": "replica-sodium", "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "2951-2" }] },
        "subject": { "reference": format!("Patient/{patient}") },
        "effectiveDateTime": chrono::Utc::now().to_rfc3339(),
        "valueQuantity": { "value": 124.0, "unit": "mmol/L" },
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("Observation.ndjson");
    std::fs::write(&file, format!("{lab}\n")).expect("write");
    cli(&db, &["ingest", file.to_str().expect("path")]);
    poll("another worker to finish the killed worker's run", || {
        (count(&db, &format!("SELECT count(*) AS n FROM scoring_runs WHERE id = {run} AND status = 'done'")) == 1)
            .then_some(())
    });
    let before = done_runs();
    poll("the schedule to go on with two workers", || (done_runs() >= before + 2).then_some(()));
    poll("the alert notices to be sent", || {
        (count(&db, "SELECT count(*) AS n FROM outbox WHERE message_id IS NULL") == 0
            && count(&db, "SELECT count(*) AS n FROM outbox_messages WHERE status <> 'sent'") == 0)
            .then_some(())
    });
    for (_, worker) in &mut workers {
        worker.stop();
    }

    // One run per tick, scored as of the tick, none given up; every patient scored once per run
    // and model. (The first run of everyone is the one `vigil score` made before the workers.)
    let scheduled =
        "FROM scoring_runs WHERE kind = 'all' AND id > (SELECT min(id) FROM scoring_runs WHERE kind = 'all')";
    let off_tick = format!("SELECT count(*) AS n {scheduled} AND extract(epoch FROM as_of)::NUMERIC % 3 <> 0");
    assert_eq!(count(&db, &off_tick), 0, "a scheduled run not scored as of its tick");
    let twice = format!("SELECT count(*) AS n FROM (SELECT as_of {scheduled} GROUP BY as_of HAVING count(*) > 1) d");
    assert_eq!(count(&db, &twice), 0, "a tick scored twice");
    assert!(count(&db, "SELECT count(*) AS n FROM scoring_runs WHERE kind = 'changed' AND status = 'done'") > 0);
    assert_eq!(count(&db, "SELECT count(*) AS n FROM scoring_runs WHERE kind = 'all' AND status <> 'done'"), 0);
    let patients = count(&db, "SELECT count(*) AS n FROM patients WHERE version > 0 AND NOT deceased");
    let killed_run = count(&db, &format!("SELECT count(DISTINCT patient_id) AS n FROM scores WHERE run_id = {run}"));
    assert!(killed_run > 0 && killed_run <= patients, "the killed run covers the patients once: {killed_run}");
    let duplicate_scores = "SELECT count(*) AS n FROM (SELECT run_id, model_id, patient_id FROM scores
                             GROUP BY 1, 2, 3 HAVING count(*) > 1) d";
    assert_eq!(count(&db, duplicate_scores), 0, "a score stored twice");
    // One live alert per patient and target, and each email once.
    assert!(count(&db, "SELECT count(*) AS n FROM alerts") > 0, "the rule alerted");
    let live_twice = "SELECT count(*) AS n FROM (SELECT patient_id, target FROM alerts WHERE ended_at IS NULL
                       GROUP BY 1, 2 HAVING count(*) > 1) d";
    assert_eq!(count(&db, live_twice), 0);
    let mut ids = message_ids(&smtp);
    let sent = ids.len();
    ids.sort();
    ids.dedup();
    assert!(sent > 0, "email was sent");
    assert_eq!(ids.len(), sent, "an email delivered twice");
    assert_eq!(count(&db, "SELECT count(*) AS n FROM outbox_messages WHERE status = 'sent'") as usize, sent);
}

/// Two servers behind a balancer that, like a Kubernetes Service with a preStop pause, stops sending
/// a server new requests before it is told to stop. Each is replaced in turn (the new one started
/// first, the old one taken out of the balancer, then sent SIGTERM) while eight clients keep
/// requesting: every request is answered 200, none fails, and each old server exits cleanly.
#[test]
fn a_rolling_restart_of_two_servers_under_load_loses_no_request() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, RwLock};

    use crate::support::App;

    let db = vigil_store::testing::TestDb::migrated();
    // A server gets requests once its readiness says so, as a Service's endpoints do.
    let ready = |app: App| {
        poll("a server to be ready", || app.try_get("/readyz").is_ok_and(|r| r.status == 200).then_some(()));
        Arc::new(app)
    };
    let balancer: Arc<RwLock<Vec<Arc<App>>>> =
        Arc::new(RwLock::new(vec![ready(App::spawn(db.url())), ready(App::spawn(db.url()))]));
    let stop = Arc::new(AtomicBool::new(false));
    let (answered, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let clients: Vec<_> = (0..8_usize)
        .map(|c| {
            let (balancer, stop, answered, failed) = (balancer.clone(), stop.clone(), answered.clone(), failed.clone());
            std::thread::spawn(move || {
                let mut n = c;
                let mut statuses = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    // Reads the database (readiness) and serves a resource (the capability statement),
                    // each request sent where the balancer says at that moment.
                    for path in ["/readyz", "/fhir/metadata"] {
                        let server = {
                            let servers = balancer.read().expect("balancer");
                            servers[n % servers.len()].clone()
                        };
                        n += 1;
                        match server.try_get(path) {
                            Ok(response) => {
                                answered.fetch_add(1, Ordering::Relaxed);
                                if response.status != 200 {
                                    statuses.push((path, response.status));
                                }
                            }
                            Err(error) => {
                                failed.fetch_add(1, Ordering::Relaxed);
                                eprintln!("{path} on {}: {error}", server.base);
                            }
                        }
                    }
                }
                statuses
            })
        })
        .collect();
    let served = |at_least: u64| {
        poll("requests to be answered", || (answered.load(Ordering::Relaxed) >= at_least).then_some(()))
    };
    served(200);
    for round in 0..2 {
        let fresh = ready(App::spawn(db.url()));
        let old = {
            let mut servers = balancer.write().expect("balancer");
            servers.push(fresh);
            servers.remove(0)
        };
        // As the endpoints controller and the pod's preStop pause do: the old server gets no new
        // request before it is told to stop, and the clients' idle connections to it close.
        let mut held = Some(old);
        let mut old = poll("the clients to be done with the old server", || match Arc::try_unwrap(held.take()?) {
            Ok(app) => Some(app),
            Err(still_shared) => {
                held = Some(still_shared);
                None
            }
        });
        let signalled =
            std::process::Command::new("kill").args(["-TERM", &old.pid().to_string()]).status().expect("kill");
        assert!(signalled.success());
        let status = old.wait_for_exit();
        assert!(status.success(), "round {round}: the old server's exit: {status:?}\n{}", old.logs());
        served(answered.load(Ordering::Relaxed) + 200);
    }
    stop.store(true, Ordering::Relaxed);
    let refused: Vec<(&str, u16)> = clients.into_iter().flat_map(|c| c.join().expect("client")).collect();
    assert!(refused.is_empty(), "requests answered other than 200: {refused:?}");
    assert_eq!(failed.load(Ordering::Relaxed), 0, "requests that failed in flight");
    assert!(answered.load(Ordering::Relaxed) >= 600);
}

/// Servers remember the alert lists they read until Postgres notifies a change: an alert answered
/// through one server is listed answered by the server that answered at once and by the other
/// within moments, and every view, remembered or not, is audited.
#[test]
fn an_alert_answered_through_one_server_is_listed_so_by_the_other_within_moments() {
    use crate::alerts::{score, ward_with_a_nurse};
    use crate::support::{App, seed};

    let db = population(400);
    with_active_models(&db);
    ward_with_a_nurse(&db);
    seed::user(db.url(), "chief", "admin", &[]);
    score(&db);
    let (first, second) = (App::spawn(db.url()), App::spawn(db.url()));
    let chief = seed::bearer(&seed::token(&first, "chief"));
    // How many of the first server's lists came from memory and how many from the database.
    let sources = || {
        let scraped = first.get_with("/metrics", &[("authorization", chief.as_str())]).body;
        let served = |source: &str| -> u64 {
            let prefix = format!("vigil_alert_lists_read_total{{source=\"{source}\"}} ");
            scraped.lines().find_map(|l| l.strip_prefix(prefix.as_str())?.trim().parse().ok()).unwrap_or(0)
        };
        (served("memory"), served("database"))
    };
    let tokens = [seed::bearer(&seed::token(&first, "nurse")), seed::bearer(&seed::token(&second, "nurse"))];
    let views = std::cell::Cell::new(0);
    let status_of = |server: usize, id: i64| -> Option<String> {
        let app = [&first, &second][server];
        let listed = app.get_with("/api/alerts?status=all", &[("authorization", tokens[server].as_str())]);
        assert_eq!(listed.status, 200, "{}", listed.body);
        views.set(views.get() + 1);
        let alerts = listed.json()["alerts"].as_array()?.clone();
        alerts.iter().find(|a| a["id"] == id)?["status"].as_str().map(str::to_owned)
    };
    let listed = first.get_with("/api/alerts", &[("authorization", tokens[0].as_str())]);
    views.set(views.get() + 1);
    let alerts = listed.json()["alerts"].as_array().cloned().unwrap_or_default();
    let id = alerts.iter().find(|a| a["status"] == "open").and_then(|a| a["id"].as_i64()).expect("an open alert");
    // The second view of the same list is read from memory, and is the same (once the server
    // listens for changes: until then it reads the database every time).
    assert_eq!(status_of(0, id).as_deref(), Some("open"));
    poll("a list read from memory", || {
        let before = sources();
        let open = status_of(0, id);
        let after = sources();
        assert_eq!(open.as_deref(), Some("open"));
        (after.0 == before.0 + 1 && after.1 == before.1).then_some(())
    });
    assert_eq!(status_of(1, id).as_deref(), Some("open"));

    let answered = second.post_json(
        &format!("/api/alerts/{id}/acknowledge"),
        &[("authorization", tokens[1].as_str())],
        &serde_json::json!({}),
    );
    assert_eq!(answered.status, 200, "{}", answered.body);
    assert_eq!(status_of(1, id).as_deref(), Some("acknowledged"), "the answering server lists it answered at once");
    poll("the other server to list the alert acknowledged", || {
        (status_of(0, id).as_deref() == Some("acknowledged")).then_some(())
    });
    let audited = count(&db, "SELECT count(*) AS n FROM audit_log WHERE resource_type = 'Alert' AND action = 'search'");
    assert_eq!(audited, views.get(), "one audit row per view");
}
