//! A real `vigil serve` for the benches (plain HTTP on loopback, as a TLS-terminating proxy would
//! reach it, as the runtime role), an open-loop load generator at a fixed rate, and the closed-loop
//! rates of wrk against the server and of pgbench against Postgres.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vigil_store::testing::TestDb;

pub struct Server {
    child: Child,
    pub base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the server to exit; whether it exited cleanly.
    pub fn terminate(&mut self) -> bool {
        let signalled = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        signalled.is_ok_and(|s| s.success()) && self.child.wait().is_ok_and(|s| s.success())
    }
}

/// A URL for a server on this machine, without TLS to it: both Vigil and pgbench connect so, so
/// that neither pays for encryption the other does not.
pub fn loopback(url: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}sslmode=disable")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// `vigil serve` over plain HTTP as the runtime role, with no per-principal rate limit.
pub fn serve(db: &TestDb) -> Server {
    serve_with(db, &[])
}

/// [`serve`] with more settings in the environment.
pub fn serve_with(db: &TestDb, env: &[(&str, &str)]) -> Server {
    serve_in(db, tempfile::tempdir().expect("tempdir"), env)
}

/// Another `vigil serve` of the same deployment as `other`: a copy of its configuration and keys,
/// so that either accepts the tokens the other issues, as replicas behind one balancer do.
pub fn serve_beside(db: &TestDb, other: &Server) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let copied =
        Command::new("cp").arg("-a").arg(format!("{}/.", other._dir.path().display())).arg(dir.path()).status();
    assert!(copied.is_ok_and(|s| s.success()), "copy the configuration");
    serve_in(db, dir, &[])
}

fn serve_in(db: &TestDb, dir: tempfile::TempDir, env: &[(&str, &str)]) -> Server {
    let vigil = env!("CARGO_BIN_EXE_vigil");
    let status = Command::new(vigil).args(["init", "--dir"]).arg(dir.path()).stdout(Stdio::null()).status();
    assert!(status.expect("init").success());
    let config = dir.path().join("vigil.toml");
    let kept: String = std::fs::read_to_string(&config)
        .expect("config")
        .lines()
        .filter(|l| !l.starts_with("tls_") && !l.starts_with("port") && !l.starts_with("public_url"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&config, kept).expect("config");
    let port = free_port();
    let mut child = Command::new(vigil)
        .arg("--config")
        .arg(&config)
        .args(["serve", "--port", &port.to_string()])
        .env("DATABASE_URL", loopback(&db.runtime_url()))
        .env("VIGIL_DATABASE__MIGRATION_URL", db.url())
        .env("VIGIL_SERVER__PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("VIGIL_SERVER__API_REQUESTS_PER_MINUTE", "0")
        .env("VIGIL_AUTH__MFA_REQUIRED_ROLES", "[]")
        .env("VIGIL_LOG__FORMAT", "json")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("vigil.log")).expect("log"))
        .spawn()
        .expect("vigil serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("listening");
    Server { child, base: format!("http://127.0.0.1:{port}"), _dir: dir }
}

/// `rate` GET requests per second to `url` for `seconds` from 16 connections, each sending
/// `header`; see [`fixed_rate_with`].
pub fn fixed_rate(url: &str, header: (&str, &str), rate: u64, seconds: u64) -> (Vec<Duration>, u64) {
    let (url, name, value) = (url.to_owned(), header.0.to_owned(), header.1.to_owned());
    fixed_rate_with(rate, seconds, move |agent, _| {
        agent
            .get(&url)
            .header(name.as_str(), value.as_str())
            .call()
            .map(|mut r| r.status() == 200 && r.body_mut().read_to_string().is_ok())
            .unwrap_or(false)
    })
}

/// `rate` requests per second for `seconds` from 16 connections, request `i` sent by `send(agent,
/// i)` (true when it answered as it should), each timed from when it was due (so a stall is not
/// hidden by the requests it delayed); the sorted latencies and the requests that failed.
pub fn fixed_rate_with(
    rate: u64,
    seconds: u64,
    send: impl Fn(&ureq::Agent, u64) -> bool + Send + Sync + 'static,
) -> (Vec<Duration>, u64) {
    let samples = fixed_rate_log(rate, seconds, send);
    let errors = samples.iter().filter(|s| !s.ok).count() as u64;
    let mut latencies: Vec<Duration> = samples.into_iter().map(|s| s.latency).collect();
    latencies.sort();
    (latencies, errors)
}

/// One request of a fixed-rate run: when it was due, how long it took from
/// then, and whether it was answered as it should have been.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub due: Instant,
    pub latency: Duration,
    pub ok: bool,
}

