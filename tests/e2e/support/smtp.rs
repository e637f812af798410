//! A real SMTP server on loopback for the tests: Debian's aiosmtpd (`python3-aiosmtpd`, installed
//! by `deploy/system-deps.sh`), requiring STARTTLS with a certificate made here, delivering into a
//! Maildir that the test reads the raw messages back from; or, with the handlers of
//! `smtp_handlers.py`, answering late or refusing.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use super::{free_port, poll};

/// Where `smtp_handlers.py` is.
const HANDLERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/e2e/support");

pub struct Smtp {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    behaviour: Behaviour,
}

/// How the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Accept,
    /// Stores each message, then answers this many seconds later.
    Slow(u32),
    /// Answers every recipient 451 (try again later).
    Refuse,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Smtp {
    /// Starts the server on a free port and waits until it accepts connections.
    pub fn start() -> Self {
        Self::started(Behaviour::Accept)
    }

    /// Like [`Smtp::start`], answering as `behaviour` says.
    pub fn started(behaviour: Behaviour) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let certified =
            rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).expect("cert");
        std::fs::write(dir.path().join("cert.pem"), certified.cert.pem()).expect("cert");
        std::fs::write(dir.path().join("key.pem"), certified.signing_key.serialize_pem()).expect("key");
        let mut smtp = Self { child: None, port: free_port(), dir, behaviour };
        smtp.run();
        smtp
    }

    fn run(&mut self) {
        let path = self.dir.path();
        let mut command = Command::new("/usr/bin/python3");
        command
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{}", self.port)])
            .arg("--tlscert")
            .arg(path.join("cert.pem"))
            .arg("--tlskey")
            .arg(path.join("key.pem"));
        let maildir = path.join("maildir");
        match self.behaviour {
            Behaviour::Accept => command.args(["-c", "aiosmtpd.handlers.Mailbox"]).arg(maildir),
            Behaviour::Slow(delay) => command
                .env("PYTHONPATH", HANDLERS)
                .args(["-c", "smtp_handlers.SlowMailbox"])
                .arg(maildir)
                .arg(delay.to_string()),
            Behaviour::Refuse => {
                command.env("PYTHONPATH", HANDLERS).args(["-c", "smtp_handlers.Refusing"]).arg(maildir)
            }
        };
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd (Debian's python3-aiosmtpd; deploy/system-deps.sh installs it)");
        self.child = Some(child);
        let port = self.port;
        poll("the SMTP server to listen", || std::net::TcpStream::connect(("127.0.0.1", port)).ok());
    }

    /// Stops the server (messages received so far stay readable).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, answering as `behaviour` says.
    pub fn restart_as(&mut self, behaviour: Behaviour) {
        self.behaviour = behaviour;
        self.restart();
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }

    /// The certificate clients must trust.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// The environment that sends a `vigil` process's email here.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("VIGIL_EMAIL__SMTP_HOST".into(), "127.0.0.1".into()),
            ("VIGIL_EMAIL__SMTP_PORT".into(), self.port.to_string()),
            ("VIGIL_EMAIL__SMTP_TLS".into(), "starttls".into()),
            ("VIGIL_EMAIL__SMTP_CA_FILE".into(), self.ca_file().display().to_string()),
            ("VIGIL_EMAIL__FROM".into(), "Vigil <vigil@hospital.test>".into()),
        ]
    }

    /// Every message received, raw, oldest first.
    pub fn messages(&self) -> Vec<String> {
        let mut found: Vec<(std::time::SystemTime, String)> = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.dir.path().join("maildir").join(sub)) else { continue };
            for entry in entries.flatten() {
                let modified = entry.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH);
                if let Ok(text) = std::fs::read_to_string(entry.path()) {
                    found.push((modified, text));
                }
            }
        }
        found.sort_by_key(|(t, _)| *t);
        found.into_iter().map(|(_, m)| m).collect()
    }
}

/// A header's value in a raw message (unfolded), if present.
pub fn header(message: &str, name: &str) -> Option<String> {
    let head = message.split("\n\n").next().unwrap_or_default().replace("\r\n", "\n");
    let mut value: Option<String> = None;
    for line in head.lines() {
        if let Some(v) = value.as_mut() {
            if line.starts_with([' ', '\t']) {
                v.push_str(line.trim_start());
                continue;
            }
            break;
        }
        if let Some((key, rest)) = line.split_once(':')
            && key.eq_ignore_ascii_case(name)
        {
            value = Some(rest.trim().to_owned());
        }
    }
    value
}
