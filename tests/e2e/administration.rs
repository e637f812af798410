//! Administration in the portal and the JSON API: people, care units and escalation contacts,
//! alert rules, API clients, the audit viewer, and one's own password; in a real browser, an admin
//! adds a user and a rule and finds a clinician's break-glass access in the review.

use serde_json::json;
use vigil_store::testing::TestDb;

use crate::access::ward;
use crate::models::sign_in;
use crate::scoring::count;
use crate::support::browser::Browser;
use crate::support::seed::{self, bearer, form_token, portal_session};
use crate::support::{App, poll};

/// The ICU and WARD-4 with their patients, `nurse` (ICU) and `chief` (admin), served.
fn hospital() -> (TestDb, App) {
    let db = TestDb::migrated();
    ward(&db);
    let app = App::spawn(db.url());
    (db, app)
}

/// Signs in with `password` through the API; the status.
pub fn sign_in_status(app: &App, username: &str, password: &str) -> u16 {
    app.post_json("/auth/login", &[], &json!({ "username": username, "password": password })).status
}

#[test]
fn an_admin_adds_a_person_changes_their_access_and_account_and_each_change_is_audited() {
    let (db, app) = hospital();
    let session = portal_session(&app, "chief");
    let cookie = [("cookie", session.as_str())];
    let home = app.get_with("/", &cookie);
    assert_eq!(home.header("location"), Some("/admin"), "an admin starts at administration");
    let index = app.get_with("/admin", &cookie);
    for link in ["/admin/users", "/admin/units", "/rules", "/admin/clients", "/admin/break-glass", "/admin/audit"] {
        assert!(index.body.contains(&format!("href=\"{link}\"")), "{link} linked");
    }
    let people = app.get_with("/admin/users", &cookie);
    assert!(people.body.contains("href=\"/admin/users/nurse\""), "{}", people.body);
    let token = form_token(&people.body);
    let post = |path: &str, fields: &[(&str, &str)]| {
        let mut all = vec![("csrf_token", token.as_str())];
        all.extend_from_slice(fields);
        app.post_form(path, &cookie, &all)
    };

    // A weak password is refused with the rule, and what was typed stays in the form.
    let weak = post(
        "/admin/users",
        &[("username", "ward.clerk"), ("display_name", "Wanda Clerk"), ("role", "clinician"), ("password", "short")],
    );
    assert_eq!(weak.status, 422);
    assert!(weak.body.contains("at least 12 characters") && weak.body.contains("Wanda Clerk"), "{}", weak.body);
    let added = post(
        "/admin/users",
        &[
            ("username", "ward.clerk"),
            ("display_name", "Wanda Clerk"),
            ("email", "wanda@hospital.test"),
            ("role", "clinician"),
            ("unit", "ICU"),
            ("unit", "WARD-4"),
            ("password", "a long first password"),
        ],
    );
    assert_eq!((added.status, added.header("location")), (303, Some("/admin/users/ward.clerk?done=added")));
    assert_eq!(sign_in_status(&app, "ward.clerk", "a long first password"), 200);
    let page = app.get_with("/admin/users/ward.clerk?done=added", &cookie);
    assert!(page.body.contains("wanda@hospital.test") && page.body.contains("<span class=\"unit\">WARD-4</span>"));

    // A unit taken away applies to the tokens already in use, within moments of the change.
    let signed_in =
        app.post_json("/auth/login", &[], &json!({ "username": "ward.clerk", "password": "a long first password" }));
    let clerk_token = bearer(signed_in.json()["access_token"].as_str().expect("token"));
    let ward_patient = || app.get_with("/api/patients/p-ward", &[("authorization", &clerk_token)]).status;
    assert_eq!(ward_patient(), 200);
    assert_eq!(post("/admin/users/ward.clerk/access", &[("role", "clinician"), ("unit", "ICU")]).status, 303);
    poll("the token to lose WARD-4", || (ward_patient() == 403).then_some(()));

    // Role and units, exactly as ticked.
    assert_eq!(post("/admin/users/ward.clerk/access", &[("role", "informatics"), ("unit", "ICU")]).status, 303);
    let listed = app.get_with("/api/admin/users", &[("authorization", &bearer(&seed::token(&app, "chief")))]);
    let clerk =
        listed.json()["users"].as_array().expect("users").iter().find(|u| u["username"] == "ward.clerk").cloned();
    let clerk = clerk.expect("the clerk listed");
    assert_eq!((clerk["role"].as_str(), clerk["units"].clone()), (Some("informatics"), json!(["ICU"])));

    // Disabled, nobody signs in as them; enabled again, they do; a new password replaces the old.
    assert_eq!(post("/admin/users/ward.clerk/disable", &[]).status, 303);
    assert_eq!(sign_in_status(&app, "ward.clerk", "a long first password"), 401);
    assert_eq!(post("/admin/users/ward.clerk/enable", &[]).status, 303);
    assert_eq!(sign_in_status(&app, "ward.clerk", "a long first password"), 200);
    assert_eq!(post("/admin/users/ward.clerk/reset-password", &[("password", "another long password")]).status, 303);
    assert_eq!(sign_in_status(&app, "ward.clerk", "a long first password"), 401);
    assert_eq!(sign_in_status(&app, "ward.clerk", "another long password"), 200);
    assert_eq!(post("/admin/users/ward.clerk/reset-mfa", &[]).status, 303);

    // An admin does not lock themselves out; a form from elsewhere changes nothing; a clinician is
    // refused the pages.
    let own = post("/admin/users/chief/disable", &[]);
    assert_eq!(own.status, 422);
    assert!(own.body.contains("your own account"), "{}", own.body);
    assert_eq!(app.post_form("/admin/users/nurse/disable", &cookie, &[]).status, 403);
    assert_eq!(sign_in_status(&app, "nurse", seed::PASSWORD), 200);
    let nurse = portal_session(&app, "nurse");
    assert_eq!(app.get_with("/admin/users", &[("cookie", nurse.as_str())]).status, 403);

    let audited = count(
        &db,
        "SELECT count(*) AS n FROM audit_log WHERE actor = 'user:chief' AND action = 'administer'
            AND resource_type = 'User' AND resource_id = 'ward.clerk' AND outcome = 'success'
            AND detail IN ('add', 'access', 'disable', 'enable', 'reset-password', 'reset-mfa')",
    );
    assert_eq!(audited, 7, "added, two changes of access, disabled, enabled, a new password, a new second factor");
}

