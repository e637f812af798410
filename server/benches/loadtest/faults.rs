//! The fault runs of `make loadtest`, each under load, each saying whether what must hold held.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use vigil_store::testing::TestDb;

use super::support::http::{Sample, fixed_rate_log, free_port, serve, serve_beside};
use super::support::mail::{relay, smtp_on, wait_for};
use super::support::{count, vigil, ward};
use super::{Requests, reads, report};
use vigil_store::cluster::Cluster;

fn verdict(held: bool) -> &'static str {
    if held { "held" } else { "NOT held" }
}

/// Postgres stopped (`-m fast`: sessions ended, as for a minor upgrade) 5 s into 200 reads/s for
/// 20 s and started again 2 s later. Holds when nothing failed before the stop and every request
/// due from 3 s after Postgres accepted connections again was answered: Vigil recovered on its own.
pub fn postgres_restart(cluster: &Cluster, db: &TestDb, patients: &Arc<Vec<String>>) -> bool {
    let server = serve(db);
    let nurse = format!("Bearer {}", ward::api_token(&server.base));
    let send = reads(&server.base, &nurse, patients);
    let (samples, (down, up)) = std::thread::scope(|s| {
        let fault = s.spawn(|| {
            std::thread::sleep(Duration::from_secs(5));
            let down = Instant::now();
            cluster.down();
            // The outage's length, chosen: not a wait for something to happen.
            std::thread::sleep(Duration::from_secs(2));
            cluster.up();
            (down, Instant::now())
        });
        let samples = fixed_rate_log(200, 20, send);
        (samples, fault.join().expect("fault"))
    });
    report("reads while Postgres restarts", 200, &samples, None);
    let failed = |from: Instant, to: Instant| samples.iter().filter(|s| !s.ok && s.due >= from && s.due < to).count();
    let end = Instant::now() + Duration::from_secs(3600);
    let last_failure = samples.iter().filter(|s| !s.ok).map(|s| s.due).max();
    let before = failed(down - Duration::from_secs(3600), down);
    let settled = up + Duration::from_secs(3);
    let after = failed(settled, end);
    let recovered = match last_failure {
        Some(last) if last > up => format!("last failure {} ms after Postgres was back", (last - up).as_millis()),
        _ => "no failure once Postgres was back".to_owned(),
    };
    let held = before == 0 && after == 0 && samples.iter().any(|s| s.ok && s.due >= settled);
    println!(
        "    stopped for {} ms: failed before the stop {before}, while down or reconnecting {}, from 3 s after \
         it was back {after}; {recovered}: {}",
        (up - down).as_millis(),
        failed(down, settled),
        verdict(held)
    );
    held
}

