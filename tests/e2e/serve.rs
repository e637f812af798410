//! `vigil serve`: health, readiness, request ids, recovery from a database outage, shutdown.

use vigil_store::testing::{TestDb, admin_url, with_database};

use crate::support::proxy::Proxy;
use crate::support::{App, poll, server_address};

#[test]
fn a_fresh_database_is_migrated_and_the_server_becomes_ready() {
    let db = TestDb::empty();
    let app = App::spawn(db.url());

    let health = app.get("/healthz");
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "alive");

    let ready = poll("readiness", || Some(app.get("/readyz")).filter(|r| r.status == 200));
    assert_eq!(ready.json()["status"], "ready");
    assert_eq!(ready.json()["checks"]["migrations"], "current");

    let mut conn = db.connect();
    assert!(vigil_store::migrate::pending(&mut conn).expect("pending").is_empty(), "serve applied the migrations");
}

#[test]
fn every_response_carries_a_request_id() {
    let db = TestDb::migrated();
    let app = App::spawn(db.url());

    let generated = app.get("/healthz");
    let id = generated.header("x-request-id").expect("a generated request id");
    assert!(uuid_like(id), "generated ids are UUIDs: {id}");
    let other = app.get("/healthz");
    assert_ne!(other.header("x-request-id"), Some(id), "each request gets its own id");

    let echoed = app.get_with("/readyz", &[("X-Request-Id", "ehr-trace-42")]);
    assert_eq!(echoed.header("x-request-id"), Some("ehr-trace-42"), "a caller's id is kept");

    let not_found = app.get("/api/no/such/route");
    assert_eq!(not_found.status, 404);
    assert_eq!(not_found.json()["error"]["code"], "not_found");
    assert!(not_found.header("x-request-id").is_some(), "errors carry the id too");
    assert_eq!(app.get("/fhir/NoSuchType/1").json()["resourceType"], "OperationOutcome");
    let page = app.get("/no/such/page");
    assert_eq!(page.status, 404);
    assert!(page.header("content-type").is_some_and(|t| t.starts_with("text/html")));

    let logs = poll("the request to be logged", || Some(app.logs()).filter(|l| l.contains("ehr-trace-42")));
    let line = logs.lines().find(|l| l.contains("ehr-trace-42")).expect("log line");
    let event: serde_json::Value = serde_json::from_str(line).expect("JSON log line");
    assert_eq!(event["span"]["route"], "/readyz");
    assert_eq!(event["span"]["request_id"], "ehr-trace-42");
}

#[test]
fn readiness_follows_the_database_and_recovers_without_a_restart() {
    let db = TestDb::migrated();
    let mut proxy = Proxy::closed(server_address(&admin_url()));
    let through_proxy = with_database(&format!("postgres://postgres@127.0.0.1:{}/x", proxy.port()), db.name());
    let through_proxy = with_user_of(&admin_url(), &through_proxy);
    let app = App::spawn(&through_proxy);

    // Down at start: the server runs, is alive, and is not ready, saying why.
    assert_eq!(app.get("/healthz").status, 200);
    let down = app.get("/readyz");
    assert_eq!(down.status, 503);
    assert_eq!(down.json()["reason"], "database unreachable");
    assert_eq!(down.json()["checks"]["database"], "unreachable");

    // The database comes back: ready, without a restart.
    proxy.open();
    poll("readiness after the database came back", || Some(app.get("/readyz")).filter(|r| r.status == 200));

    // It goes away while the server runs, and comes back again.
    proxy.close();
    let gone =
        poll("unreadiness after the database went away", || Some(app.get("/readyz")).filter(|r| r.status == 503));
    assert_eq!(gone.json()["reason"], "database unreachable");
    assert_eq!(app.get("/healthz").status, 200, "a database outage never makes the process unhealthy");
    proxy.open();
    poll("readiness after the second outage", || Some(app.get("/readyz")).filter(|r| r.status == 200));
    // Requests, whose checkouts are tested only after a loss, get live connections too: a wrong
    // password is answered (401) by the database's throttle, not refused for a dead connection.
    for i in 0..12 {
        let login = serde_json::json!({ "username": format!("nobody-{i}"), "password": "not the password" });
        assert_eq!(app.post_json("/auth/login", &[], &login).status, 401);
    }
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let db = TestDb::migrated();
    let mut app = App::spawn(db.url());
    assert_eq!(app.get("/healthz").status, 200);
    let killed = std::process::Command::new("kill").args(["-TERM", &app.pid().to_string()]).status().expect("kill");
    assert!(killed.success());
    let status = app.wait_for_exit();
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
    assert!(app.logs().contains("graceful shutdown"), "logs: {}", app.logs());
}

fn uuid_like(id: &str) -> bool {
    id.len() == 36 && id.chars().filter(|c| *c == '-').count() == 4
}

/// `target` with the user (and password) of `source`.
fn with_user_of(source: &str, target: &str) -> String {
    let source = url::Url::parse(source).expect("url");
    let mut target = url::Url::parse(target).expect("url");
    target.set_username(source.username()).expect("username");
    target.set_password(source.password()).expect("password");
    target.to_string()
}

#[test]
fn the_probe_a_container_health_check_runs_says_whether_the_server_answers() {
    let db = TestDb::migrated();
    let app = App::spawn(db.url());
    let probe = |url: &str| crate::support::run(crate::support::vigil().args(["probe", url])).0.success();
    assert!(probe(&format!("{}/healthz", app.base)));
    poll("the server to be ready", || probe(&format!("{}/readyz", app.base)).then_some(()));
    assert!(!probe(&format!("{}/nowhere", app.base)), "a 404 is not healthy");
    assert!(!probe(&format!("http://127.0.0.1:{}/healthz", crate::support::free_port())), "nobody listening");
}

#[test]
fn a_request_in_flight_when_sigterm_arrives_is_answered_before_the_server_exits() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let db = TestDb::migrated();
    crate::support::seed::user(db.url(), "nurse", "clinician", &[]);
    let mut app = App::spawn(db.url());
    // A sign-in records its attempt, then verifies the password with argon2 (long, in a test
    // build): the request is in flight from the moment its attempt is in the database.
    let attempts = || {
        use diesel::prelude::*;
        vigil_store::schema::sign_in_failures::table.count().get_result::<i64>(&mut db.connect()).expect("count")
    };
    let before = attempts();
    let answered = Arc::new(AtomicBool::new(false));
    let response = std::thread::scope(|scope| {
        let (done, app) = (answered.clone(), &app);
        let signing_in = scope.spawn(move || {
            let login = serde_json::json!({ "username": "nurse", "password": crate::support::seed::PASSWORD });
            let response = app.post_json("/auth/login", &[], &login);
            done.store(true, Ordering::SeqCst);
            response
        });
        poll("the sign-in to be in flight", || (attempts() > before).then_some(()));
        assert!(!answered.load(Ordering::SeqCst), "the sign-in was answered before SIGTERM could reach it in flight");
        let pid = app.pid().to_string();
        assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
        signing_in.join().expect("the sign-in")
    });
    assert_eq!(response.status, 200, "{}", response.body);
    assert!(response.json()["access_token"].is_string());
    assert!(app.wait_for_exit().success());
}
