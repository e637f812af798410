//! Identity, access and audit, black-box: portal sessions and CSRF, unit-scoped access with
//! break-glass, throttling, no data without its audit row, and no patient data in the logs.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde_json::json;
use vigil_store::testing::TestDb;

use crate::support::seed::{self, PASSWORD, bearer, form_token};
use crate::support::{App, poll};

/// Units ICU and WARD-4, clinician `nurse` on ICU, patient `p-icu` on ICU and `p-ward` on WARD-4.
pub fn ward(db: &TestDb) {
    seed::unit(db.url(), "ICU");
    seed::unit(db.url(), "WARD-4");
    seed::user(db.url(), "nurse", "clinician", &["ICU"]);
    seed::user(db.url(), "chief", "admin", &[]);
    seed::patient(db.url(), "p-icu", "Icupatient", "MRN-1", Some("ICU"));
    seed::patient(db.url(), "p-ward", "Wardpatient", "MRN-2", Some("WARD-4"));
}

fn audit_rows(db: &TestDb, filter: &str) -> Vec<(String, String, bool)> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        actor: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        outcome: String,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        break_glass: bool,
    }
    let mut conn = db.connect();
    diesel::sql_query(format!("SELECT actor, outcome, break_glass FROM audit_log WHERE {filter} ORDER BY seq"))
        .load::<Row>(&mut conn)
        .expect("audit rows")
        .into_iter()
        .map(|r| (r.actor, r.outcome, r.break_glass))
        .collect()
}

#[test]
fn clinicians_see_their_units_and_others_only_through_break_glass() {
    let db = TestDb::migrated();
    ward(&db);
    let app = App::spawn(db.url());
    let nurse = bearer(&seed::token(&app, "nurse"));

    let own = app.get_with("/api/patients/p-icu", &[("authorization", &nurse)]);
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(own.json()["units"], json!(["ICU"]));
    let fhir = app.get_with("/fhir/Patient/p-icu", &[("authorization", &nurse)]);
    assert_eq!(fhir.status, 200);
    assert_eq!(fhir.json()["resourceType"], "Patient");
    assert_eq!(fhir.json()["name"][0]["family"], "Icupatient");
    assert_eq!(fhir.header("etag"), Some("W/\"1\""));

    let other = app.get_with("/api/patients/p-ward", &[("authorization", &nurse)]);
    assert_eq!(other.status, 403);
    assert_eq!(other.json()["error"]["code"], "forbidden");
    let other_fhir = app.get_with("/fhir/Patient/p-ward", &[("authorization", &nurse)]);
    assert_eq!(other_fhir.status, 403);
    assert_eq!(other_fhir.json()["resourceType"], "OperationOutcome");
    assert_eq!(other_fhir.json()["issue"][0]["code"], "forbidden");
    assert_eq!(app.get_with("/api/patients/nobody", &[("authorization", &nurse)]).status, 404);
    assert_eq!(
        app.get_with("/fhir/Patient/a%00b", &[("authorization", &nurse)]).status,
        404,
        "not an id: a client error"
    );

    // Break-glass needs a reason, then opens the record, flagged in the audit.
    let no_reason =
        app.post_json("/api/patients/p-ward/break-glass", &[("authorization", &nurse)], &json!({ "reason": "x" }));
    assert_eq!(no_reason.status, 422);
    let granted = app.post_json(
        "/api/patients/p-ward/break-glass",
        &[("authorization", &nurse)],
        &json!({ "reason": "covering the ward overnight, rapid response call" }),
    );
    assert_eq!(granted.status, 201, "{}", granted.body);
    assert_eq!(app.get_with("/api/patients/p-ward", &[("authorization", &nurse)]).status, 200);
    let flagged = audit_rows(&db, "action = 'read' AND resource_id = 'p-ward'");
    assert_eq!(
        flagged,
        vec![
            ("user:nurse".to_string(), "denied".to_string(), false),
            ("user:nurse".to_string(), "denied".to_string(), false),
            ("user:nurse".to_string(), "success".to_string(), true),
        ]
    );

    // Admins review grants, but do not read records; clinicians cannot review.
    let admin = bearer(&seed::token(&app, "chief"));
    assert_eq!(app.get_with("/api/patients/p-icu", &[("authorization", &admin)]).status, 403);
    assert_eq!(app.get_with("/api/patients/nobody", &[("authorization", &admin)]).status, 403, "no existence oracle");
    assert_eq!(app.get_with("/api/admin/break-glass", &[("authorization", &nurse)]).status, 403);
    let list = app.get_with("/api/admin/break-glass", &[("authorization", &admin)]);
    assert_eq!(list.status, 200);
    let grants = list.json()["grants"].as_array().expect("grants").clone();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0]["user"], "nurse");
    assert_eq!(grants[0]["patient"], "p-ward");
    let grant = grants[0]["grant"].as_i64().expect("grant id");
    let reviewed = app.post_json(
        &format!("/api/admin/break-glass/{grant}/review"),
        &[("authorization", &admin)],
        &json!({ "note": "ok" }),
    );
    assert_eq!(reviewed.status, 204);
    assert_eq!(app.get_with("/api/admin/break-glass", &[("authorization", &admin)]).json()["grants"], json!([]));

    // An explicit assignment adds a unit to the one from encounters.
    seed::patient(db.url(), "p-none", "Nounitpatient", "MRN-3", None);
    assert_eq!(app.get_with("/api/patients/p-none", &[("authorization", &nurse)]).status, 403);
    seed::cli(db.url(), &["unit", "assign", "ICU", "--patient", "p-none"], "");
    assert_eq!(app.get_with("/api/patients/p-none", &[("authorization", &nurse)]).json()["units"], json!(["ICU"]));

    // No token at all.
    let anonymous = app.get("/fhir/Patient/p-icu");
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.json()["issue"][0]["code"], "login");
    assert_eq!(anonymous.header("www-authenticate"), Some("Bearer"));
}

