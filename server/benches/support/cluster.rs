//! A Postgres cluster of the bench's own (Debian's binaries, initdb into a temporary folder, a free
//! port on loopback), so that a fault run may stop and start it without touching the machine's
//! server or anything else using it. Stopped with `-m immediate` when dropped.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::http::free_port;

pub struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    pub port: u16,
}

/// The newest Debian Postgres binaries (`/usr/lib/postgresql/<version>/bin`).
fn binaries() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("Debian's postgresql package (/usr/lib/postgresql)")
        .filter_map(Result::ok)
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").exists())
        .collect();
    found.sort();
    found.pop().expect("initdb under /usr/lib/postgresql").1
}

/// Runs a Postgres program as its owner: root may not run a Postgres server.
fn as_owner(program: PathBuf) -> Command {
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

impl Cluster {
    /// A new cluster (trust authentication on loopback), started.
    pub fn start() -> Self {
        let bin = binaries();
        let dir = tempfile::Builder::new().prefix("vigil-loadtest-pg").tempdir().expect("tempdir");
        let _ = Command::new("chown").arg("postgres").arg(dir.path()).status();
        let init = as_owner(bin.join("initdb"))
            .arg("-D")
            .arg(dir.path().join("data"))
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"])
            .stdout(Stdio::null())
            .status()
            .expect("initdb");
        assert!(init.success(), "initdb");
        let cluster = Self { bin, dir, port: free_port() };
        cluster.up();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// An administrator's URL to database `postgres`.
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server and waits until it accepts connections.
    pub fn up(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=on",
            self.port,
            self.dir.path().display()
        );
        let started = as_owner(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .args(["-w", "-t", "60", "-o", &options, "start"])
            .stdout(Stdio::null())
            .status()
            .expect("pg_ctl start");
        assert!(started.success(), "pg_ctl start");
    }

    /// Stops the server (`fast`: open sessions are ended, as a restart for an upgrade does).
    pub fn down(&self) {
        self.stop("fast");
    }

    fn stop(&self, mode: &str) {
        let _ = as_owner(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .args(["-m", mode, "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop("immediate");
    }
}
