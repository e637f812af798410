//! Multi-factor sign-in: required for admins and informatics users by default, enrolled in the
//! portal (QR code and key, confirmed by a code, recovery codes shown once), asked for at every
//! sign-in (portal and `POST /auth/login`), each code accepted once, throttled like passwords, and
//! reset by `vigil user reset-mfa` (audited).

use diesel::prelude::*;
use serde_json::{Value, json};
use vigil_store::schema::audit_log;
use vigil_store::testing::TestDb;

use crate::support::seed::{self, PASSWORD, form_token};
use crate::support::{App, Response, run, vigil};

const REQUIRED: (&str, &str) = ("VIGIL_AUTH__MFA_REQUIRED_ROLES", "[\"admin\", \"informatics\"]");

fn api_login(app: &App, code: Option<&str>) -> Response {
    let mut body = json!({ "username": "chief", "password": PASSWORD });
    if let Some(code) = code {
        body["code"] = json!(code);
    }
    app.post_json("/auth/login", &[], &body)
}

/// Signs in through the portal form; returns where it leads and the session cookie.
fn portal_sign_in(app: &App) -> (String, String) {
    let page = app.get("/sign-in");
    let csrf_cookie = page.cookie_pair("__Host-vigil-csrf").expect("csrf cookie");
    let response = app.post_form(
        "/sign-in",
        &[("cookie", &csrf_cookie)],
        &[("username", "chief"), ("password", PASSWORD), ("csrf_token", &form_token(&page.body))],
    );
    assert_eq!(response.status, 303, "{}", response.body);
    let location = response.header("location").expect("location").to_owned();
    (location, response.cookie_pair("__Host-vigil-session").expect("session"))
}

fn between<'a>(body: &'a str, start: &str, end: &str) -> &'a str {
    let from = body.find(start).expect(start) + start.len();
    &body[from..][..body[from..].find(end).expect(end)]
}

#[test]
fn admins_enrol_a_second_factor_and_sign_in_with_it() {
    let db = TestDb::migrated();
    seed::user(db.url(), "chief", "admin", &[]);
    let app = App::spawn_with(db.url(), &[REQUIRED]);

    let refused = api_login(&app, None);
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refused.json()["error"]["code"], "mfa_enrollment_required");

    // The portal leads to enrolment, and to nothing else before it.
    let (next, pending) = portal_sign_in(&app);
    assert_eq!(next, "/settings/mfa");
    assert_eq!(app.get_with("/", &[("cookie", &pending)]).status, 303, "not signed in yet");
    let page = app.get_with("/settings/mfa", &[("cookie", &pending)]);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("src=\"data:image/svg+xml;base64,"), "a QR code rendered on the server");
    let csrf = form_token(&page.body);
    let wrong = app.post_form("/settings/mfa", &[("cookie", &pending)], &[("csrf_token", &csrf), ("code", "abcdef")]);
    assert_eq!((wrong.status, wrong.header("location")), (303, Some("/settings/mfa?wrong")));
    let page = app.get_with("/settings/mfa?wrong", &[("cookie", &pending)]);
    assert!(page.body.contains("did not match"));
    let secret = between(&page.body, "<code class=\"secret\">", "</code>").to_owned();
    let code = vigil::auth::mfa::current_code(&secret, "chief").expect("a code");
    let confirmed = app.post_form(
        "/settings/mfa",
        &[("cookie", &pending), ("sec-fetch-site", "same-origin")],
        &[("csrf_token", &form_token(&page.body)), ("code", &code)],
    );
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    let recovery: Vec<String> = confirmed
        .body
        .split("<li><code>")
        .skip(1)
        .map(|part| part.split("</code>").next().expect("code").to_owned())
        .collect();
    assert_eq!(recovery.len(), 10, "{}", confirmed.body);
    let full = confirmed.cookie_pair("__Host-vigil-session").expect("a new session");
    assert_ne!(full, pending, "a new session id once signed in");
    assert_eq!(app.get_with("/", &[("cookie", &full)]).header("location"), Some("/admin"), "signed in");
    assert_eq!(app.get_with("/admin", &[("cookie", &full)]).status, 200);
    assert_eq!(
        app.get_with("/", &[("cookie", &pending)]).header("location"),
        Some("/sign-in"),
        "the pending session ended"
    );

    // The API asks for the second factor; each code works once.
    let asked = api_login(&app, None);
    assert_eq!((asked.status, asked.json()["error"]["code"].clone()), (401, json!("mfa_required")));
    assert_eq!(api_login(&app, Some(&code)).status, 401, "the enrolment's code was used already");
    assert_eq!(api_login(&app, Some(&recovery[0])).status, 200, "a recovery code");
    assert_eq!(api_login(&app, Some(&recovery[0])).status, 401, "used up");

    // The portal asks for it too.
    let (next, awaiting) = portal_sign_in(&app);
    assert_eq!(next, "/sign-in/code");
    assert_eq!(app.get_with("/", &[("cookie", &awaiting)]).status, 303);
    let form = app.get_with("/sign-in/code", &[("cookie", &awaiting)]);
    let csrf = form_token(&form.body);
    let wrong = app.post_form("/sign-in/code", &[("cookie", &awaiting)], &[("csrf_token", &csrf), ("code", "000000")]);
    assert_eq!(wrong.status, 401);
    let cross = app.post_form(
        "/sign-in/code",
        &[("cookie", &awaiting), ("sec-fetch-site", "cross-site")],
        &[("csrf_token", &csrf), ("code", &recovery[1])],
    );
    assert_eq!(cross.status, 403);
    let done =
        app.post_form("/sign-in/code", &[("cookie", &awaiting)], &[("csrf_token", &csrf), ("code", &recovery[1])]);
    assert_eq!((done.status, done.header("location")), (303, Some("/")));
    let session = done.cookie_pair("__Host-vigil-session").expect("session");
    assert_eq!(app.get_with("/admin", &[("cookie", &session)]).status, 200);

    // Wrong codes are throttled like wrong passwords.
    let statuses: Vec<u16> = (0..7).map(|_| api_login(&app, Some("123456")).status).collect();
    assert!(statuses.contains(&429), "{statuses:?}");

    // A lost phone: an operator resets the second factor, which is audited.
    let (status, out, err) = run(vigil().args(["user", "reset-mfa", "chief"]).env("DATABASE_URL", db.url()));
    assert!(status.success(), "{out}{err}");
    assert_eq!(app.get_with("/", &[("cookie", &session)]).header("location"), Some("/sign-in"), "sessions ended");
    let mut conn = db.connect();
    let resets: Vec<Option<String>> = audit_log::table
        .filter(audit_log::action.eq("user-reset-mfa"))
        .select(audit_log::resource_id)
        .load(&mut conn)
        .expect("audit");
    assert_eq!(resets, [Some("chief".to_owned())]);
    let enrolled: Vec<Value> = audit_log::table
        .filter(audit_log::action.eq("mfa-enrol"))
        .select(audit_log::outcome)
        .load::<String>(&mut conn)
        .expect("audit")
        .into_iter()
        .map(Value::from)
        .collect();
    assert_eq!(enrolled, [json!("failure"), json!("success")]);
}

#[test]
fn roles_without_the_requirement_sign_in_with_a_password_alone() {
    let db = TestDb::migrated();
    seed::user(db.url(), "nurse", "clinician", &[]);
    let app = App::spawn_with(db.url(), &[REQUIRED]);
    let response = app.post_json("/auth/login", &[], &json!({ "username": "nurse", "password": PASSWORD }));
    assert_eq!(response.status, 200, "{}", response.body);
}
