//! CDS Hooks 2.0, black-box: an EHR registered with `vigil client add --cds-issuer` discovers the
//! services, calls them with the specification's example requests (signed as the specification
//! says), gets a card for a scored patient and none for an unscored one, sends feedback that is
//! stored, and every call is audited on the patient. Badly signed, unknown, misaddressed and
//! replayed requests are refused.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use serde_json::{Value, json};
use vigil_store::testing::TestDb;

use crate::scoring::{cli, count, population, with_active_models};
use crate::support::{App, Response, seed};

const ISSUER: &str = "https://ehr.hospital.test";
const ASSETS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/e2e/assets/cds-hooks");

fn asset(name: &str) -> Value {
    let path = format!("{ASSETS}/{name}");
    serde_json::from_str(&std::fs::read_to_string(&path).expect(&path)).expect(&path)
}

/// A registered CDS client: its id and private key.
struct Ehr {
    client: String,
    pem: String,
}

fn register_ehr(db: &TestDb, scopes: &str, issuer: &str) -> Ehr {
    let (jwks, pem) = seed::es384_jwks();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, jwks.to_string()).expect("write");
    let jwks = file.to_str().expect("path");
    let out = cli(db, &["client", "add", "--name", "EHR", "--jwks", jwks, "--scopes", scopes, "--cds-issuer", issuer]);
    Ehr { client: out.trim().to_owned(), pem }
}

/// The JWT the EHR signs for a call to `path`, with `claims` changed as given.
fn jwt(app: &App, pem: &str, path: &str, changes: Value) -> String {
    let now = jsonwebtoken::get_current_timestamp();
    let mut claims = json!({
        "iss": ISSUER, "aud": format!("{}{path}", app.base), "iat": now, "exp": now + 300,
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    for (k, v) in changes.as_object().expect("object") {
        claims[k] = v.clone();
    }
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES384);
    header.kid = Some("lab-1".into());
    let key = jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes()).expect("key");
    jsonwebtoken::encode(&header, &claims, &key).expect("sign")
}

fn call(app: &App, token: &str, path: &str, body: &Value) -> Response {
    app.post_json(path, &[("authorization", &format!("Bearer {token}"))], body)
}

/// The specification's patient-view example, about `patient`, with `prefetch`.
fn patient_view(patient: &str, prefetch: Value) -> Value {
    let mut request = asset("patient-view-request.json");
    request["context"]["patientId"] = json!(patient);
    request["prefetch"] = prefetch;
    request
}

fn searchset(encounters: &[String]) -> Value {
    let entry: Vec<Value> =
        encounters.iter().map(|id| json!({ "resource": { "resourceType": "Encounter", "id": id } })).collect();
    json!({ "resourceType": "Bundle", "type": "searchset", "entry": entry })
}

fn text(db: &TestDb, sql: &str) -> Vec<String> {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct T {
        #[diesel(sql_type = diesel::sql_types::Text)]
        t: String,
    }
    diesel::sql_query(sql).load::<T>(&mut db.connect()).expect(sql).into_iter().map(|r| r.t).collect()
}

/// A FHIR server on loopback that answers one search with `bundle`; returns its base URL and
/// what it was asked (request line and headers).
fn one_shot_fhir_server(bundle: Value) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}/fhir", listener.local_addr().expect("addr"));
    let served = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut asked = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("read");
            if line.trim().is_empty() {
                break;
            }
            asked.push(line.trim().to_owned());
        }
        let body = bundle.to_string();
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-type: application/fhir+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("answer");
        asked
    });
    (base, served)
}

/// The nodes at `path` (dotted; arrays stepped through) under `root`.
fn nodes<'a>(root: &'a Value, path: &[&str]) -> Vec<&'a Value> {
    let mut found = vec![root];
    for step in path {
        found = found
            .into_iter()
            .filter_map(|n| n.get(step))
            .flat_map(|v| match v.as_array() {
                Some(items) => items.iter().collect(),
                None => vec![v],
            })
            .collect();
    }
    found
}

