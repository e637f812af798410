//! My settings, for anyone signed in: which alerts reach me by email and when (the page each alert
//! email links to), and my password, in the portal and the API.

use serde_json::json;
use vigil_store::testing::TestDb;

use crate::access::ward;
use crate::administration::sign_in_status;
use crate::alerts::{score, ward_with_a_nurse};
use crate::scoring::{count, population, with_active_models};
use crate::support::App;
use crate::support::seed::{self, bearer, form_token, portal_session};

#[test]
fn a_nurse_chooses_which_alerts_reach_her_by_email_on_the_page_the_emails_link_to() {
    let db = TestDb::migrated();
    seed::unit(db.url(), "ICU");
    seed::user(db.url(), "nurse", "clinician", &["ICU"]);
    let app = App::spawn(db.url());
    let session = portal_session(&app, "nurse");
    let cookie = [("cookie", session.as_str())];

    let page = app.get_with("/settings/notifications", &cookie);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("name=\"tier_warning\" checked") && page.body.contains("name=\"tier_critical\" checked")
    );
    assert!(!page.body.contains("name=\"tier_info\" checked"), "by default: warning and critical");
    let token = form_token(&page.body);

    let forged = app.post_form("/settings/notifications", &cookie, &[("tier_info", "on")]);
    assert_eq!(forged.status, 403);
    let saved = app.post_form(
        "/settings/notifications",
        &cookie,
        &[
            ("csrf_token", token.as_str()),
            ("tier_critical", "on"),
            ("delivery", "digest"),
            ("quiet_start", "22:00"),
            ("quiet_end", "07:00"),
            ("time_zone", "Europe/Paris"),
        ],
    );
    assert_eq!((saved.status, saved.header("location")), (303, Some("/settings/notifications?saved=1")));
    let stored = count(
        &db,
        "SELECT count(*) AS n FROM notification_preferences WHERE email_tiers = '{critical}' AND delivery = 'digest'
            AND quiet_start = '22:00' AND quiet_end = '07:00' AND time_zone = 'Europe/Paris'",
    );
    assert_eq!(stored, 1);
    let shown = app.get_with("/settings/notifications?saved=1", &cookie);
    assert!(shown.body.contains("Saved.") && shown.body.contains("value=\"Europe/Paris\""));

    // A zone Postgres does not know is named; what was asked stays in the form; nothing changes.
    let refused = app.post_form(
        "/settings/notifications",
        &cookie,
        &[("csrf_token", token.as_str()), ("tier_info", "on"), ("time_zone", "Mars/Olympus")],
    );
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("Mars/Olympus") && refused.body.contains("role=\"alert\""));
    assert!(refused.body.contains("name=\"tier_info\" checked"));
    assert_eq!(count(&db, "SELECT count(*) AS n FROM notification_preferences WHERE time_zone = 'Europe/Paris'"), 1);
    let audited = count(
        &db,
        "SELECT count(*) AS n FROM audit_log WHERE resource_type = 'NotificationPreferences' AND action = 'write'",
    );
    assert!(audited >= 1);
}

