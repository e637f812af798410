//! The resident memory of Vigil's own processes: each is started as a deployment runs it and its
//! high-water mark (`VmHWM`, which the kernel keeps) read from /proc while it works.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vigil_store::testing::TestDb;

use super::http::serve;
use super::process_status_mib;
use super::ward::{PASSWORD, api_token};

/// A process's peak resident memory, and how many requests it answered meanwhile (servers).
pub struct Peak {
    pub mib: f64,
    pub requests: usize,
}

/// How long a process measured here may take (a run of a million patients takes minutes).
const DEADLINE: Duration = Duration::from_secs(3600);
/// How often the high-water mark and the log are looked at.
const SAMPLE: Duration = Duration::from_millis(100);

/// Runs `vigil ARGS` against `db` until it exits, or until `done(its log so far)` (then it is sent
/// SIGTERM); its peak resident memory. Panics if it fails or outlives [`DEADLINE`].
pub fn peak_of(db: &TestDb, args: &[&str], mut done: impl FnMut(&str) -> bool) -> Peak {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("vigil.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .current_dir(dir.path())
        .env("DATABASE_URL", db.url())
        .env("VIGIL_SERVER__PUBLIC_URL", "https://vigil.test")
        // No scheduled run of everyone while measured: the worker's first pass is the work.
        .env("VIGIL_SCORE_CRON", "all=0 0 2 1 1 *")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("vigil");
    let pid = child.id().to_string();
    let started = Instant::now();
    let mut peak = 0.0_f64;
    loop {
        peak = peak.max(process_status_mib(&pid, "VmHWM:"));
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "vigil {args:?} failed:\n{}", tail(&log));
            return Peak { mib: peak, requests: 0 };
        }
        if done(&std::fs::read_to_string(&log).unwrap_or_default()) {
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            let _ = child.wait();
            return Peak { mib: peak, requests: 0 };
        }
        assert!(started.elapsed() < DEADLINE, "vigil {args:?} took over {DEADLINE:?}:\n{}", tail(&log));
        std::thread::sleep(SAMPLE);
    }
}

/// `vigil serve`'s peak after a clinician of the unit most patients were seen on has paged
/// through patients (100 a page) and read each one and their encounters.
pub fn serve_peak(db: &TestDb) -> Peak {
    super::vigil(db, &["unit", "add", "clinic", "--name", "Clinic"], "");
    super::vigil(
        db,
        &["user", "add", "nurse", "--role", "clinician", "--unit", "clinic", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    let server = serve(db);
    let token = format!("Bearer {}", api_token(&server.base));
    let agent = ureq::Agent::new_with_defaults();
    let get = |url: &str| -> serde_json::Value {
        let mut response = agent.get(url).header("Authorization", &token).call().expect(url);
        response.body_mut().read_json().expect("json")
    };
    let mut requests = 0;
    let mut next = Some(format!("{}/fhir/Patient?_count=100", server.base));
    for _ in 0..10 {
        let Some(url) = next.take() else { break };
        let page = get(&url);
        requests += 1;
        for entry in page["entry"].as_array().into_iter().flatten() {
            let id = entry["resource"]["id"].as_str().expect("id");
            get(&format!("{}/fhir/Patient/{id}", server.base));
            get(&format!("{}/fhir/Encounter?patient={id}", server.base));
            requests += 2;
        }
        let links = page["link"].as_array().cloned().unwrap_or_default();
        next = links.iter().find(|l| l["relation"] == "next").and_then(|l| l["url"].as_str()).map(str::to_owned);
    }
    assert!(requests > 100, "the clinician saw patients ({requests} requests)");
    Peak { mib: process_status_mib(&server.pid().to_string(), "VmHWM:"), requests }
}

/// The last lines a process logged, for a failure's message.
fn tail(log: &std::path::Path) -> String {
    let mut text = String::new();
    let _ = std::fs::File::open(log).and_then(|mut f| f.read_to_string(&mut text));
    let lines: Vec<&str> = text.lines().rev().take(20).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join("\n")
}