/// Checks `body` against the cardinalities, types and codes the specification's logical model
/// `model` gives (tests/e2e/assets/cds-hooks/structure-rules.json); panics naming what breaks them.
fn conforms(model: &str, body: &Value) {
    let rules = asset("structure-rules.json");
    for rule in rules[model].as_array().expect("rules") {
        let path: Vec<&str> = rule["path"].as_str().expect("path").split('.').collect();
        let (name, parent) = path.split_last().expect("a path");
        let (min, many, kind) =
            (rule["min"].as_u64().expect("min"), rule["max"] == "*", rule["type"].as_str().expect("type"));
        for holder in nodes(body, parent) {
            let at = format!("{model}.{}", path.join("."));
            let Some(value) = holder.get(name) else {
                assert!(min == 0, "{at} is required: {holder}");
                continue;
            };
            let values: Vec<&Value> = match (many, value.as_array()) {
                (true, Some(items)) => items.iter().collect(),
                (true, None) if kind == "map of string" => vec![value],
                (true, None) => panic!("{at} must be an array: {value}"),
                (false, Some(_)) => panic!("{at} must not be an array: {value}"),
                (false, None) => vec![value],
            };
            for v in values {
                let ok = match kind {
                    "string" | "markdown" | "code" => v.as_str().is_some_and(|s| !s.is_empty()),
                    "url" => v.as_str().is_some_and(|s| url::Url::parse(s).is_ok()),
                    "uuid" => v.as_str().is_some_and(|s| uuid::Uuid::parse_str(s).is_ok()),
                    "boolean" => v.is_boolean(),
                    "object" => v.is_object(),
                    "map of string" => v.as_object().is_some_and(|m| m.values().all(Value::is_string)),
                    // The spec asks a display of every override reason (cds-resp-4).
                    "Coding" => v["code"].is_string() && v["system"].is_string() && v["display"].is_string(),
                    other => panic!("no check for type {other}"),
                };
                assert!(ok, "{at} is not a {kind}: {v}");
                if let Some(codes) = rule["codes"].as_array() {
                    assert!(codes.contains(v), "{at} is {v}, not one of {codes:?}");
                }
            }
        }
    }
}

#[test]
fn the_specifications_own_examples_meet_the_element_rules_vigil_is_held_to() {
    conforms("CDSHooksServices", &asset("discovery-response.json"));
    let mut cards = asset("cards-response.json");
    conforms("CDSHooksResponse", &cards);
    cards["cards"][0]["indicator"] = json!("hard-stop");
    let broken = std::panic::catch_unwind(|| conforms("CDSHooksResponse", &cards));
    assert!(broken.is_err(), "an indicator outside the value set is caught");
}

