//! The harness: start `vigil`, wait for things with a deadline, talk HTTP.

pub mod proxy;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long any awaited condition may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The `vigil` binary with an environment of the test's making: none of the caller's
/// `DATABASE_URL`, `VIGIL_*` or `RUST_LOG`, and JSON logs.
pub fn vigil() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vigil"));
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key == "DATABASE_URL" || key == "RUST_LOG" || key.starts_with("VIGIL_") {
            cmd.env_remove(key.as_ref());
        }
    }
    cmd.env("VIGIL_LOG__FORMAT", "json");
    cmd
}

/// Polls `check` until it gives a value or the deadline passes.
pub fn poll<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::yield_now();
        std::thread::park_timeout(Duration::from_millis(20));
    }
}

/// A running `vigil serve`, killed when dropped.
pub struct App {
    child: Child,
    pub base: String,
    log_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl App {
    /// Starts `vigil serve` on a free port against `database_url` and waits until it listens.
    pub fn spawn(database_url: &str) -> Self {
        Self::spawn_with(database_url, &[])
    }

    pub fn spawn_with(database_url: &str, env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let log_path = dir.path().join("vigil.log");
        let log = std::fs::File::create(&log_path).expect("log file");
        let mut cmd = vigil();
        cmd.args(["serve", "--port", "0"])
            .env("DATABASE_URL", database_url)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(log);
        let mut child = cmd.spawn().expect("spawn vigil serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let line = rx.recv_timeout(DEADLINE).unwrap_or_else(|_| {
            panic!(
                "vigil serve did not print its address; log:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            )
        });
        let base = line.rsplit(' ').next().expect("address").to_owned();
        assert!(base.starts_with("http://"), "unexpected first line: {line}");
        Self { child, base, log_path, _dir: dir }
    }

    pub fn get(&self, path: &str) -> Response {
        get(&format!("{}{path}", self.base), &[])
    }

    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        get(&format!("{}{path}", self.base), headers)
    }

    /// Everything the server logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit by itself.
    pub fn wait_for_exit(&mut self) -> ExitStatus {
        let child = &mut self.child;
        poll("vigil to exit", || child.try_wait().expect("try_wait"))
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

pub fn get(url: &str, headers: &[(&str, &str)]) -> Response {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut request = agent.get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    Response { status, headers, body }
}

/// Runs a command to completion and returns (exit status, stdout, stderr).
pub fn run(cmd: &mut Command) -> (ExitStatus, String, String) {
    let out = cmd.output().expect("run command");
    (out.status, String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A TCP port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// host:port of a Postgres URL.
pub fn server_address(database_url: &str) -> String {
    let url = url::Url::parse(database_url).expect("database URL");
    format!("{}:{}", url.host_str().unwrap_or("127.0.0.1"), url.port().unwrap_or(5432))
}
