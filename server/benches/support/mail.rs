//! A local SMTP server for the email benches (Debian's aiosmtpd, plain SMTP on loopback, storing
//! into a Maildir), a child process killed on drop, and waiting with a deadline.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
    (server, port)
}