#[test]
fn an_ehr_discovers_the_services_gets_cards_for_scored_patients_and_its_feedback_is_stored() {
    let db = population(400);
    with_active_models(&db);
    cli(&db, &["score", "--as-of", "2026-06-01T00:00:00Z"]);
    cli(&db, &["alert", "rule", "add", "--target", "admission", "--warning", "top10%", "--reason", "top decile"]);
    seed::patient(db.url(), "unscored-1", "Newcomer", "MRN-NEW-1", None);
    let ehr = register_ehr(&db, "system/RiskAssessment.read", ISSUER);
    let app = App::spawn(db.url());

    // Discovery needs no signature and names both services with their prefetch templates.
    let found = app.get("/cds-services");
    assert_eq!(found.status, 200, "{}", found.body);
    conforms("CDSHooksServices", &found.json());
    let services = found.json()["services"].as_array().expect("services").clone();
    let hooks: Vec<(&str, &str)> =
        services.iter().map(|s| (s["id"].as_str().expect("id"), s["hook"].as_str().expect("hook"))).collect();
    assert_eq!(hooks, [("vigil-risk", "patient-view"), ("vigil-discharge-readmission", "encounter-discharge")]);
    assert!(
        services.iter().all(|s| s["prefetch"]["encounters"].as_str().is_some_and(|t| t.contains("context.patientId")))
    );

    // The patient at the top of the admission scores (of those with a discharge), with their encounters as the EHR lists
    // them and one that has not reached Vigil.
    let top = &text(
        &db,
        "SELECT p.fhir_id AS t FROM scores s JOIN models m ON m.id = s.model_id JOIN patients p ON p.id = s.patient_id
          WHERE m.target = 'admission' AND m.status = 'active'
            AND EXISTS (SELECT 1 FROM scores r JOIN models rm ON rm.id = r.model_id
                         WHERE r.patient_id = s.patient_id AND rm.target = 'readmission' AND rm.status = 'active')
          ORDER BY s.probability DESC LIMIT 1",
    )[0];
    let mut listed = text(
        &db,
        &format!(
            "SELECT e.fhir_id AS t FROM encounters e JOIN patients p ON p.id = e.patient_id
              WHERE p.fhir_id = '{top}' ORDER BY e.period_start DESC LIMIT 4"
        ),
    );
    listed.push("ehr-only-1".into());
    let path = "/cds-services/vigil-risk";
    let prefetch = json!({ "patient": { "resourceType": "Patient", "id": top }, "encounters": searchset(&listed) });
    let mut viewed = patient_view(top, prefetch);
    // The example's encounter in context is one Vigil has.
    viewed["context"]["encounterId"] = json!(listed[0]);
    let answer = call(&app, &jwt(&app, &ehr.pem, path, json!({})), path, &viewed);
    assert_eq!(answer.status, 200, "{}", answer.body);
    conforms("CDSHooksResponse", &answer.json());
    let cards = answer.json()["cards"].as_array().expect("cards").clone();
    let admission = cards
        .iter()
        .find(|c| c["summary"].as_str().is_some_and(|s| s.contains("unplanned admission")))
        .unwrap_or_else(|| panic!("an admission card: {cards:?}"));
    assert_eq!(admission["indicator"], "warning", "the top score crosses the top-decile rule: {admission}");
    assert!(admission["summary"].as_str().expect("summary").chars().count() <= 140);
    let detail = admission["detail"].as_str().expect("detail");
    assert!(detail.contains("admission-1") && detail.contains("What raises it most"), "{detail}");
    assert!(detail.contains("1 recent encounter Vigil has not received"), "{detail}");
    assert_eq!(admission["links"][0]["url"], format!("{}/patients/{top}", app.base));
    assert_eq!(admission["links"][0]["type"], "absolute");
    assert!(
        admission["overrideReasons"].as_array().is_some_and(|r| r.iter().any(|c| c["code"] == "planned-admission"))
    );
    assert_eq!(count(&db, "SELECT count(*) AS n FROM cds_cards"), cards.len() as i64);

    // A patient Vigil holds but has not scored, and one it has never received: no card.
    for patient in ["unscored-1", "never-received"] {
        let answer = call(&app, &jwt(&app, &ehr.pem, path, json!({})), path, &patient_view(patient, json!({})));
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.json()["cards"], json!([]), "{patient}");
    }

    // The discharge service, with no prefetch: Vigil reads the encounters from the EHR's FHIR
    // server with the token it lent.
    let (fhir, served) = one_shot_fhir_server(searchset(&["ehr-only-2".into(), "ehr-only-3".into()]));
    let mut discharge = asset("encounter-discharge-request.json");
    discharge["context"]["patientId"] = json!(top);
    discharge["fhirServer"] = json!(fhir);
    discharge["fhirAuthorization"] = json!({ "access_token": "lent-token", "token_type": "Bearer", "expires_in": 300, "scope": "user/Encounter.read", "subject": "vigil" });
    if let Some(prefetch) = discharge.as_object_mut() {
        prefetch.remove("prefetch");
    }
    let path = "/cds-services/vigil-discharge-readmission";
    let answer = call(&app, &jwt(&app, &ehr.pem, path, json!({})), path, &discharge);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let asked = served.join().expect("the FHIR server was asked");
    assert!(asked[0].starts_with(&format!("GET /fhir/Encounter?patient={top}&_sort=-date&_count=5 ")), "{asked:?}");
    assert!(asked.iter().any(|h| h.eq_ignore_ascii_case("authorization: Bearer lent-token")), "{asked:?}");
    let readmission = &answer.json()["cards"][0];
    assert!(readmission["summary"].as_str().is_some_and(|s| s.contains("readmission")), "{readmission}");
    let detail = readmission["detail"].as_str().expect("detail");
    assert!(detail.contains("recent encounters Vigil has not received"), "{detail}");

    // Feedback: the clinician overrode the admission card, saying the admission is planned.
    let mut overridden = asset("feedback-overridden-with-reason.json");
    overridden["feedback"][0]["card"] = admission["uuid"].clone();
    overridden["feedback"][0]["overrideReason"]["reason"] =
        json!({ "code": "planned-admission", "system": "urn:vigil:feedback-reason" });
    overridden["feedback"][0]["overrideReason"]["userComment"] = json!("elective surgery booked");
    let path = "/cds-services/vigil-risk/feedback";
    let stored = call(&app, &jwt(&app, &ehr.pem, path, json!({})), path, &overridden);
    assert_eq!(stored.status, 200, "{}", stored.body);
    let row = text(
        &db,
        "SELECT concat_ws('|', f.source, f.outcome, f.reason, f.note, f.tier, m.version) AS t
           FROM alert_feedback f JOIN models m ON m.id = f.model_id WHERE f.card_uuid IS NOT NULL",
    );
    assert_eq!(row, ["cds-hooks|overridden|planned-admission|elective surgery booked|warning|admission-1"]);
    // A card is answered by the client it went to, about the service that gave it.
    let elsewhere = "/cds-services/vigil-discharge-readmission/feedback";
    let mut again = asset("feedback-accepted.json");
    again["feedback"][0]["card"] = admission["uuid"].clone();
    let refused = call(&app, &jwt(&app, &ehr.pem, elsewhere, json!({})), elsewhere, &again);
    assert_eq!(refused.status, 404, "{}", refused.body);

    // Every call is audited on its patient, as the client.
    let audited = text(
        &db,
        &format!(
            "SELECT concat_ws('|', a.action, a.resource_type, a.outcome) AS t FROM audit_log a
               JOIN patients p ON p.id = a.patient_id
              WHERE p.fhir_id = '{top}' AND a.actor = 'client:{}' ORDER BY a.seq",
            ehr.client
        ),
    );
    assert_eq!(
        audited,
        [
            "read|RiskAssessment|success",
            "read|RiskAssessment|success",
            "respond|CdsCard|success",
            "respond|CdsCard|failure"
        ]
    );
}

