//! The command line: help, `vigil migrate`, and configuration errors that name the key.

use vigil_store::testing::TestDb;

use crate::support::{run, vigil};

#[test]
fn every_subcommand_explains_itself() {
    let (status, out, _) = run(vigil().arg("--help"));
    assert!(status.success());
    for sub in ["serve", "migrate"] {
        assert!(out.contains(sub), "--help lists {sub}: {out}");
        let (status, help, _) = run(vigil().args([sub, "--help"]));
        assert!(status.success(), "{sub} --help");
        assert!(help.lines().count() > 3, "{sub} --help says what it does: {help}");
    }
}

#[test]
fn migrate_applies_pending_migrations_once_and_reports_status() {
    let db = TestDb::empty();
    let (status, out, _) = run(vigil().arg("migrate").args(["--status"]).env("DATABASE_URL", db.url()));
    assert_eq!(status.code(), Some(1), "pending migrations make --status fail: {out}");
    assert!(out.contains("pending"));

    let (status, out, err) = run(vigil().arg("migrate").env("DATABASE_URL", db.url()));
    assert!(status.success(), "{err}");
    let known = vigil_store::migrate::known().expect("known");
    for version in &known {
        assert!(out.contains(&format!("applied {version}")), "{out}");
    }

    let (status, out, _) = run(vigil().arg("migrate").env("DATABASE_URL", db.url()));
    assert!(status.success());
    assert!(!out.contains("applied "), "nothing left to apply: {out}");

    let (status, out, _) = run(vigil().args(["migrate", "--status"]).env("DATABASE_URL", db.url()));
    assert!(status.success());
    assert_eq!(out.matches("applied").count(), known.len(), "{out}");
}

#[test]
fn an_unreachable_database_is_a_clear_error_for_migrate() {
    let port = crate::support::free_port();
    let url = format!("postgres://vigil:s3cret-pw@127.0.0.1:{port}/vigil");
    let (status, _, err) = run(vigil().arg("migrate").env("DATABASE_URL", &url));
    assert!(!status.success());
    assert!(err.contains(&format!("connecting to postgres://127.0.0.1:{port}/vigil")), "{err}");
    assert!(!err.contains("s3cret-pw"), "the password never shows: {err}");
}

#[test]
fn invalid_configuration_stops_start_up_naming_the_key() {
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: &[Case] = &[
        (&[("VIGIL_SERVER__PORT", "eighty")], &["server.port", "VIGIL_SERVER__PORT", "u16"]),
        (&[("VIGIL_SERVER__PROT", "8080")], &["prot", "port"]),
        (&[("VIGIL_LOG__FORMAT", "xml")], &["log.format", "auto"]),
        (&[("DATABASE_URL", "mysql://localhost/x")], &["database.url", "postgres://"]),
        (&[], &["DATABASE_URL is not set"]),
        (&[("VIGIL_SERVER__PUBLIC_URL", "")], &["server.public_url", "http or https URL"]),
        (&[("VIGIL_SERVER__PUBLIC_URL", "ftp://vigil.example")], &["server.public_url", "http or https URL"]),
        (&[("VIGIL_SERVER__PUBLIC_URL", "https://vigil.example/?a=b")], &["server.public_url", "no query"]),
    ];
    for (env, expected) in cases {
        let mut cmd = vigil();
        cmd.arg("serve").env_remove("VIGIL_LOG__FORMAT");
        if !env.iter().any(|(k, _)| *k == "DATABASE_URL") {
            cmd.env("DATABASE_URL", "postgres://127.0.0.1:1/none");
        }
        if !env.iter().any(|(k, _)| *k == "VIGIL_SERVER__PUBLIC_URL") {
            cmd.env("VIGIL_SERVER__PUBLIC_URL", "https://vigil.example");
        }
        if env.is_empty() {
            cmd.env_remove("DATABASE_URL");
        }
        cmd.envs(env.iter().copied());
        let (status, _, err) = run(&mut cmd);
        assert_eq!(status.code(), Some(1), "{env:?} must stop start-up: {err}");
        for needle in *expected {
            assert!(err.to_lowercase().contains(&needle.to_lowercase()), "error for {env:?} names {needle:?}: {err}");
        }
    }
}

#[test]
fn a_missing_configuration_file_is_an_error_and_a_present_one_is_read() {
    let (status, _, err) = run(vigil().args(["--config", "/nonexistent/vigil.toml", "migrate"]));
    assert!(!status.success());
    assert!(err.contains("/nonexistent/vigil.toml does not exist"), "{err}");

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("vigil.toml");
    std::fs::write(&file, "[server]\nport = \"not a number\"\n").expect("write");
    let (status, _, err) = run(vigil().arg("--config").arg(&file).arg("serve").env("DATABASE_URL", "postgres://x/y"));
    assert!(!status.success());
    assert!(err.contains("server.port") && err.contains(&file.display().to_string()), "{err}");
}

#[test]
fn serve_needs_its_public_url() {
    let (status, _, err) = run(vigil().arg("serve").env("DATABASE_URL", "postgres://127.0.0.1:1/none"));
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("server.public_url is not set") && err.contains("/auth/token"), "{err}");
}