/// The server's current signing key, as `vigil init` wrote it.
/// Signs in through the portal form; returns the session cookie pair.
fn portal_sign_in(app: &App, username: &str) -> String {
    let signed_in = seed::portal_sign_in(app, username);
    let set = signed_in.set_cookie("__Host-vigil-session").expect("session cookie");
    for attribute in ["Path=/", "Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(set.contains(attribute), "{attribute} missing from {set}");
    }
    assert!(!set.contains("Domain="), "a __Host- cookie has no Domain: {set}");
    signed_in.cookie_pair("__Host-vigil-session").expect("session")
}

#[test]
fn portal_sessions_need_csrf_tokens_and_end_on_sign_out() {
    let db = TestDb::migrated();
    ward(&db);
    let app = App::spawn(db.url());

    // Signing in without the form's own CSRF cookie is refused.
    let page = app.get("/sign-in");
    let forged = app.post_form(
        "/sign-in",
        &[],
        &[("username", "nurse"), ("password", PASSWORD), ("csrf_token", &form_token(&page.body))],
    );
    assert_eq!(forged.status, 403);

    let session = portal_sign_in(&app, "nurse");
    let start = app.get_with("/", &[("cookie", &session)]);
    assert_eq!((start.status, start.header("location")), (303, Some("/worklist")), "clinicians start at work");
    let home = app.get_with("/worklist", &[("cookie", &session)]);
    assert_eq!(home.status, 200);
    assert!(home.body.contains("nurse · clinician"), "{}", home.body);
    assert!(home.body.contains("<option value=\"ICU\">ICU</option>"), "the nurse's unit to filter by");

    // Cross-site posts carry the cookie but not the token.
    let cross_site = app.post_form("/sign-out", &[("cookie", &session)], &[]);
    assert_eq!(cross_site.status, 403);
    let wrong_token = app.post_form("/sign-out", &[("cookie", &session)], &[("csrf_token", "guess")]);
    assert_eq!(wrong_token.status, 403);
    let cookie_json = app.post_json(
        "/api/patients/p-ward/break-glass",
        &[("cookie", &session)],
        &json!({ "reason": "a reason long enough" }),
    );
    assert_eq!(cookie_json.status, 403, "cookie-authenticated API writes need the CSRF header");
    assert_eq!(app.get_with("/worklist", &[("cookie", &session)]).status, 200, "still signed in");

    let signed_out = app.post_form("/sign-out", &[("cookie", &session)], &[("csrf_token", &form_token(&home.body))]);
    assert_eq!(signed_out.status, 303);
    let after = app.get_with("/", &[("cookie", &session)]);
    assert_eq!((after.status, after.header("location")), (303, Some("/sign-in")), "signed out: to the sign-in page");
}

