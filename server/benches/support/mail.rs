//! A local SMTP server for the email benches (Debian's aiosmtpd, plain SMTP on loopback, storing
//! into a Maildir), a child process killed on drop, and waiting with a deadline.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use std::time::{Duration, Instant};
use vigil_store::testing::TestDb;

use super::http::free_port;

/// A child process, killed when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `done` until it holds; panics after ten minutes.
pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(600), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// aiosmtpd on a free port, storing what it accepts into `maildir`, once it accepts connections;
/// the server and its port.
pub fn smtp(maildir: &Path) -> (Killed, u16) {
    let port = free_port();
    (smtp_on(maildir, port), port)
}

/// aiosmtpd on `port`, storing into `maildir`, once it accepts connections.
pub fn smtp_on(maildir: &Path, port: u16) -> Killed {
    let server = Killed(
        Command::new("/usr/bin/python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd (Debian's python3-aiosmtpd)"),
    );
    wait_for("the SMTP server", || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    server
}

/// `vigil worker` on `db` relaying to plain SMTP on loopback `port` (scheduled scoring off), with
/// `env` besides.
pub fn relay(db: &TestDb, port: u16, env: &[(&str, &str)]) -> Killed {
    let mut worker = Command::new(env!("CARGO_BIN_EXE_vigil"));
    worker
        .arg("worker")
        .env("DATABASE_URL", db.url())
        .env("VIGIL_SCORE_CRON", "all=0 0 2 1 1 *")
        .env("VIGIL_SERVER__PUBLIC_URL", "https://vigil.example")
        .env("VIGIL_EMAIL__SMTP_HOST", "127.0.0.1")
        .env("VIGIL_EMAIL__SMTP_PORT", port.to_string())
        .env("VIGIL_EMAIL__SMTP_TLS", "none")
        .env("VIGIL_EMAIL__FROM", "Vigil <vigil@hospital.example>")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Killed(worker.spawn().expect("worker"))
}