/// Two servers; 5 s into 500 reads/s for 15 s, the first is sent SIGTERM. A request the first
/// refuses a connection to goes to the second, as a proxy's next upstream does; any other failure
/// is a request lost in flight. Holds when none failed and the first exited cleanly.
pub fn sigterm(db: &TestDb, patients: &Arc<Vec<String>>) -> bool {
    let mut first = serve(db);
    let second = serve_beside(db, &first);
    let nurse = format!("Bearer {}", ward::api_token(&first.base));
    let gone = Arc::new(AtomicBool::new(false));
    let moved = Arc::new(AtomicU64::new(0));
    let send: Requests = {
        let (first, second, nurse, patients) =
            (first.base.clone(), second.base.clone(), nurse.clone(), patients.clone());
        let (gone, moved) = (gone.clone(), moved.clone());
        Box::new(move |agent, i| {
            let path = format!("/fhir/Patient/{}", patients[i as usize % patients.len()]);
            let answered = |response: Result<ureq::http::Response<ureq::Body>, ureq::Error>| {
                response.map(|mut r| r.status() == 200 && r.body_mut().read_to_string().is_ok())
            };
            if !gone.load(Ordering::Acquire) {
                match answered(agent.get(&format!("{first}{path}")).header("authorization", &nurse).call()) {
                    Ok(ok) => return ok,
                    Err(ureq::Error::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                        gone.store(true, Ordering::Release);
                        moved.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => return false,
                }
            }
            answered(agent.get(&format!("{second}{path}")).header("authorization", &nurse).call()).unwrap_or(false)
        })
    };
    let (samples, exited): (Vec<Sample>, bool) = std::thread::scope(|s| {
        let fault = s.spawn(|| {
            std::thread::sleep(Duration::from_secs(5));
            first.terminate()
        });
        let samples = fixed_rate_log(500, 15, send);
        (samples, fault.join().expect("fault"))
    });
    report("reads while a server stops (SIGTERM)", 500, &samples, None);
    let failed = samples.iter().filter(|s| !s.ok).count();
    let held = failed == 0 && exited && gone.load(Ordering::Acquire);
    println!(
        "    failed {failed}; refused by the stopping server and sent to the other {}; the first exited {}: {}",
        moved.load(Ordering::Relaxed),
        if exited { "cleanly" } else { "NOT cleanly" },
        verdict(held)
    );
    held
}

const RECIPIENTS: usize = 100;

/// Files in a Maildir's `new`, and the distinct Message-IDs among them.
fn delivered(maildir: &Path) -> (usize, usize) {
    let mut ids: Vec<String> = std::fs::read_dir(maildir.join("new"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .filter_map(|m| m.lines().find_map(|l| l.strip_prefix("Message-ID:").map(|v| v.trim().to_owned())))
                .collect()
        })
        .unwrap_or_default();
    let files = ids.len();
    ids.sort();
    ids.dedup();
    (files, ids.len())
}

/// `RECIPIENTS` more nurses of the ward with email; the ward's alerts turn critical (a burst of
/// notices to every nurse) and the worker relays them to an SMTP port nothing listens on; once
/// every message has failed twice, the SMTP server starts on that port. Holds when every message arrives once
/// and none is a dead letter.
pub fn smtp_outage(db: &TestDb, ward: &ward::Ward) -> bool {
    for i in 0..RECIPIENTS {
        let (name, email) = (format!("burst{i}"), format!("burst{i}@hospital.example"));
        vigil(
            db,
            &["user", "add", &name, "--role", "clinician", "--unit", ward::UNIT, "--email", &email, "--password-stdin"],
            &format!("{}\n", ward::PASSWORD),
        );
    }
    let critical = format!("{:.9}", ward.patients[24].1 - 1e-9);
    vigil(db, &["alert", "rule", "set", "1", "--critical", &critical, "--reason", "burst"], "");
    vigil(db, &["score"], "");
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let _worker = relay(
        db,
        port,
        &[
            ("VIGIL_ALERTS__GROUP_WAIT_SECS", "0"),
            ("VIGIL_EMAIL__RETRY_BASE_SECS", "1"),
            ("VIGIL_EMAIL__RETRY_MAX_SECS", "2"),
        ],
    );
    wait_for("sends to fail while SMTP is down", || {
        count(db, "SELECT count(*) AS n FROM outbox_messages WHERE attempts >= 2") >= RECIPIENTS as i64
    });
    let failed_attempts = count(db, "SELECT coalesce(sum(attempts), 0)::BIGINT AS n FROM outbox_messages");
    let messages = count(db, "SELECT count(*) AS n FROM outbox_messages");
    let back = Instant::now();
    let _smtp = smtp_on(&dir.path().join("maildir"), port);
    wait_for("every message to be sent", || {
        count(db, "SELECT count(*) AS n FROM outbox_messages WHERE status = 'pending'") == 0
    });
    let drained = back.elapsed();
    let dead = count(db, "SELECT count(*) AS n FROM outbox_messages WHERE status = 'dead'");
    let (files, distinct) = delivered(&dir.path().join("maildir"));
    let held = messages >= RECIPIENTS as i64 && files as i64 == messages && distinct == files && dead == 0;
    println!(
        "  SMTP down during an alert burst: {messages} messages, {failed_attempts} attempts failed while it was \
         down; all sent {:.1} s after it came back; delivered {files}, distinct Message-IDs {distinct}, dead \
         letters {dead}: {}",
        drained.as_secs_f64(),
        verdict(held)
    );
    held
}