#[test]
fn idle_sessions_and_disabled_users_are_signed_out() {
    let db = TestDb::migrated();
    ward(&db);
    let app = App::spawn_with(db.url(), &[("VIGIL_AUTH__SESSION_IDLE_TIMEOUT_SECS", "5")]);
    let session = portal_sign_in(&app, "nurse");
    assert_eq!(app.get_with("/worklist", &[("cookie", &session)]).status, 200);
    // Age the session past the five-second idle limit instead of waiting for it.
    db.connect().batch_execute("UPDATE sessions SET last_seen_at = now() - interval '6 seconds'").expect("age");
    assert_eq!(app.get_with("/worklist", &[("cookie", &session)]).status, 401, "idle session ended");

    // A session in use still ends at its absolute limit.
    let session = portal_sign_in(&app, "nurse");
    db.connect()
        .batch_execute("UPDATE sessions SET expires_at = now() - interval '1 second' WHERE ended_at IS NULL")
        .expect("age");
    assert_eq!(app.get_with("/worklist", &[("cookie", &session)]).status, 401, "absolute limit reached");

    // A new password ends the sessions and the tokens issued before it.
    let session = portal_sign_in(&app, "nurse");
    let token = bearer(&seed::token(&app, "nurse"));
    assert_eq!(app.get_with("/api/patients/p-icu", &[("authorization", &token)]).status, 200);
    seed::cli(db.url(), &["user", "set-password", "nurse", "--password-stdin"], &format!("{PASSWORD}\n"));
    assert_eq!(app.get_with("/worklist", &[("cookie", &session)]).status, 401);
    refused_within_moments(&app, &token, "tokens issued before the change");

    let session = portal_sign_in(&app, "nurse");
    let token = bearer(&seed::token(&app, "nurse"));
    assert_eq!(app.get_with("/api/patients/p-icu", &[("authorization", &token)]).status, 200);
    assert_eq!(app.get_with("/worklist", &[("cookie", &session)]).status, 200);
    seed::cli(db.url(), &["user", "disable", "nurse"], "");
    assert_eq!(app.get_with("/worklist", &[("cookie", &session)]).status, 401, "disabling ends sessions at once");
    refused_within_moments(&app, &token, "and tokens");
    let again = app.post_json("/auth/login", &[], &json!({ "username": "nurse", "password": PASSWORD }));
    assert_eq!(again.status, 401);
}

/// A server remembers the users its tokens name until Postgres tells it of a change (a few
/// milliseconds after the change commits): the token is refused from then on.
fn refused_within_moments(app: &App, token: &str, what: &str) {
    let status = || app.get_with("/api/patients/p-icu", &[("authorization", token)]).status;
    poll(what, || (status() == 401).then_some(()));
    assert_eq!(status(), 401, "{what}: refused for good");
}

#[test]
fn sign_in_is_throttled_alike_for_known_and_unknown_accounts() {
    let db = TestDb::migrated();
    ward(&db);
    let app = App::spawn(db.url());
    let attempt = |username: &str, password: &str| {
        app.post_json("/auth/login", &[], &json!({ "username": username, "password": password }))
    };
    let known: Vec<u16> = (0..6).map(|_| attempt("nurse", "not the password at all").status).collect();
    let unknown: Vec<u16> = (0..6).map(|_| attempt("nobody-here", "not the password at all").status).collect();
    assert_eq!(known, vec![401, 401, 401, 401, 401, 429], "five free failures, then a wait");
    assert_eq!(unknown, known, "an unknown account looks the same");
    let wrong = attempt("chief", "not the password at all");
    assert_eq!(wrong.body, attempt("nobody-else", "not the password at all").body, "the same message");
    let throttled = attempt("nurse", PASSWORD);
    assert_eq!(throttled.status, 429, "even the right password waits");
    assert!(throttled.header("retry-after").is_some());

    // A name no account can have is a wrong credential, not a server error, and is not stored.
    assert_eq!(attempt(&"n".repeat(10_000), "whatever it is").status, 401);
    assert_eq!(attempt("nul\u{0}name", "whatever it is").status, 401);

    // Oversized bodies are refused before anything else, in the API's error shape.
    let huge = json!({ "username": "x".repeat(2 * 1024 * 1024), "password": "y" });
    let refused = app.post_json("/auth/login", &[], &huge);
    assert_eq!(refused.status, 413);
    assert_eq!(refused.json()["error"]["code"], "invalid_body");
}

#[test]
fn security_headers_are_on_every_response() {
    let db = TestDb::migrated();
    let app = App::spawn(db.url());
    for path in ["/healthz", "/sign-in", "/no/such/page", "/fhir/Patient/x"] {
        let response = app.get(path);
        let csp = response.header("content-security-policy").unwrap_or_default();
        assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"), "{path}: {csp}");
        assert!(response.header("strict-transport-security").is_some_and(|v| v.contains("max-age=")), "{path}");
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"), "{path}");
        assert_eq!(response.header("referrer-policy"), Some("no-referrer"), "{path}");
    }
}

