//! Throttling that protects instead of locking people out: the client address comes from
//! `X-Forwarded-For` only through trusted proxies, so one client behind the proxy does not slow
//! everyone; failures bring a back-off, never a lock; each principal has an API rate limit answered
//! with 429 and `Retry-After`.

use diesel::prelude::*;
use serde_json::json;
use vigil_store::schema::audit_log;
use vigil_store::testing::TestDb;

use crate::support::seed::{self, PASSWORD, bearer};
use crate::support::{App, Response};

fn sign_in(app: &App, forwarded_for: Option<&str>, username: &str, password: &str) -> Response {
    let headers: Vec<(&str, &str)> = forwarded_for.map(|a| ("x-forwarded-for", a)).into_iter().collect();
    app.post_json("/auth/login", &headers, &json!({ "username": username, "password": password }))
}

fn sign_in_addresses(db: &TestDb) -> Vec<Option<String>> {
    let mut conn = db.connect();
    audit_log::table
        .filter(audit_log::action.eq("sign-in"))
        .order(audit_log::seq)
        .select(audit_log::source_address)
        .load(&mut conn)
        .expect("audit")
}

#[test]
fn behind_a_trusted_proxy_each_client_is_throttled_on_its_own() {
    let db = TestDb::migrated();
    seed::user(db.url(), "nurse", "clinician", &[]);
    let app = App::spawn_with(db.url(), &[("VIGIL_SERVER__TRUSTED_PROXIES", "[\"127.0.0.1\"]")]);
    let guesses: Vec<u16> =
        (0..6).map(|_| sign_in(&app, Some("203.0.113.66"), "nurse", "not the password at all").status).collect();
    assert_eq!(guesses, [401, 401, 401, 401, 401, 429], "the guessing client waits");
    // The account's owner, behind the same proxy, is not slowed, and no lock was set.
    assert_eq!(sign_in(&app, Some("198.51.100.7"), "nurse", PASSWORD).status, 200);
    let addresses = sign_in_addresses(&db);
    assert_eq!(addresses.first().cloned().flatten().as_deref(), Some("203.0.113.66"));
    assert_eq!(addresses.last().cloned().flatten().as_deref(), Some("198.51.100.7"));
    // A spoofed hop left of what the proxy appended is not believed.
    sign_in(&app, Some("1.2.3.4, 198.51.100.8"), "nurse", PASSWORD);
    assert_eq!(sign_in_addresses(&db).last().cloned().flatten().as_deref(), Some("198.51.100.8"));
}

#[test]
fn without_trusted_proxies_forwarded_for_is_ignored() {
    let db = TestDb::migrated();
    seed::user(db.url(), "nurse", "clinician", &[]);
    let app = App::spawn(db.url());
    let statuses: Vec<u16> = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]
        .iter()
        .map(|a| sign_in(&app, Some(a), "nurse", "not the password at all").status)
        .collect();
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429], "changing the header does not dodge the back-off");
    assert!(sign_in_addresses(&db).iter().all(|a| a.as_deref() == Some("127.0.0.1")));
}

#[test]
fn each_principal_has_a_rate_limit_answered_with_retry_after() {
    let db = TestDb::migrated();
    seed::user(db.url(), "analyst", "informatics", &[]);
    seed::user(db.url(), "other", "informatics", &[]);
    let app =
        App::spawn_with(db.url(), &[("VIGIL_SERVER__API_REQUESTS_PER_MINUTE", "1"), ("VIGIL_SERVER__API_BURST", "3")]);
    let analyst = bearer(&seed::token(&app, "analyst"));
    let statuses: Vec<u16> =
        (0..4).map(|_| app.get_with("/fhir/Patient?_count=1", &[("authorization", &analyst)]).status).collect();
    assert_eq!(statuses, [200, 200, 200, 429]);
    let limited = app.get_with("/fhir/Patient?_count=1", &[("authorization", &analyst)]);
    assert_eq!(limited.status, 429);
    let wait: u64 = limited.header("retry-after").expect("Retry-After").parse().expect("seconds");
    assert!((1..=61).contains(&wait), "{wait}");
    assert_eq!(limited.json()["issue"][0]["code"], "throttled");
    let other = bearer(&seed::token(&app, "other"));
    assert_eq!(app.get_with("/fhir/Patient?_count=1", &[("authorization", &other)]).status, 200);
}