#[test]
fn a_person_changes_their_own_password_and_stays_signed_in_where_they_did() {
    let db = TestDb::migrated();
    ward(&db);
    let app = App::spawn(db.url());
    let session = portal_session(&app, "nurse");
    let other = portal_session(&app, "nurse");
    let cookie = [("cookie", session.as_str())];
    let page = app.get_with("/settings/password", &cookie);
    assert_eq!(page.status, 200);
    let token = form_token(&page.body);
    let post = |current: &str, new: &str, again: &str| {
        app.post_form(
            "/settings/password",
            &cookie,
            &[("csrf_token", token.as_str()), ("current", current), ("new", new), ("again", again)],
        )
    };
    let wrong = post("not my password", "a brand new passphrase", "a brand new passphrase");
    assert_eq!(wrong.status, 422);
    assert!(wrong.body.contains("current password is not right"));
    assert_eq!(post(seed::PASSWORD, "a brand new passphrase", "a different one!!").status, 422);
    let changed = post(seed::PASSWORD, "a brand new passphrase", "a brand new passphrase");
    assert_eq!(changed.header("location"), Some("/settings/password?saved=1"));
    let renewed = changed.cookie_pair("__Host-vigil-session").expect("a new session for this browser");
    assert_eq!(app.get_with("/settings/password?saved=1", &[("cookie", renewed.as_str())]).status, 200);
    assert_ne!(app.get_with("/worklist", &[("cookie", other.as_str())]).status, 200, "other sessions ended");
    assert_eq!(sign_in_status(&app, "nurse", seed::PASSWORD), 401);
    assert_eq!(sign_in_status(&app, "nurse", "a brand new passphrase"), 200);

    // The API does the same with the current password.
    let login =
        app.post_json("/auth/login", &[], &json!({ "username": "nurse", "password": "a brand new passphrase" }));
    let api = bearer(login.json()["access_token"].as_str().expect("token"));
    let refused =
        app.post_json("/api/me/password", &[("authorization", &api)], &json!({ "current": "nope", "new": "x" }));
    assert_eq!(refused.status, 422);
    let done = app.post_json(
        "/api/me/password",
        &[("authorization", &api)],
        &json!({ "current": "a brand new passphrase", "new": "yet another passphrase" }),
    );
    assert_eq!(done.status, 204, "{}", done.body);
    assert_eq!(sign_in_status(&app, "nurse", "yet another passphrase"), 200);
}

#[test]
fn preferences_choose_the_tiers_a_person_is_emailed() {
    let db = population(400);
    with_active_models(&db);
    ward_with_a_nurse(&db);
    let app = crate::support::App::spawn(db.url());
    let nurse = seed::bearer(&seed::token(&app, "nurse"));
    let put = |body: serde_json::Value| {
        app.request(
            "PUT",
            "/api/me/notifications",
            &[("authorization", nurse.as_str()), ("content-type", "application/json")],
            Some(body.to_string()),
        )
    };
    let mine = app.get_with("/api/me/notifications", &[("authorization", nurse.as_str())]);
    assert_eq!(mine.json()["email_tiers"], serde_json::json!(["warning", "critical"]));
    let refused = put(serde_json::json!({ "email_tiers": ["critical"], "delivery": "immediate",
        "quiet_start": null, "quiet_end": null, "time_zone": "Mars/Olympus" }));
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("Mars/Olympus"));
    let stored = put(serde_json::json!({ "email_tiers": ["critical"], "delivery": "immediate",
        "quiet_start": "22:00:00", "quiet_end": "07:00:00", "time_zone": "Europe/Paris" }));
    assert_eq!(stored.status, 200, "{}", stored.body);
    assert_eq!(stored.json()["email_tiers"], serde_json::json!(["critical"]));

    // Quiet hours around now: a warning waits for their end; a critical notice does not.
    let now = chrono::Utc::now();
    let quiet = put(serde_json::json!({ "email_tiers": ["warning", "critical"], "delivery": "immediate",
        "quiet_start": (now - chrono::Duration::hours(1)).format("%H:%M:%S").to_string(),
        "quiet_end": (now + chrono::Duration::hours(1)).format("%H:%M:%S").to_string(), "time_zone": "UTC" }));
    assert_eq!(quiet.status, 200, "{}", quiet.body);
    let wait = |tier: &str| {
        count(
            &db,
            &format!(
                "SELECT extract(epoch FROM notice_due(u.id, '{tier}', interval '0 seconds', interval '1 hour') - now())::bigint AS n
                   FROM users u WHERE u.username = 'nurse'"
            ),
        )
    };
    assert!((3500..=3700).contains(&wait("warning")), "{}", wait("warning"));
    assert_eq!(wait("critical"), 0);
    put(serde_json::json!({ "email_tiers": ["critical"], "delivery": "immediate",
        "quiet_start": null, "quiet_end": null, "time_zone": "UTC" }));

    // Only warning alerts open (no critical tier): the nurse, who asked for critical only, hears nothing.
    score(&db);
    assert!(count(&db, "SELECT count(*) AS n FROM alerts") > 0);
    assert_eq!(count(&db, "SELECT count(*) AS n FROM outbox"), 0);
}
