//! The harness: start `vigil`, wait for things with a deadline, talk HTTP.

pub mod browser;
pub mod proxy;
pub mod seed;
pub mod smtp;

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

/// A running `vigil serve` over HTTPS with its own `vigil init` directory, killed when dropped.
pub struct App {
    child: Child,
    pub base: String,
    pub dir: tempfile::TempDir,
    log_path: PathBuf,
    agent: ureq::Agent,
}

impl App {
    /// Starts `vigil serve` on a free port against `database_url` (as the runtime role; migrating as
    /// the URL's own role) and waits until it listens.
    pub fn spawn(database_url: &str) -> Self {
        Self::spawn_with(database_url, &[])
    }

    pub fn spawn_with(database_url: &str, env: &[(&str, &str)]) -> Self {
        Self::spawn_configured(database_url, env, |_| String::new())
    }

    /// Starts `vigil serve` with TOML that `extra` writes (given the init folder) appended to the
    /// configuration `vigil init` wrote.
    pub fn spawn_configured(
        database_url: &str,
        env: &[(&str, &str)],
        extra: impl FnOnce(&std::path::Path) -> String,
    ) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let (status, _, err) = run(vigil().args(["init", "--dir"]).arg(dir.path()));
        assert!(status.success(), "vigil init: {err}");
        let config = dir.path().join("vigil.toml");
        let appended = extra(dir.path());
        let mut toml = std::fs::read_to_string(&config).expect("config");
        toml.push_str(&appended);
        std::fs::write(&config, toml).expect("write config");
        let log_path = dir.path().join("vigil.log");
        let log = std::fs::File::create(&log_path).expect("log file");
        // The server's public URL names its port, so the port is chosen here rather than by the
        // server; a test may set another public URL.
        let port = free_port().to_string();
        let mut cmd = vigil();
        cmd.arg("--config")
            .arg(dir.path().join("vigil.toml"))
            .args(["serve", "--port", &port])
            // As deployed: the server runs as the runtime role, and migrates as the owner.
            .env("DATABASE_URL", vigil_store::testing::runtime_url(database_url))
            .env("VIGIL_DATABASE__MIGRATION_URL", database_url)
            .env("VIGIL_SERVER__PUBLIC_URL", format!("https://127.0.0.1:{port}"))
            // Tests sign admins and informatics users in with a password alone, unless they are
            // about the second factor (and set this themselves).
            .env("VIGIL_AUTH__MFA_REQUIRED_ROLES", "[]")
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
        assert!(base.starts_with("https://"), "unexpected first line: {line}");
        let agent = agent_trusting(&dir.path().join("tls/cert.pem"));
        Self { child, base, dir, log_path, agent }
    }

    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], None)
    }

    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        self.request("GET", path, headers, None)
    }

    pub fn post_json(&self, path: &str, headers: &[(&str, &str)], body: &serde_json::Value) -> Response {
        let mut all = headers.to_vec();
        all.push(("content-type", "application/json"));
        self.request("POST", path, &all, Some(body.to_string()))
    }

    pub fn post_form(&self, path: &str, headers: &[(&str, &str)], fields: &[(&str, &str)]) -> Response {
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
        let mut all = headers.to_vec();
        all.push(("content-type", "application/x-www-form-urlencoded"));
        self.request("POST", path, &all, Some(body.join("&")))
    }

    /// A GET that reports a failure to get any answer (refused, reset) instead of panicking.
    pub fn try_get(&self, path: &str) -> Result<Response, ureq::Error> {
        let mut response = self.agent.get(&format!("{}{path}", self.base)).call()?;
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string()?;
        Ok(Response { status, headers: Vec::new(), body })
    }

    /// Any request, answered whatever its status (redirects are not followed).
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<String>) -> Response {
        let url = format!("{}{path}", self.base);
        let mut builder = ureq::http::Request::builder().method(method).uri(&url);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        // As a FHIR client would: a body is FHIR JSON unless the test says otherwise.
        if body.is_some() && !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("content-type")) {
            builder = builder.header("content-type", "application/fhir+json");
        }
        let result = match body {
            Some(body) => self.agent.run(builder.body(body).expect("request")),
            None => self.agent.run(builder.body(()).expect("request")),
        };
        let mut response = result.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        let body = response.body_mut().read_to_string().unwrap_or_default();
        Response { status, headers, body }
    }

    /// Everything the server logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server and hands back its folder (configuration, keys, anchors).
    pub fn stop(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.dir, dir)
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

fn agent_trusting(cert: &std::path::Path) -> ureq::Agent {
    let pem = std::fs::read(cert).expect("certificate");
    let cert = ureq::tls::Certificate::from_pem(&pem).expect("PEM certificate").to_owned();
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(vec![cert])))
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
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

    /// The Set-Cookie header of this response for `name`, with its attributes.
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.as_str())
            .find(|v| v.starts_with(&format!("{name}=")))
    }

    /// Just `name=value` of a Set-Cookie, as a Cookie request header wants it.
    pub fn cookie_pair(&self, name: &str) -> Option<String> {
        self.set_cookie(name).and_then(|v| v.split(';').next()).map(str::to_owned)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
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