#[test]
fn an_admin_sets_a_units_escalation_timing_and_contacts_and_adds_a_unit() {
    let (db, app) = hospital();
    let session = portal_session(&app, "chief");
    let cookie = [("cookie", session.as_str())];
    let page = app.get_with("/admin/units", &cookie);
    assert!(page.body.contains("ICU: Unit ICU") && page.body.contains("Call nurse on escalation"), "{}", page.body);
    let token = form_token(&page.body);
    let post = |path: &str, fields: &[(&str, &str)]| {
        let mut all = vec![("csrf_token", token.as_str())];
        all.extend_from_slice(fields);
        app.post_form(path, &cookie, &all)
    };
    let timing = post("/admin/units/ICU/escalation", &[("after_minutes", "10"), ("repeat_minutes", "30")]);
    assert_eq!(timing.header("location"), Some("/admin/units?done=escalation"));
    assert_eq!(post("/admin/units/ICU/contacts", &[("username", "nurse"), ("contact", "on")]).status, 303);
    let set = count(
        &db,
        "SELECT count(*) AS n FROM care_units c JOIN user_units uu ON uu.unit_id = c.id JOIN users u ON u.id = uu.user_id
          WHERE c.code = 'ICU' AND c.escalate_after_secs = 600 AND c.escalate_repeat_secs = 1800
            AND u.username = 'nurse' AND uu.escalation_contact",
    );
    assert_eq!(set, 1);
    // Only members are contacts; a week is the longest wait.
    let outsider = post("/admin/units/WARD-4/contacts", &[("username", "nurse"), ("contact", "on")]);
    assert_eq!(outsider.status, 422);
    assert!(outsider.body.contains("not a member of unit WARD-4"), "{}", outsider.body);
    assert_eq!(
        post("/admin/units/ICU/escalation", &[("after_minutes", "20000"), ("repeat_minutes", "30")]).status,
        422
    );
    assert_eq!(post("/admin/units", &[("code", "CCU"), ("name", "Coronary care")]).status, 303);
    assert_eq!(post("/admin/units", &[("code", "CCU"), ("name", "Again")]).status, 422);
    assert!(app.get_with("/admin/units", &cookie).body.contains("CCU: Coronary care"));

    // The same through the API.
    let admin = bearer(&seed::token(&app, "chief"));
    let units = app.get_with("/api/admin/units", &[("authorization", &admin)]).json();
    let icu = units["units"].as_array().expect("units").iter().find(|u| u["code"] == "ICU").cloned().expect("ICU");
    assert_eq!(icu["members"][0], json!({ "username": "nurse", "display_name": "nurse", "contact": true }));
}