#[test]
fn patient_names_and_record_numbers_never_reach_the_logs() {
    let db = TestDb::migrated();
    ward(&db);
    let (name, mrn) = ("Quillfeatherzz", "MRN-QZ-7740113");
    seed::patient(db.url(), "p-secret", name, mrn, Some("WARD-4"));
    let app = App::spawn_with(db.url(), &[("VIGIL_LOG__FILTER", "debug")]);
    let nurse = bearer(&seed::token(&app, "nurse"));
    let session = portal_sign_in(&app, "nurse");
    let mut seen = String::new();
    for path in ["/api/patients/p-secret", "/fhir/Patient/p-secret", "/api/patients/nobody", "/"] {
        seen.push_str(&app.get_with(path, &[("authorization", &nurse)]).body);
        app.get_with(path, &[("cookie", &session)]);
    }
    app.post_json(
        "/api/patients/p-secret/break-glass",
        &[("authorization", &nurse)],
        &json!({ "reason": "rapid response call on ward" }),
    );
    let opened = app.get_with("/fhir/Patient/p-secret", &[("authorization", &nurse)]);
    assert!(opened.body.contains(name), "the test really read the patient");
    app.get_with(&format!("/api/patients/{mrn}"), &[("authorization", &nurse)]);
    let logs = app.logs();
    assert!(logs.lines().count() > 10, "the server logged its requests");
    for needle in [name, mrn] {
        assert!(!logs.contains(needle), "{needle} appears in the server log");
    }
}

#[test]
fn without_an_audit_row_no_data_is_returned() {
    let db = TestDb::migrated();
    ward(&db);
    let app = App::spawn(db.url());
    let nurse = bearer(&seed::token(&app, "nurse"));
    db.connect()
        .batch_execute(
            "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit store full'; END $$;
             CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_audit();",
        )
        .expect("break the audit trail");
    let response = app.get_with("/api/patients/p-icu", &[("authorization", &nurse)]);
    assert_eq!(response.status, 500, "the database answered: the fault is the server's, not an outage");
    assert!(!response.body.contains("Icupatient"), "no patient data without its audit row: {}", response.body);
    assert!(!response.body.contains("audit store full"), "a 5xx says nothing internal");
    // The log says an audit row could not be written, under the error id the client was given,
    // and names no patient.
    let message = response.json()["error"]["message"].as_str().expect("message").to_owned();
    let id = message.split("error id ").nth(1).expect("an error id").trim_end_matches(')').to_owned();
    crate::support::poll("the log line", || {
        let logs = app.logs();
        logs.lines().any(|l| l.contains(&id) && l.contains("audit store full")).then_some(())
    });
    let logs = app.logs();
    assert!(logs.contains("could not write an audit row"), "{logs}");
    assert!(!logs.contains("p-icu") && !logs.contains("Icupatient"), "{logs}");
}

#[test]
fn admins_review_break_glass_access_in_the_portal() {
    let db = TestDb::migrated();
    ward(&db);
    let app = App::spawn(db.url());
    let nurse = bearer(&seed::token(&app, "nurse"));
    let reason = "called to a cardiac arrest on the ward";
    let granted =
        app.post_json("/api/patients/p-ward/break-glass", &[("authorization", &nurse)], &json!({ "reason": reason }));
    assert_eq!(granted.status, 201);

    let nurse_session = portal_sign_in(&app, "nurse");
    assert_eq!(app.get_with("/admin/break-glass", &[("cookie", &nurse_session)]).status, 403);

    let admin = portal_sign_in(&app, "chief");
    let home = app.get_with("/", &[("cookie", &admin)]);
    assert_eq!(home.header("location"), Some("/admin"), "an admin's home is administration");
    let administration = app.get_with("/admin", &[("cookie", &admin)]);
    assert!(administration.body.contains("href=\"/admin/break-glass\""), "admins find the review page from home");
    let page = app.get_with("/admin/break-glass", &[("cookie", &admin)]);
    assert_eq!(page.status, 200);
    assert!(page.body.contains(reason) && page.body.contains("p-ward"), "{}", page.body);
    let grant = granted.json()["grant"].as_i64().expect("grant");
    let action = format!("/admin/break-glass/{grant}/review");
    assert_eq!(app.post_form(&action, &[("cookie", &admin)], &[("note", "ok")]).status, 403, "no CSRF token");
    let reviewed = app.post_form(
        &action,
        &[("cookie", &admin)],
        &[("csrf_token", &form_token(&page.body)), ("note", "confirmed with the ward")],
    );
    assert_eq!(reviewed.status, 303);
    assert!(app.get_with("/admin/break-glass", &[("cookie", &admin)]).body.contains("Nothing to review"));
}
