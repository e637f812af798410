//! Errors that say what happened: the database out of reach is 503; a fault of the server's own
//! (a constraint it broke) is 500 with an error id that the log carries beside the cause, and the
//! body never says the cause.

use diesel::connection::SimpleConnection;
use serde_json::json;
use vigil_store::testing::TestDb;

use crate::support::seed::{self, bearer};
use crate::support::{App, poll};

#[test]
fn a_fault_of_the_server_is_a_500_with_an_error_id_in_the_log() {
    let db = TestDb::migrated();
    seed::user(db.url(), "feed", "integration", &[]);
    let app = App::spawn(db.url());
    let feed = bearer(&seed::token(&app, "feed"));
    // A rule the application knows nothing of, so that the write breaks a constraint.
    db.connect()
        .batch_execute("ALTER TABLE patients ADD CONSTRAINT no_boom CHECK (family_name IS DISTINCT FROM 'Boom')")
        .expect("a constraint");
    let patient = json!({ "resourceType": "Patient", "id": "b1", "name": [{ "family": "Boom" }] });
    let response = app.request("PUT", "/fhir/Patient/b1", &[("authorization", &feed)], Some(patient.to_string()));
    assert_eq!(response.status, 500, "{}", response.body);
    let outcome = response.json();
    let said = outcome["issue"][0]["diagnostics"].as_str().expect("diagnostics").to_owned();
    assert!(!said.contains("no_boom") && !said.contains("constraint"), "{said}");
    let id = said.split("error id ").nth(1).expect("an error id").trim_end_matches(')').to_owned();
    poll("the error id in the log", || {
        app.logs().lines().any(|l| l.contains(&id) && l.contains("no_boom")).then_some(())
    });
    // Nothing half-written: the resource is not there.
    assert_eq!(app.get_with("/fhir/Patient/b1", &[("authorization", &feed)]).status, 404);
}