#[test]
fn alert_rules_are_set_as_percentages_with_a_reason_and_every_version_is_shown() {
    let (db, app) = hospital();
    let session = portal_session(&app, "chief");
    let cookie = [("cookie", session.as_str())];
    let page = app.get_with("/rules", &cookie);
    assert!(page.body.contains("No rule yet"), "{}", page.body);
    let token = form_token(&page.body);
    let post = |fields: &[(&str, &str)]| {
        let mut all = vec![("csrf_token", token.as_str()), ("enabled", "on")];
        all.extend_from_slice(fields);
        app.post_form("/rules", &cookie, &all)
    };
    let crossed = post(&[("target", "admission"), ("warning", "20"), ("critical", "10"), ("reason", "x")]);
    assert_eq!(crossed.status, 422);
    assert!(
        crossed.body.contains("Warning at") && crossed.body.contains("value=\"20\""),
        "the form keeps what was typed"
    );
    let saved = post(&[("target", "admission"), ("warning", "12.5"), ("critical", "30 %"), ("reason", "pilot on ICU")]);
    assert_eq!(saved.header("location"), Some("/rules?done=saved"));
    let changed =
        post(&[("target", "admission"), ("warning", "15"), ("critical", "30"), ("reason", "too many alerts")]);
    assert_eq!(changed.status, 303);
    let stored = count(
        &db,
        "SELECT count(*) AS n FROM alert_rules WHERE target = 'admission' AND unit_id IS NULL
            AND warning = 0.15 AND critical = 0.3 AND version = 2 AND changed_by = 'user:chief'",
    );
    assert_eq!(stored, 1);
    let page = app.get_with("/rules", &cookie);
    for said in ["12.5 %", "too many alerts", "pilot on ICU", "version 2"] {
        assert!(page.body.contains(said), "{said} on the rules page");
    }
    // Informatics tune rules too; clinicians do not.
    seed::user(db.url(), "ana", "informatics", &[]);
    let ana = portal_session(&app, "ana");
    assert_eq!(app.get_with("/rules", &[("cookie", ana.as_str())]).status, 200);
    let nurse = portal_session(&app, "nurse");
    assert_eq!(app.get_with("/rules", &[("cookie", nurse.as_str())]).status, 403);
}

