//! The portal over HTTP: a clinician's worklist and an alert's page, answered with the page's own
//! forms, each action kept with its reason and audited; what a filter, a stale form or another
//! unit's patient gets.

use diesel::prelude::*;
use vigil_store::testing::TestDb;

use crate::alert_email::assign;
use crate::alerts::{score, ward_with_a_nurse};
use crate::scoring::{count, population, with_active_models};
use crate::support::browser::Browser;
use crate::support::seed::{self, form_token, portal_session};
use crate::support::{App, poll};

/// A ward of 800 patients whose top tenth alert, and its nurse signed in to the portal.
fn worked_ward() -> (TestDb, App, String) {
    let db = population(800);
    with_active_models(&db);
    ward_with_a_nurse(&db);
    score(&db);
    // The ward's community team looks after the alerted patients at home too.
    let at_home: Vec<String> = {
        #[derive(QueryableByName)]
        struct Id {
            #[diesel(sql_type = diesel::sql_types::Text)]
            fhir_id: String,
        }
        let ids: Vec<Id> = diesel::sql_query(
            "SELECT p.fhir_id FROM alerts a JOIN patients p ON p.id = a.patient_id
              WHERE NOT patient_units(a.patient_id) && (SELECT array_agg(code) FROM care_units)",
        )
        .load(&mut db.connect())
        .expect("patients");
        ids.into_iter().map(|i| i.fhir_id).collect()
    };
    assign(&db, "ward-4W", &at_home);
    let app = App::spawn(db.url());
    let session = portal_session(&app, "nurse");
    (db, app, session)
}

fn alert_ids_in(body: &str) -> Vec<i64> {
    body.split("href=\"/alerts/").skip(1).filter_map(|rest| rest.split('"').next()?.parse().ok()).collect()
}

#[test]
fn the_worklist_lists_the_nurses_alerts_most_urgent_first_with_counts_filters_and_pages() {
    let (db, app, session) = worked_ward();
    let cookie = [("cookie", session.as_str())];
    let live = count(&db, "SELECT count(*) AS n FROM alerts WHERE ended_at IS NULL");
    assert!(live > 50, "more than a page: {live}");

    let first = app.get_with("/worklist", &cookie);
    assert_eq!(first.status, 200, "{}", first.body);
    let ids = alert_ids_in(&first.body);
    assert_eq!(ids.len(), 50, "a page of 50");
    assert!(first.body.contains(&format!(">{live} warning</a>")), "counts per tier");
    // Most probable first within the tier.
    let top: i64 =
        count(&db, "SELECT id AS n FROM alerts WHERE ended_at IS NULL ORDER BY probability DESC, id DESC LIMIT 1");
    assert_eq!(ids[0], top);
    assert!(first.body.contains("Next page") && !first.body.contains("Previous page"));

    // One stylesheet, named by its content so browsers may keep it.
    let href =
        first.body.split("rel=\"stylesheet\" href=\"").nth(1).and_then(|r| r.split('"').next()).expect("a stylesheet");
    assert!(href.starts_with("/static/portal-") && href.ends_with(".css"), "{href}");
    let css = app.get(href);
    assert_eq!((css.status, css.header("cache-control")), (200, Some("public, max-age=31536000")));

    let second = app.get_with("/worklist?page=2", &cookie);
    let rest = alert_ids_in(&second.body);
    assert_eq!(rest.len() as i64, (live - 50).min(50));
    assert!(rest.iter().all(|id| !ids.contains(id)), "no alert on two pages");

    // Filters stay in the address; one that makes no sense is named.
    let critical = app.get_with("/worklist?tier=critical", &cookie);
    assert!(alert_ids_in(&critical.body).is_empty() && critical.body.contains("No alert matches"));
    let wrong = app.get_with("/worklist?tier=urgent", &cookie);
    assert_eq!(wrong.status, 200);
    assert!(wrong.body.contains("tier &#34;urgent&#34;: expected info, warning or critical"), "{}", wrong.body);

    // Each patient listed is audited as read: one row per page, naming them all.
    let audited = count(
        &db,
        "SELECT count(DISTINCT p) AS n FROM audit_log, unnest(COALESCE(patients, ARRAY[patient_id])) p
          WHERE action = 'search' AND resource_type = 'Alert'",
    );
    assert!(audited >= 50, "{audited}");
    let rows = count(&db, "SELECT count(*) AS n FROM audit_log WHERE action = 'search' AND resource_type = 'Alert'");
    assert!(rows < audited, "a page of the worklist is one row, not one per patient ({rows} rows)");
}

