//! Operators' metrics: `/metrics` in Prometheus' text format, for administrators on the main port
//! and for anyone on its own listener (`server.metrics_addr`, a scraper's network only): requests
//! by route pattern, ingestion by type and outcome, audit appends, the request pool, the outbox and
//! the change feeds, and no patient datum anywhere on the page.

use serde_json::json;
use vigil_store::testing::TestDb;

use crate::access::ward;
use crate::support::seed::{self, bearer};
use crate::support::{App, free_port};

/// The value of the sample whose name and labels start with `prefix`, summed over the rest.
fn sample(page: &str, prefix: &str) -> f64 {
    page.lines().filter(|l| l.starts_with(prefix)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

#[test]
fn metrics_count_requests_ingestion_and_the_backlog_and_name_no_patient() {
    let db = TestDb::migrated();
    ward(&db);
    seed::user(db.url(), "feed", "integration", &[]);
    let port = free_port();
    let app = App::spawn_with(db.url(), &[("VIGIL_SERVER__METRICS_ADDR", &format!("127.0.0.1:{port}"))]);

    let nurse = bearer(&seed::token(&app, "nurse"));
    for _ in 0..3 {
        assert_eq!(app.get_with("/fhir/Patient/p-icu", &[("authorization", &nurse)]).status, 200);
    }
    assert_eq!(app.get_with("/fhir/Patient/p-ward", &[("authorization", &nurse)]).status, 403);
    let feed = bearer(&seed::token(&app, "feed"));
    let bundle = json!({ "resourceType": "Bundle", "type": "batch", "entry": [
        { "resource": { "resourceType": "Patient", "id": "p-new", "name": [{ "family": "Newcomer" }],
                        "identifier": [{ "system": "urn:mrn", "value": "MRN-NEW" }] },
          "request": { "method": "PUT", "url": "Patient/p-new" } },
        { "resource": { "resourceType": "Observation", "id": "o-bad", "status": "final" },
          "request": { "method": "PUT", "url": "Observation/o-bad" } } ] });
    assert_eq!(app.post_json("/fhir", &[("authorization", &feed)], &bundle).status, 200);

    // On the main port: administrators only.
    assert_eq!(app.get_with("/metrics", &[]).status, 401);
    assert_eq!(app.get_with("/metrics", &[("authorization", &nurse)]).status, 403);
    let chief = bearer(&seed::token(&app, "chief"));
    let scraped = app.get_with("/metrics", &[("authorization", &chief)]);
    assert_eq!(scraped.status, 200);
    assert!(scraped.header("content-type").is_some_and(|t| t.starts_with("text/plain")));
    let page = scraped.body;

    let reads = r#"vigil_http_requests_total{route="/fhir/{type}/{id}",method="GET",status="200"}"#;
    assert_eq!(sample(&page, reads), 3.0, "{page}");
    let denied = r#"vigil_http_requests_total{route="/fhir/{type}/{id}",method="GET",status="403"}"#;
    assert_eq!(sample(&page, denied), 1.0);
    assert!(page.contains(
        r#"vigil_http_request_duration_seconds_bucket{route="/fhir/{type}/{id}",method="GET",status="200",le="#
    ));
    assert_eq!(sample(&page, r#"vigil_ingested_resources_total{type="Patient",outcome="stored"}"#), 1.0);
    assert_eq!(sample(&page, r#"vigil_ingested_resources_total{type="Observation",outcome="rejected"}"#), 1.0);
    assert!(sample(&page, "vigil_audit_append_duration_seconds_count") >= 4.0, "every read and denial audited");
    assert_eq!(sample(&page, "vigil_database_up"), 1.0);
    assert!(sample(&page, r#"vigil_db_pool_connections{state="max"}"#) > 0.0);
    assert_eq!(sample(&page, "vigil_outbox_dead_letters"), 0.0);
    assert!(page.contains(r#"vigil_alerts_live{tier="critical",state="open"} 0"#), "{page}");
    assert!(page.contains(r#"vigil_change_feed_lag{consumer="scoring"}"#));
    assert!(page.contains("# HELP vigil_outbox_oldest_unsent_seconds"));

    // On its own listener: the same page without a token.
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut open = agent.get(&format!("http://127.0.0.1:{port}/metrics")).call().expect("metrics listener");
    assert_eq!(open.status().as_u16(), 200);
    let open = open.body_mut().read_to_string().expect("page");
    assert!(sample(&open, reads) >= 3.0);

    // Nothing that names a patient: ids, names, record numbers.
    for datum in ["p-icu", "p-ward", "p-new", "o-bad", "Icupatient", "Newcomer", "MRN-1", "MRN-NEW"] {
        assert!(!page.contains(datum) && !open.contains(datum), "{datum} on the metrics page");
    }
}