#[test]
fn an_admin_registers_an_api_client_that_then_gets_tokens_and_disables_it() {
    let (_db, app) = hospital();
    let session = portal_session(&app, "chief");
    let cookie = [("cookie", session.as_str())];
    let page = app.get_with("/admin/clients", &cookie);
    let token = form_token(&page.body);
    let post = |path: &str, fields: &[(&str, &str)]| {
        let mut all = vec![("csrf_token", token.as_str())];
        all.extend_from_slice(fields);
        app.post_form(path, &cookie, &all)
    };
    let bad = post("/admin/clients", &[("name", "Lab"), ("jwks", "{\"keys\": []}"), ("scopes", "system/*.read")]);
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("holds no key"), "{}", bad.body);
    let (jwks, pem) = seed::es384_jwks();
    let registered = post(
        "/admin/clients",
        &[("name", "Lab system"), ("jwks", &jwks.to_string()), ("scopes", "system/Observation.write")],
    );
    let location = registered.header("location").expect("a redirect").to_owned();
    let client_id = location.split("registered=").nth(1).expect("the client id").to_owned();
    let page = app.get_with(&location, &cookie);
    assert!(page.body.contains(&format!("<code id=\"registered-id\">{client_id}</code>")));

    let token_status = || {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = json!({ "iss": client_id, "sub": client_id, "aud": format!("{}/auth/token", app.base),
                             "exp": now + 240, "jti": uuid::Uuid::new_v4().to_string() });
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES384);
        header.kid = Some("lab-1".into());
        let key = jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes()).expect("key");
        let assertion = jsonwebtoken::encode(&header, &claims, &key).expect("sign");
        app.post_form(
            "/auth/token",
            &[],
            &[
                ("grant_type", "client_credentials"),
                ("scope", "system/Observation.write"),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ("client_assertion", &assertion),
            ],
        )
        .status
    };
    assert_eq!(token_status(), 200);
    assert_eq!(post(&format!("/admin/clients/{client_id}/disable"), &[]).status, 303);
    assert_ne!(token_status(), 200, "a disabled client gets no token");
    assert!(app.get_with("/admin/clients", &cookie).body.contains("disabled 20"));
}

#[test]
fn the_audit_viewer_filters_exports_and_checks_the_chain_and_is_itself_audited() {
    let (db, app) = hospital();
    let nurse = bearer(&seed::token(&app, "nurse"));
    assert_eq!(app.get_with("/api/patients/p-icu", &[("authorization", &nurse)]).status, 200);
    assert_eq!(app.get_with("/api/patients/p-ward", &[("authorization", &nurse)]).status, 403);
    let session = portal_session(&app, "chief");
    let cookie = [("cookie", session.as_str())];

    let denied = app.get_with("/admin/audit?user=nurse&outcome=denied", &cookie);
    assert_eq!(denied.status, 200, "{}", denied.body);
    let rows = denied.body.split("<tbody>").nth(1).expect("rows").matches("<tr").count();
    assert_eq!(rows, 1, "the one refusal: {}", denied.body);
    assert!(denied.body.contains("<td>p-ward</td>"), "the patient named by id");
    let by_patient = app.get_with("/admin/audit?patient=p-icu", &cookie);
    assert!(by_patient.body.contains("user:nurse (clinician)") && !by_patient.body.contains("<td>p-ward</td>"));
    let odd = app.get_with("/admin/audit?from=yesterday", &cookie);
    assert_eq!(odd.status, 422);
    assert!(odd.body.contains("expected a day"), "{}", odd.body);

    let csv = app.get_with("/admin/audit/export.csv?user=nurse", &cookie);
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let mut lines = csv.body.lines();
    assert_eq!(lines.next(), Some(vigil::audit_csv::HEADER.join(",").as_str()));
    assert!(lines.all(|l| l.contains(",user:nurse,")), "{}", csv.body);

    let chain = app.get_with("/admin/audit/chain", &cookie);
    assert!(chain.body.contains("The chain holds"), "{}", chain.body);
    let api = app.get_with("/api/admin/audit/chain", &[("authorization", &bearer(&seed::token(&app, "chief")))]);
    assert_eq!(api.json()["intact"], true);

    let reviewed = count(
        &db,
        "SELECT count(*) AS n FROM audit_log WHERE actor = 'user:chief' AND action = 'review'
            AND resource_type = 'AuditLog' AND (detail LIKE 'search %' OR detail LIKE 'export %' OR detail = 'verify')",
    );
    assert!(reviewed >= 5, "each look at the trail is in it ({reviewed})");
    assert_eq!(app.get_with("/admin/audit", &[("cookie", portal_session(&app, "nurse").as_str())]).status, 403);
}