#[test]
fn a_nurse_answers_an_alert_from_its_page_and_each_answer_is_kept_with_its_reason() {
    let (db, app, session) = worked_ward();
    let cookie = [("cookie", session.as_str())];
    let id = alert_ids_in(&app.get_with("/worklist", &cookie).body)[0];
    let path = format!("/alerts/{id}");

    let page = app.get_with(&path, &cookie);
    assert_eq!(page.status, 200, "{}", page.body);
    let family: String = {
        use vigil_store::schema::{alerts, patients};
        alerts::table
            .inner_join(patients::table)
            .filter(alerts::id.eq(id))
            .select(patients::family_name.assume_not_null())
            .first(&mut db.connect())
            .expect("family name")
    };
    assert!(page.body.contains(&family.to_uppercase()), "the patient is recognisable");
    for form in ["acknowledge", "snooze", "dismiss"] {
        assert!(page.body.contains(&format!("action=\"{path}/{form}\"")), "{form} offered");
    }
    assert!(!page.body.contains(&format!("action=\"{path}/reopen\"")), "an open alert is not reopened");
    let token = form_token(&page.body);
    let post = |action: &str, fields: &[(&str, &str)]| {
        let mut all = vec![("csrf_token", token.as_str())];
        all.extend_from_slice(fields);
        app.post_form(&format!("{path}/{action}"), &cookie, &all)
    };
    let status = || -> String {
        use vigil_store::schema::alerts;
        alerts::table.find(id).select(alerts::status).first(&mut db.connect()).expect("status")
    };

    // A form from elsewhere (no token) changes nothing.
    let forged = app.post_form(&format!("{path}/acknowledge"), &cookie, &[("note", "x")]);
    assert_eq!(forged.status, 403);
    assert_eq!(status(), "open");

    let acknowledged = post("acknowledge", &[("note", "seen on the round")]);
    assert_eq!((acknowledged.status, acknowledged.header("location")), (303, Some(path.as_str())));
    assert_eq!(status(), "acknowledged");
    assert_eq!(post("snooze", &[("hours", "4"), ("reason", "awaiting labs")]).status, 303);
    assert_eq!(status(), "snoozed");
    // "Other" needs a note: the page says so, and nothing changes.
    let incomplete = post("dismiss", &[("reason", "other")]);
    assert_eq!(incomplete.status, 422);
    assert!(incomplete.body.contains("role=\"alert\""), "{}", incomplete.body);
    assert_eq!(status(), "snoozed");
    assert_eq!(post("dismiss", &[("reason", "already-known"), ("note", "on the heart failure pathway")]).status, 303);
    assert_eq!(status(), "dismissed");
    let conflict = post("acknowledge", &[]);
    assert_eq!(conflict.status, 409);
    assert!(conflict.body.contains("is dismissed"), "{}", conflict.body);
    assert_eq!(post("reopen", &[("note", "worse today")]).status, 303);
    assert_eq!(status(), "open");

    // Feedback: an answer from outside the list is refused and kept nowhere; a real one is kept
    // with the score and model the alert stood at.
    let odd = post("feedback", &[("outcome", "not-useful"), ("reason", "bored")]);
    assert_eq!(odd.status, 422);
    assert!(odd.body.contains("expected one of already-known"), "{}", odd.body);
    let given = post("feedback", &[("outcome", "not-useful"), ("reason", "planned-admission"), ("note", "booked hip")]);
    assert_eq!((given.status, given.header("location")), (303, Some(format!("{path}#feedback").as_str())));
    let kept = count(
        &db,
        &format!(
            "SELECT count(*) AS n FROM alert_feedback f JOIN alerts a ON a.id = f.alert_id
              WHERE f.alert_id = {id} AND f.given_by = 'user:nurse' AND f.source = 'portal'
                AND f.outcome = 'not-useful' AND f.reason = 'planned-admission' AND f.note = 'booked hip'
                AND f.score_id = a.score_id AND f.model_id = a.model_id AND f.tier = a.tier"
        ),
    );
    assert_eq!(kept, 1);

    // The history on the page and in the database, with who and why.
    let page = app.get_with(&path, &cookie);
    for said in [
        "seen on the round",
        "awaiting labs",
        "already-known: on the heart failure pathway",
        "worse today",
        "Planned admission: booked hip",
    ] {
        assert!(page.body.contains(said), "{said} on the page");
    }
    let by_nurse =
        count(&db, &format!("SELECT count(*) AS n FROM alert_events WHERE actor = 'user:nurse' AND alert_id = {id}"));
    assert_eq!(by_nurse, 4);
    let audited = count(
        &db,
        &format!(
            "SELECT count(*) AS n FROM audit_log WHERE action = 'respond' AND outcome = 'success' AND resource_id = '{id}'"
        ),
    );
    // Each answer and the feedback, and the refused answer (the nurse was let at the alert; its
    // state said no).
    assert_eq!(audited, 6);
}

