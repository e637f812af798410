//! A backup is worth what its restore gives back: `deploy/backup.sh dump` of a database with a
//! population, scores, users and an audit trail, restored with `deploy/backup.sh restore` into a new
//! database, holds every row of every table, and its audit chain verifies.

use std::path::Path;
use std::process::Command;

use diesel::prelude::*;
use vigil_store::testing::TestDb;

use crate::scoring::{cli, count, population, with_active_models};
use crate::support::run;

fn backup(database_url: &str, args: &[&str]) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/backup.sh");
    let (status, out, err) = run(Command::new(script).args(args).env("DATABASE_URL", database_url));
    (status.success(), format!("{out}{err}"))
}

/// Every table of the public schema with its row count.
fn counts(db: &TestDb) -> Vec<(String, i64)> {
    #[derive(QueryableByName)]
    struct Table {
        #[diesel(sql_type = diesel::sql_types::Text)]
        tablename: String,
    }
    let tables: Vec<Table> =
        diesel::sql_query("SELECT tablename::TEXT AS tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
            .load(&mut db.connect())
            .expect("tables");
    tables
        .into_iter()
        .map(|t| (t.tablename.clone(), count(db, &format!("SELECT count(*) AS n FROM \"{}\"", t.tablename))))
        .collect()
}

#[test]
fn a_dump_restored_into_a_new_database_holds_every_row_and_its_audit_chain_verifies() {
    let db = population(400);
    with_active_models(&db);
    cli(&db, &["score"]);
    cli(&db, &["unit", "add", "ICU", "--name", "Intensive care"]);
    cli(&db, &["audit", "seal"]);
    let before = counts(&db);
    assert!(
        before.iter().any(|(t, n)| t == "scores" && *n > 0) && before.iter().any(|(t, n)| t == "audit_seals" && *n > 0)
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("vigil.dump");
    let file = file.to_str().expect("path");
    let (dumped, said) = backup(db.url(), &["dump", file]);
    assert!(dumped, "{said}");

    let restored = TestDb::empty();
    let (ok, said) = backup(restored.url(), &["restore", file]);
    assert!(ok, "{said}");
    assert_eq!(counts(&restored), before, "every table holds the same number of rows");
    let verified = cli(&restored, &["audit", "verify"]);
    assert!(verified.contains("audit trail intact"), "{verified}");
    // The restored database carries on: it is migrated, and a restore over data is refused.
    assert!(cli(&restored, &["migrate"]).contains("up to date"));
    let (again, said) = backup(restored.url(), &["restore", file]);
    assert!(!again && said.contains("not empty"), "{said}");
}