#[test]
fn in_a_real_browser_an_admin_adds_a_user_and_a_rule_and_reviews_a_break_glass_access() {
    let (db, app) = hospital();
    // A nurse opens a patient of another unit through break-glass, in the portal.
    let nurse = portal_session(&app, "nurse");
    let offer = app.get_with("/patients/p-ward", &[("cookie", nurse.as_str())]);
    assert_eq!(offer.status, 403);
    let granted = app.post_form(
        "/patients/p-ward/break-glass",
        &[("cookie", nurse.as_str())],
        &[("csrf_token", &form_token(&offer.body)), ("reason", "rapid response call on the ward overnight")],
    );
    assert_eq!(granted.status, 303, "{}", granted.body);

    let browser = Browser::start(1280);
    sign_in(&browser, &app, "chief");
    poll("administration", || browser.url().ends_with("/admin").then_some(()));
    assert_eq!(browser.errors(), Vec::<String>::new());
    browser.check_and_capture("admin");

    browser.click("a[href='/admin/users']");
    poll("the people", || browser.url().ends_with("/admin/users").then_some(()));
    browser.check_and_capture("admin-users");
    browser.fill("#new-username", "night.nurse");
    browser.fill("#new-name", "Nina Night");
    browser.choose("#new-role", "clinician");
    browser.click("input[name='unit'][value='WARD-4']");
    browser.fill("#new-password", "a long first password");
    browser.click("form[action='/admin/users'] button");
    poll("the new person's page", || browser.url().contains("/admin/users/night.nurse").then_some(()));
    assert!(browser.source().contains("Added."));
    assert_eq!(browser.errors(), Vec::<String>::new());
    browser.check_and_capture("admin-user");
    assert_eq!(count(&db, "SELECT count(*) AS n FROM users WHERE username = 'night.nurse' AND role = 'clinician'"), 1);

    browser.goto(&format!("{}/rules", app.base));
    browser.choose("#rule-target", "readmission");
    browser.fill("#rule-warning", "20");
    browser.fill("#rule-critical", "40");
    browser.fill("#rule-reason", "discharge planning pilot");
    browser.click("form[action='/rules'] button");
    poll("the rule saved", || browser.url().ends_with("/rules?done=saved").then_some(()));
    assert_eq!(count(&db, "SELECT count(*) AS n FROM alert_rules WHERE target = 'readmission' AND warning = 0.2"), 1);
    assert_eq!(browser.errors(), Vec::<String>::new());
    browser.check_and_capture("rules");

    browser.goto(&format!("{}/admin/break-glass", app.base));
    assert!(browser.source().contains("rapid response call on the ward overnight"), "the grant awaits review");
    assert_eq!(browser.errors(), Vec::<String>::new());
    browser.check_and_capture("break-glass-review");
    browser.fill("input[name='note']", "confirmed with the ward sister");
    browser.click("form[action$='/review'] button");
    poll("the review", || {
        (count(
            &db,
            "SELECT count(*) AS n FROM break_glass_grants WHERE review_note = 'confirmed with the ward sister'",
        ) == 1)
            .then_some(())
    });

    for (path, page) in
        [("/admin/units", "admin-units"), ("/admin/clients", "admin-clients"), ("/admin/audit", "audit")]
    {
        browser.goto(&format!("{}{path}", app.base));
        assert_eq!(browser.errors(), Vec::<String>::new(), "none on {path}");
        browser.check_and_capture(page);
    }
    browser.click("#verify");
    poll("the chain checked", || browser.source().contains("The chain holds").then_some(()));
    browser.goto(&format!("{}/settings/password", app.base));
    assert_eq!(browser.errors(), Vec::<String>::new());
    browser.check_and_capture("settings-password");
}
