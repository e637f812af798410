//! An audit trail the application itself cannot rewrite: `vigil audit verify` names an altered
//! row; the chain's head is anchored outside the database on a schedule and `vigil audit verify`
//! checks every anchor, so a chain rewritten from a removed row on is caught even though it
//! verifies on its own; rejected tokens and CSRF failures are audited, counted per address and
//! window; failed sign-ins name the account tried; the break-glass reason is inside the chained
//! row; the export defuses cells a spreadsheet would run.

use std::path::{Path, PathBuf};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde_json::json;
use vigil_store::schema::audit_log;
use vigil_store::testing::TestDb;

use crate::access::ward;
use crate::support::seed::{self, PASSWORD, bearer};
use crate::support::{App, poll, run, vigil};

fn anchors(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
}

fn verify(db: &TestDb, config: &Path) -> (Option<i32>, String) {
    let (status, out, err) =
        run(vigil().arg("--config").arg(config).args(["audit", "verify"]).env("DATABASE_URL", db.url()));
    (status.code(), format!("{out}{err}"))
}

/// `vigil audit export` of every row, as CSV.
fn export_all(db: &TestDb) -> String {
    let export = tempfile::NamedTempFile::new().expect("file");
    let (status, _, err) = run(vigil()
        .args(["audit", "export", "--from", "2000-01-01", "--to", "2100-01-01", "--out"])
        .arg(export.path())
        .env("DATABASE_URL", db.url()));
    assert!(status.success(), "{err}");
    std::fs::read_to_string(export.path()).expect("csv")
}

#[test]
fn anchors_outside_the_database_catch_a_rewritten_chain() {
    let db = TestDb::migrated();
    seed::unit(db.url(), "ICU");
    seed::user(db.url(), "nurse", "clinician", &["ICU"]);
    seed::patient(db.url(), "p1", "Anchorpatient", "MRN-A1", Some("ICU"));
    let app = App::spawn_with(db.url(), &[("VIGIL_AUDIT__ANCHOR_CRON", "* * * * * *")]);
    let nurse = bearer(&seed::token(&app, "nurse"));
    for _ in 0..3 {
        assert_eq!(app.get_with("/fhir/Patient/p1", &[("authorization", &nurse)]).status, 200);
    }
    let folder = app.dir.path().join("anchors");
    poll("an anchor of the chain with the reads in it", || {
        let files = anchors(&folder);
        let newest = files.last()?;
        let anchor: serde_json::Value = serde_json::from_slice(&std::fs::read(newest).ok()?).ok()?;
        (anchor["position"].as_i64()? >= 5).then_some(())
    });
    let kept = app.stop();
    let saved = kept.path().join("vigil.toml");
    let (status, out) = verify(&db, &saved);
    assert_eq!(status, Some(0), "{out}");
    assert!(out.contains("anchors checked") && out.contains("intact"), "{out}");

    // A database superuser removes a row and rewrites the chain from there on, so that it
    // verifies by itself: the anchors written before say otherwise.
    let mut conn = db.connect();
    conn.batch_execute(
        "SET session_replication_role = replica; \
         DELETE FROM audit_seals WHERE position >= 2; \
         DELETE FROM audit_log WHERE seq = (SELECT min(seq) FROM audit_log WHERE action = 'read'); \
         SET session_replication_role = DEFAULT",
    )
    .expect("tamper as a superuser");
    let (status, out) = verify(&db, &saved);
    assert_eq!(status, Some(1), "{out}");
    assert!(out.contains("does not hold") && (out.contains("rewritten") || out.contains("cut short")), "{out}");

    // An anchor edited to match the rewritten chain no longer carries a valid signature.
    let anchored = anchors(&folder);
    let file = anchored.last().expect("an anchor");
    let mut anchor: serde_json::Value = serde_json::from_slice(&std::fs::read(file).expect("read")).expect("json");
    anchor["hash"] = json!("00".repeat(32));
    let mut permissions = std::fs::metadata(file).expect("metadata").permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(false);
    std::fs::set_permissions(file, permissions).expect("make writable");
    std::fs::write(file, anchor.to_string()).expect("edit");
    let (_, out) = verify(&db, &saved);
    assert!(out.contains("signature does not verify"), "{out}");
}