#[test]
fn unsigned_badly_signed_unknown_misaddressed_and_replayed_calls_are_refused() {
    let db = TestDb::migrated();
    let ehr = register_ehr(&db, "system/RiskAssessment.read", ISSUER);
    let app = App::spawn(db.url());
    let path = "/cds-services/vigil-risk";
    let body = patient_view("anyone", json!({}));

    let unsigned = app.post_json(path, &[], &body);
    assert_eq!(unsigned.status, 401, "{}", unsigned.body);
    let (_, stranger) = seed::es384_jwks();
    let now = jsonwebtoken::get_current_timestamp();
    for (what, token) in [
        ("another key", jwt(&app, &stranger, path, json!({}))),
        ("an unknown issuer", jwt(&app, &ehr.pem, path, json!({ "iss": "https://elsewhere.test" }))),
        (
            "another service's URL",
            jwt(&app, &ehr.pem, path, json!({ "aud": format!("{}/cds-services/other", app.base) })),
        ),
        ("expired", jwt(&app, &ehr.pem, path, json!({ "iat": now - 900, "exp": now - 600 }))),
        ("living an hour", jwt(&app, &ehr.pem, path, json!({ "exp": now + 3600 }))),
    ] {
        let refused = call(&app, &token, path, &body);
        assert_eq!(refused.status, 401, "{what}: {}", refused.body);
        assert_eq!(refused.json()["error"]["code"], "unauthenticated", "{what}: {}", refused.body);
    }

    let token = jwt(&app, &ehr.pem, path, json!({}));
    let first = call(&app, &token, path, &body);
    assert_eq!(first.status, 200, "a well-signed call: {}", first.body);
    assert_eq!(first.json()["cards"], json!([]), "a patient Vigil never received has no card");
    let replayed = call(&app, &token, path, &body);
    assert_eq!(replayed.status, 401, "a JWT is used once: {}", replayed.body);

    // A disabled client is refused; one that may not read scores gets no card.
    cli(&db, &["client", "disable", &ehr.client]);
    let disabled = call(&app, &jwt(&app, &ehr.pem, path, json!({})), path, &body);
    assert_eq!(disabled.status, 401, "{}", disabled.body);
    let reader = register_ehr(&db, "system/Patient.read", "https://reader.hospital.test");
    let signed = jwt(&app, &reader.pem, path, json!({ "iss": "https://reader.hospital.test" }));
    let denied = call(&app, &signed, path, &body);
    assert_eq!(denied.status, 403, "{}", denied.body);
}
