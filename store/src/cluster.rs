//! A Postgres cluster of a test's or bench's own (Debian's binaries, initdb into a temporary
//! folder, a free port on loopback), so that a fault test may stop and start it, or stream it to a
//! replica, without touching the machine's server or anything else using it. Stopped with
//! `-m immediate` when dropped.

use std::path::PathBuf;
use std::process::{Command, Stdio};

#[derive(Debug)]
pub struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    pub port: u16,
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
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
        let dir = owned_tempdir();
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

    /// A streaming replica of this cluster (a base backup with `-R`: hot standby, read-only),
    /// started; it follows this cluster until either stops.
    pub fn replica(&self) -> Self {
        let dir = owned_tempdir();
        let copied = as_owner(self.bin.join("pg_basebackup"))
            .arg("-D")
            .arg(dir.path().join("data"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-R",
                "-X",
                "stream",
                "--checkpoint=fast",
            ])
            .stdout(Stdio::null())
            .status()
            .expect("pg_basebackup");
        assert!(copied.success(), "pg_basebackup");
        let replica = Self { bin: self.bin.clone(), dir, port: free_port() };
        replica.up();
        replica
    }

    /// `url` (a URL of a database of another cluster, such as the primary this replica follows)
    /// with this cluster's port.
    pub fn url_of(&self, url: &str) -> String {
        let Some(host_end) = url.rfind("127.0.0.1:").map(|i| i + "127.0.0.1:".len()) else { return url.to_owned() };
        let port_end = url[host_end..].find('/').map_or(url.len(), |i| host_end + i);
        format!("{}{}{}", &url[..host_end], self.port, &url[port_end..])
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

/// A temporary folder the `postgres` user owns (root may not run a Postgres server).
fn owned_tempdir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("vigil-pg").tempdir().expect("tempdir");
    let _ = Command::new("chown").arg("postgres").arg(dir.path()).status();
    dir
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop("immediate");
    }
}