fn count_of(detail: &str) -> u64 {
    detail.split(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0)
}

#[test]
fn rejected_tokens_and_csrf_failures_are_audited_per_address_and_window() {
    let db = TestDb::migrated();
    seed::user(db.url(), "feed", "integration", &[]);
    let app = App::spawn_with(db.url(), &[("VIGIL_AUDIT__SECURITY_EVENT_WINDOW_SECS", "1")]);
    for i in 0..5 {
        let forged = format!("Bearer not-a-token-{i}");
        assert_eq!(app.get_with("/fhir/Patient?_count=1", &[("authorization", &forged)]).status, 401);
    }
    let page = app.get("/sign-in");
    let csrf_cookie = page.cookie_pair("__Host-vigil-csrf").expect("csrf cookie");
    let token = seed::form_token(&page.body);
    let signed_in = app.post_form(
        "/sign-in",
        &[("cookie", &csrf_cookie)],
        &[("username", "feed"), ("password", PASSWORD), ("csrf_token", &token)],
    );
    let session = signed_in.cookie_pair("__Host-vigil-session").expect("session");
    let forged_write = app.request(
        "PUT",
        "/fhir/Patient/x1",
        &[("cookie", &session)],
        Some(json!({ "resourceType": "Patient", "id": "x1" }).to_string()),
    );
    assert_eq!(forged_write.status, 403);

    let rows = |action: &str| -> Vec<(Option<String>, Option<String>)> {
        let mut conn = db.connect();
        audit_log::table
            .filter(audit_log::action.eq(action))
            .select((audit_log::source_address, audit_log::detail))
            .load(&mut conn)
            .expect("audit")
    };
    let tokens = poll("the rejected tokens' audit rows", || {
        let rows = rows("token-rejected");
        (rows.iter().map(|(_, d)| count_of(d.as_deref().unwrap_or(""))).sum::<u64>() == 5).then_some(rows)
    });
    assert!(tokens.len() <= 2, "five rejections, counted into their windows: {tokens:?}");
    assert!(tokens.iter().all(|(address, _)| address.as_deref() == Some("127.0.0.1")));
    let csrf = poll("the CSRF failure's audit row", || Some(rows("csrf-rejected")).filter(|r| !r.is_empty()));
    assert_eq!(count_of(csrf[0].1.as_deref().unwrap_or("")), 1, "{csrf:?}");
}

