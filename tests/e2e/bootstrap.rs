//! deploy/postgres.sh's private-cluster path, forced with VIGIL_PG=private on a machine that runs
//! a server already, as `make run` takes it on a machine that has none.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use diesel::{Connection, PgConnection, RunQueryDsl};

use crate::support::{free_port, run, vigil};

#[test]
fn a_private_cluster_starts_serves_vigil_and_stops() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/postgres.sh");
    let dir = tempfile::tempdir().expect("tempdir");
    // The cluster runs as the postgres user when we are root: it must reach the folder.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let port = free_port().to_string();
    let pg_dir = dir.path().join("postgres");
    let script_cmd = |action: &str| {
        let mut cmd = Command::new(&script);
        cmd.arg(action)
            .env("VIGIL_PG", "private")
            .env("VIGIL_PG_DIR", &pg_dir)
            .env("VIGIL_PG_PORT", &port)
            .env("DATABASE_URL", "postgres://must-be-ignored/x");
        cmd
    };

    let (status, url, err) = run(&mut script_cmd("url"));
    assert!(status.success(), "{err}");
    let url = url.trim().to_owned();
    assert_eq!(url, format!("postgres://postgres@127.0.0.1:{port}/vigil"));
    assert!(pg_dir.join("PG_VERSION").exists());

    // Vigil migrates it like any server.
    let (status, out, err) = run(vigil().arg("migrate").env("DATABASE_URL", &url));
    assert!(status.success(), "{err}");
    assert!(out.contains("up to date"));

    // A second call finds the running cluster.
    let (status, again, _) = run(&mut script_cmd("url"));
    assert!(status.success());
    assert_eq!(again.trim(), url);

    let (status, _, err) = run(&mut script_cmd("stop"));
    assert!(status.success(), "{err}");
    assert!(PgConnection::establish(&url).is_err(), "stopped");

    // And it starts again from the same data.
    let (status, _, err) = run(&mut script_cmd("url"));
    assert!(status.success(), "{err}");
    let mut conn = PgConnection::establish(&url).expect("connect after restart");
    let tables = diesel::sql_query("SELECT 1 FROM patients").execute(&mut conn).expect("migrated data survives");
    assert_eq!(tables, 0);
    drop(conn);
    run(&mut script_cmd("stop"));
}