/// The run of [`fixed_rate_with`], every request kept, in no particular order.
pub fn fixed_rate_log(
    rate: u64,
    seconds: u64,
    send: impl Fn(&ureq::Agent, u64) -> bool + Send + Sync + 'static,
) -> Vec<Sample> {
    let connections = 16_u64;
    let interval = Duration::from_nanos(1_000_000_000 * connections / rate);
    let start = Instant::now() + Duration::from_millis(100);
    let send = std::sync::Arc::new(send);
    let workers: Vec<_> = (0..connections)
        .map(|w| {
            let send = std::sync::Arc::clone(&send);
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(30)))
                    .build()
                    .into();
                let offset = interval * w as u32 / connections as u32;
                (0..(rate * seconds / connections))
                    .map(|i| {
                        let due = start + offset + interval * i as u32;
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                        let ok = send(&agent, i * connections + w);
                        Sample { due, latency: due.elapsed(), ok }
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    workers.into_iter().flat_map(|w| w.join().expect("worker")).collect()
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// wrk for `seconds` from `connections` connections sending `header`; requests per second and
/// "p99 …, errors".
pub fn wrk(url: &str, header: &str, connections: u32, seconds: u64) -> (f64, String) {
    wrk_scripted(url, header, None, connections, seconds)
}

/// [`wrk`] with a Lua `script` that makes each request (for example, one path after another).
pub fn wrk_scripted(url: &str, header: &str, script: Option<&str>, connections: u32, seconds: u64) -> (f64, String) {
    let threads = connections.min(2).to_string();
    let file = tempfile::NamedTempFile::new().expect("script");
    let mut command = Command::new("wrk");
    command
        .args(["-t", &threads, "-c", &connections.to_string(), "-d", &format!("{seconds}s"), "--latency"])
        .args(["-H", header]);
    if let Some(script) = script {
        std::fs::write(file.path(), script).expect("script");
        command.arg("-s").arg(file.path());
    }
    let out = command.arg(url).output().expect("wrk (Debian's wrk; make bench installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let rate = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("wrk's rate");
    let non_2xx = text.lines().find(|l| l.contains("Non-2xx")).map(str::trim).unwrap_or("0 errors").to_owned();
    let p99 = text.lines().find(|l| l.trim().starts_with("99%")).map(str::trim).unwrap_or("").to_owned();
    (rate, format!("p99 {}, {non_2xx}", p99.trim_start_matches("99%").trim()))
}

/// pgbench running `script` for `seconds` from `connections` connections; transactions per second.
pub fn pgbench(database_url: &str, script: &str, connections: u32, seconds: u64) -> f64 {
    let file = tempfile::NamedTempFile::new().expect("script");
    std::fs::write(file.path(), script).expect("script");
    let out = Command::new("pgbench")
        .args(["-n", "-c", &connections.to_string(), "-j", &connections.min(2).to_string(), "-T", &seconds.to_string()])
        .arg("-f")
        .arg(file.path())
        .arg(loopback(database_url))
        .output()
        .expect("pgbench (Debian's postgresql-client)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("pgbench: {text}{}", String::from_utf8_lossy(&out.stderr)))
}