#[test]
fn sign_ins_name_the_account_tried_break_glass_keeps_its_reason_in_the_chain_and_exports_are_safe() {
    let db = TestDb::migrated();
    seed::unit(db.url(), "ICU");
    seed::unit(db.url(), "WARD-4");
    seed::user(db.url(), "nurse", "clinician", &["ICU"]);
    seed::patient(db.url(), "p-ward", "Wardpatient", "MRN-W1", Some("WARD-4"));
    let app = App::spawn(db.url());
    let attempt =
        |name: &str| app.post_json("/auth/login", &[], &json!({ "username": name, "password": "wrong wrong wrong" }));
    assert_eq!(attempt("nurse").status, 401);
    assert_eq!(attempt("=HYPERLINK(\"http://evil.example\")").status, 401);
    let nurse = bearer(&seed::token(&app, "nurse"));
    let reason = "covering the ward overnight, rapid response call";
    let granted =
        app.post_json("/api/patients/p-ward/break-glass", &[("authorization", &nurse)], &json!({ "reason": reason }));
    assert_eq!(granted.status, 201, "{}", granted.body);

    let mut conn = db.connect();
    let tried: Vec<(Option<String>, String)> = audit_log::table
        .filter(audit_log::action.eq("sign-in"))
        .order(audit_log::seq)
        .select((audit_log::resource_id, audit_log::outcome))
        .load(&mut conn)
        .expect("sign-ins");
    assert_eq!(tried[0], (Some("nurse".to_owned()), "failure".to_owned()));
    assert_eq!(tried[1].0.as_deref(), Some("=HYPERLINK(\\\"http://evil.example\\\")"), "escaped, as tried");
    let noted: Vec<Option<String>> = audit_log::table
        .filter(audit_log::action.eq("break-glass"))
        .select(audit_log::detail)
        .load(&mut conn)
        .expect("break-glass");
    assert_eq!(noted, [Some(format!("reason: {reason}"))]);
    // Inside the chain: editing the reason breaks it.
    let (status, out, _) = run(vigil().args(["audit", "verify"]).env("DATABASE_URL", db.url()));
    assert!(status.success(), "{out}");
    conn.batch_execute(
        "SET session_replication_role = replica; \
         UPDATE audit_log SET detail = 'reason: routine' WHERE action = 'break-glass'; \
         SET session_replication_role = DEFAULT",
    )
    .expect("tamper");
    let (status, out, _) = run(vigil().args(["audit", "verify"]).env("DATABASE_URL", db.url()));
    assert_eq!(status.code(), Some(1), "{out}");

    let csv = export_all(&db);
    assert!(csv.contains("'=HYPERLINK"), "{csv}");
    assert!(!csv.lines().any(|line| line.split(',').any(|cell| cell.starts_with('='))), "{csv}");
}

#[test]
fn the_audit_chain_is_verified_and_names_an_altered_row() {
    let db = TestDb::migrated();
    ward(&db);
    let app = App::spawn(db.url());
    let nurse = bearer(&seed::token(&app, "nurse"));
    for path in ["/api/patients/p-icu", "/api/patients/p-ward", "/fhir/Patient/p-icu"] {
        app.get_with(path, &[("authorization", &nurse)]);
    }
    let verify = || run(vigil().args(["audit", "verify"]).env("DATABASE_URL", db.url()));
    let (status, out, _) = verify();
    assert!(status.success(), "{out}");
    assert!(out.contains("intact"), "{out}");
    let head = out.lines().find_map(|l| l.strip_prefix("head ")).expect("the head is printed").to_owned();
    let anchored = run(vigil().args(["audit", "verify", "--anchor", &head]).env("DATABASE_URL", db.url()));
    assert!(anchored.0.success(), "{}", anchored.1);
    let (seq, _) = head.split_once(':').expect("seq:hash");
    let forged = format!("{seq}:{}", "0".repeat(64));
    let rewritten = run(vigil().args(["audit", "verify", "--anchor", &forged]).env("DATABASE_URL", db.url()));
    assert_eq!(rewritten.0.code(), Some(1), "a head that is no longer in the chain is reported: {}", rewritten.1);

    let mut conn = db.connect();
    let denied = conn.batch_execute("UPDATE audit_log SET outcome = 'success' WHERE outcome = 'denied'");
    assert!(denied.expect_err("the application cannot edit the trail").to_string().contains("permission denied"));
    #[derive(QueryableByName)]
    struct Seq {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        seq: i64,
    }
    let target = diesel::sql_query("SELECT seq FROM audit_log WHERE outcome = 'denied' ORDER BY seq LIMIT 1")
        .get_result::<Seq>(&mut conn)
        .expect("a denied row")
        .seq;
    conn.batch_execute(&format!(
        "SET session_replication_role = replica; UPDATE audit_log SET outcome = 'success' WHERE seq = {target}; \
         SET session_replication_role = DEFAULT"
    ))
    .expect("a superuser edits a row");
    let (status, out, _) = verify();
    assert_eq!(status.code(), Some(1));
    assert!(out.contains(&format!("broken at row {target}")), "{out}");

    let csv = export_all(&db);
    assert!(csv.starts_with("seq,time_utc,actor,role,action"));
    assert!(csv.lines().count() > 5);
}