#[test]
fn the_patient_page_shows_risk_with_its_trend_factors_results_and_alerts_to_the_units_clinicians() {
    let (db, app, session) = worked_ward();
    let (patient, alert): (String, i64) = {
        use vigil_store::schema::{alerts, patients};
        alerts::table
            .inner_join(patients::table)
            .order(alerts::probability.desc())
            .select((patients::fhir_id, alerts::id))
            .first(&mut db.connect())
            .expect("an alerted patient")
    };
    let page = app.get_with(&format!("/patients/{patient}"), &[("cookie", &session)]);
    assert_eq!(page.status, 200, "{}", page.body);
    for part in [
        "Risk of admission: ",
        "Risk of readmission",
        "<svg",
        "class=\"threshold threshold-warning\"",
        "Latest results",
        "Recent encounters",
        "hemoglobin",
    ] {
        assert!(page.body.contains(part), "{part} missing");
    }
    assert!(page.body.contains(&format!("href=\"/alerts/{alert}\"")), "the patient's alerts listed");
    let audited = count(
        &db,
        &format!(
            "SELECT count(*) AS n FROM audit_log a JOIN patients p ON p.id = a.patient_id
              WHERE p.fhir_id = '{patient}' AND a.action = 'read' AND a.resource_type = 'Patient' AND a.outcome = 'success'"
        ),
    );
    assert_eq!(audited, 1, "one audited read of the chart");

    // Another unit's nurse is offered break-glass; with a reason, the record opens, and the
    // grant waits for an administrator's review.
    seed::unit(db.url(), "ICU-X");
    seed::user(db.url(), "icu", "clinician", &["ICU-X"]);
    seed::user(db.url(), "chief", "admin", &[]);
    let outsider = portal_session(&app, "icu");
    let path = format!("/patients/{patient}");
    let offered = app.get_with(&path, &[("cookie", &outsider)]);
    assert_eq!(offered.status, 403);
    assert!(
        offered.body.contains("not on your units") && offered.body.contains(&format!("action=\"{path}/break-glass\""))
    );
    assert!(!offered.body.contains("Risk of admission"), "nothing of the record before the glass is broken");
    let token = form_token(&offered.body);
    let post = |reason: &str| {
        app.post_form(
            &format!("{path}/break-glass"),
            &[("cookie", &outsider)],
            &[("csrf_token", &token), ("reason", reason)],
        )
    };
    assert_eq!(post("short").status, 422, "a reason of ten characters or more");
    let granted = post("admitted to ICU from the ED overnight");
    assert_eq!((granted.status, granted.header("location")), (303, Some(path.as_str())));
    let opened = app.get_with(&path, &[("cookie", &outsider)]);
    assert_eq!(opened.status, 200);
    assert!(opened.body.contains("Risk of admission"));
    let admin = portal_session(&app, "chief");
    let review = app.get_with("/admin/break-glass", &[("cookie", &admin)]);
    assert!(review.body.contains("admitted to ICU from the ED overnight") && review.body.contains(&patient));
}

