//! Alert rules, black-box: invalid rules are refused with a reason and change nothing; admins and
//! informatics manage rules over the API with every version kept.

use vigil_store::testing::TestDb;

use crate::alerts::refused;
use crate::scoring::{cli, count};
use crate::support::seed;

#[test]
fn invalid_rules_are_refused_with_a_reason_and_change_nothing() {
    let db = TestDb::migrated();
    let rules = "SELECT count(*) AS n FROM alert_rules";
    let err = refused(
        &db,
        &["alert", "rule", "add", "--target", "admission", "--warning", "0.5", "--critical", "0.4", "--reason", "x"],
    );
    assert!(err.contains("warning") && err.contains("critical") && err.contains("below"), "{err}");
    let err = refused(&db, &["alert", "rule", "add", "--target", "admission", "--info", "1.5", "--reason", "x"]);
    assert!(err.contains("info") && err.contains("1.5"), "{err}");
    let err = refused(&db, &["alert", "rule", "add", "--target", "discharge", "--info", "0.5", "--reason", "x"]);
    assert!(err.contains("discharge"), "{err}");
    let err = refused(
        &db,
        &["alert", "rule", "add", "--target", "admission", "--info", "0.5", "--unit", "NOPE", "--reason", "x"],
    );
    assert!(err.contains("NOPE"), "{err}");
    let err = refused(&db, &["alert", "rule", "add", "--target", "admission", "--info", "0.5", "--reason", " "]);
    assert!(err.contains("reason"), "{err}");
    let err = refused(&db, &["alert", "rule", "add", "--target", "admission", "--warning", "top5%", "--reason", "x"]);
    assert!(err.contains("score first"), "{err}");
    let err = refused(&db, &["alert", "rule", "add", "--target", "admission", "--warning", "top150%", "--reason", "x"]);
    assert!(err.contains("percentage"), "{err}");
    assert_eq!(count(&db, rules), 0);

    cli(&db, &["alert", "rule", "add", "--target", "admission", "--info", "0.5", "--reason", "first"]);
    let err = refused(&db, &["alert", "rule", "add", "--target", "admission", "--info", "0.6", "--reason", "second"]);
    assert!(err.contains("exists already"), "{err}");
    let err = refused(&db, &["alert", "rule", "set", "1", "--warning", "0.4", "--reason", "below info"]);
    assert!(err.contains("info") && err.contains("warning"), "{err}");
    assert_eq!(count(&db, rules), 1);
    assert_eq!(count(&db, "SELECT count(*) AS n FROM alert_rule_history"), 1);
}

#[test]
fn admins_and_informatics_manage_rules_over_the_api_with_every_version_kept() {
    let db = TestDb::migrated();
    seed::unit(db.url(), "ward-4W");
    seed::user(db.url(), "analyst", "informatics", &[]);
    seed::user(db.url(), "nurse", "clinician", &["ward-4W"]);
    let app = crate::support::App::spawn(db.url());
    let analyst = seed::bearer(&seed::token(&app, "analyst"));
    let nurse = seed::bearer(&seed::token(&app, "nurse"));
    let put = |who: &str, body: serde_json::Value| {
        app.request(
            "PUT",
            "/api/alert-rules",
            &[("authorization", who), ("content-type", "application/json")],
            Some(body.to_string()),
        )
    };
    let rule = serde_json::json!({ "target": "readmission", "warning": 0.3, "critical": 0.6, "reason": "pilot" });
    assert_eq!(put(&nurse, rule.clone()).status, 403, "clinicians do not configure alerting");
    let created = put(&analyst, rule);
    assert_eq!(created.status, 200, "{}", created.body);
    assert_eq!(created.json()["version"], 1);
    let changed = put(
        &analyst,
        serde_json::json!({ "target": "readmission", "warning": 0.35, "critical": 0.6, "reason": "too many alerts" }),
    );
    assert_eq!(changed.json()["version"], 2);
    let unit = put(
        &analyst,
        serde_json::json!({ "target": "readmission", "unit": "ward-4W", "info": 0.1, "reason": "ward pilot" }),
    );
    assert_eq!(unit.status, 200, "{}", unit.body);

    // Invalid rules: a clear reason, nothing changed.
    let bad =
        put(&analyst, serde_json::json!({ "target": "readmission", "warning": 0.7, "critical": 0.6, "reason": "x" }));
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("warning") && bad.body.contains("critical"), "{}", bad.body);
    let bad =
        put(&analyst, serde_json::json!({ "target": "readmission", "unit": "ICU-9", "info": 0.1, "reason": "x" }));
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("ICU-9"), "{}", bad.body);

    let listed = app.get_with("/api/alert-rules", &[("authorization", analyst.as_str())]);
    assert_eq!(listed.status, 200);
    let rules = listed.json()["rules"].clone();
    assert_eq!(rules.as_array().map(Vec::len), Some(2));
    let every_unit = &rules[0];
    assert_eq!(every_unit["rule"]["thresholds"]["warning"], 0.35);
    let reasons: Vec<&str> =
        every_unit["history"].as_array().into_iter().flatten().filter_map(|v| v["reason"].as_str()).collect();
    assert_eq!(reasons, ["pilot", "too many alerts"]);
    assert_eq!(every_unit["history"][1]["changed_by"].as_str().map(|b| b.starts_with("user:")), Some(true));
    assert_eq!(count(&db, "SELECT count(*) AS n FROM audit_log WHERE action = 'configure' AND outcome = 'denied'"), 1);
}