#[test]
fn another_units_nurse_cannot_open_the_alert() {
    let (db, app, _) = worked_ward();
    seed::unit(db.url(), "ICU-X");
    seed::user(db.url(), "icu", "clinician", &["ICU-X"]);
    let id = count(&db, "SELECT min(id) AS n FROM alerts");
    let session = portal_session(&app, "icu");
    let page = app.get_with(&format!("/alerts/{id}"), &[("cookie", &session)]);
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("<h1>Not allowed</h1>"));
    let worklist = app.get_with("/worklist", &[("cookie", &session)]);
    assert!(alert_ids_in(&worklist.body).is_empty() && worklist.body.contains("No alert matches"));
}

/// Checks the page with axe-core; with `VIGIL_SCREENSHOTS` set (`make screenshots`), saves it at
/// desktop and tablet width as PNG files in that folder.

#[test]
fn in_a_real_browser_a_nurse_signs_in_finds_an_alert_and_answers_it() {
    let (db, app, _) = worked_ward();
    let browser = Browser::start(1280);
    browser.goto(&format!("{}/sign-in", app.base));
    assert_eq!(browser.accessibility_violations(), Vec::<String>::new(), "WCAG 2.1 AA on the sign-in page");
    browser.fill("#username", "nurse");
    browser.fill("#password", seed::PASSWORD);
    browser.click("form[action='/sign-in'] button");
    poll("the worklist", || browser.url().ends_with("/worklist").then_some(()));
    assert_eq!(browser.text("h1"), "Worklist");
    assert!(browser.count("table.worklist tbody tr") >= 1);
    assert_eq!(browser.errors(), Vec::<String>::new(), "no console error or CSP violation on the worklist");
    browser.check_and_capture("worklist");

    browser.click("table.worklist tbody tr:first-child a");
    poll("the alert's page", || browser.url().contains("/alerts/").then_some(()));
    let id: i64 = browser.url().rsplit('/').next().and_then(|id| id.parse().ok()).expect("an alert id");
    assert!(browser.source().contains("<h2>Why</h2>"));
    assert_eq!(browser.errors(), Vec::<String>::new(), "none on the alert's page");
    browser.check_and_capture("alert");
    let status = || -> String {
        use vigil_store::schema::alerts;
        alerts::table.find(id).select(alerts::status).first(&mut db.connect()).expect("status")
    };

    browser.fill("#acknowledge-note", "seen on the round");
    browser.click("form[action$='/acknowledge'] button");
    poll("the acknowledgement", || (status() == "acknowledged").then_some(()));
    browser.choose("#snooze-hours", "4");
    browser.fill("#snooze-reason", "awaiting labs");
    browser.click("form[action$='/snooze'] button");
    poll("the snooze", || (status() == "snoozed").then_some(()));
    browser.choose("#dismiss-reason", "already-known");
    browser.fill("#dismiss-note", "on the heart failure pathway");
    browser.click("form[action$='/dismiss'] button");
    poll("the dismissal", || (status() == "dismissed").then_some(()));
    poll("the page to show it", || browser.source().contains("on the heart failure pathway").then_some(()));
    assert_eq!(browser.errors(), Vec::<String>::new());
    browser.click("#feedback-not-useful");
    browser.choose("#feedback-reason", "risk-overstated");
    browser.fill("#feedback-note", "mobile and well supported");
    browser.click("form[action$='/feedback'] button");
    let feedback = format!(
        "SELECT count(*) AS n FROM alert_feedback WHERE alert_id = {id} AND given_by = 'user:nurse'
            AND outcome = 'not-useful' AND reason = 'risk-overstated' AND note = 'mobile and well supported'"
    );
    poll("the feedback", || (count(&db, &feedback) == 1).then_some(()));
    poll("the page to show it", || browser.source().contains("mobile and well supported").then_some(()));

    // The patient's page: the trend drawn, the results beside it, no console error.
    browser.click("#patient-page");
    poll("the patient's page", || browser.url().contains("/patients/").then_some(()));
    assert_eq!(browser.count("figure.trend svg"), 2, "a trend per target");
    assert!(browser.count("figure.trend svg polyline.series") >= 1, "a line for each target scored more than once");
    assert!(browser.source().contains("Latest results"));
    assert_eq!(browser.errors(), Vec::<String>::new(), "none on the patient's page");
    browser.check_and_capture("patient");

    browser.click("a[href='/settings/notifications']");
    poll("the settings", || browser.url().ends_with("/settings/notifications").then_some(()));
    assert_eq!(browser.text("h1"), "Notification settings");
    assert_eq!(browser.errors(), Vec::<String>::new(), "none on the settings page");
    browser.check_and_capture("settings");

    browser.click("a[href='/capacity']");
    poll("the capacity page", || browser.url().ends_with("/capacity").then_some(()));
    assert!(browser.count("figure.capacity svg rect.bar") >= 1);
    assert_eq!(browser.errors(), Vec::<String>::new(), "none on the capacity page");
    browser.check_and_capture("capacity");

    let kept = count(
        &db,
        &format!(
            "SELECT count(*) AS n FROM alert_events WHERE alert_id = {id} AND actor = 'user:nurse'
                AND ((action = 'acknowledged' AND note = 'seen on the round')
                  OR (action = 'snoozed' AND reason = 'awaiting labs')
                  OR (action = 'dismissed' AND reason = 'already-known' AND note = 'on the heart failure pathway'))"
        ),
    );
    assert_eq!(kept, 3, "each answer with its reason");
    let audited = count(
        &db,
        &format!(
            "SELECT count(*) AS n FROM audit_log WHERE action = 'respond' AND outcome = 'success' AND resource_id = '{id}'"
        ),
    );
    assert_eq!(audited, 4, "three answers and the feedback");
}

#[test]
fn capacity_shows_the_expected_admissions_per_unit_as_a_chart_and_a_table() {
    let (_db, app, session) = worked_ward();
    let cookie = [("cookie", session.as_str())];
    let api = app.get_with("/api/capacity?days=14", &cookie);
    assert_eq!(api.status, 200, "{}", api.body);
    let forecast = api.json();
    let page = app.get_with("/capacity?days=14", &cookie);
    assert_eq!(page.status, 200, "{}", page.body);
    let expected = forecast["admissions"]["expected"].as_f64().expect("expected");
    assert!(page.body.contains(&format!("<strong>{expected:.1} (")), "the same figure as the API");
    for unit in forecast["by_unit"].as_array().expect("units") {
        let name = unit["unit"].as_str().expect("unit");
        assert!(page.body.contains(&format!("<tr><td>{name}</td>")), "{name} in the table");
    }
    assert_eq!(page.body.matches("<rect class=\"bar\"").count(), forecast["by_unit"].as_array().map_or(0, Vec::len));
    assert!(page.body.contains("<option value=\"14\" selected>"));
    let wrong = app.get_with("/capacity?days=99", &cookie);
    assert_eq!(wrong.status, 200);
    assert!(wrong.body.contains("days must be between 1 and 30"));
}
