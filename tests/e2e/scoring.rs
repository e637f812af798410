//! Scoring, black-box: runs that resume and never overlap, the worker rescoring changed patients,
//! scores served as RiskAssessments, live and training features alike, the fixtures end to end;
//! and the helpers other tests build their populations with (`vigil synth`, `vigil ingest`).

use vigil_store::testing::TestDb;

use crate::support::{run, vigil};

pub fn cli(db: &TestDb, args: &[&str]) -> String {
    let (status, out, err) = run(vigil().args(args).env("DATABASE_URL", db.url()));
    assert!(status.success(), "vigil {args:?}: {out}{err}");
    out
}

/// A database holding a small synthetic population with three years of history.
pub fn population(patients: u32) -> TestDb {
    population_of(patients, 3)
}

/// A database holding a small synthetic population with `years` of history.
pub fn population_of(patients: u32, years: u32) -> TestDb {
    let db = TestDb::migrated();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().to_str().expect("path");
    let (patients, years) = (patients.to_string(), years.to_string());
    cli(&db, &["synth", "--patients", &patients, "--years", &years, "--seed", "7", "--out", out]);
    cli(&db, &["ingest", out]);
    db
}

/// Makes `version` active. The populations of tests are too small to measure calibration on (a
/// slope from 20 events has an interval wider than the 0.8–1.2 bound), so each activation records
/// that as its override; the bound itself is tested in `models.rs`.
pub fn activate(db: &TestDb, version: &str) -> String {
    cli(db, &["model", "activate", version, "--override", "a test population too small to measure calibration"])
}

pub fn count(db: &TestDb, sql: &str) -> i64 {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(sql).get_result::<N>(&mut db.connect()).expect(sql).n
}

/// Trains and activates a model of each target on `db`.
pub fn with_active_models(db: &TestDb) {
    cli(db, &["train", "--target", "readmission"]);
    activate(db, "readmission-4");
    cli(db, &["train", "--target", "admission"]);
    activate(db, "admission-1");
}

#[test]
fn a_killed_run_resumes_and_scores_everyone_exactly_once() {
    let db = population(1500);
    with_active_models(&db);
    cli(&db, &["train", "--target", "admission", "--algorithm", "gradient-boosting"]);
    let patients = count(&db, "SELECT count(*) AS n FROM patients WHERE version > 0");
    let mut first = vigil()
        .args(["score", "--as-of", "2026-10-01", "--chunk", "10"])
        .env("DATABASE_URL", db.url())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    crate::support::poll("the run to be halfway", || {
        (count(&db, "SELECT COALESCE(max(scored), 0)::bigint AS n FROM scoring_runs") >= 100).then_some(())
    });
    first.kill().expect("kill");
    first.wait().expect("wait");
    let done_before = count(&db, "SELECT count(*) AS n FROM scoring_runs WHERE status = 'done'");
    assert_eq!(done_before, 0, "killed before the end");
    // A model put in shadow meanwhile waits for the next run: this one finishes with the models it
    // started with, so each of them scores every patient of it.
    cli(&db, &["model", "shadow", "admission-2"]);

    let out = cli(&db, &["score", "--chunk", "50"]);
    assert!(out.contains("resumed a run that had stopped"), "{out}");
    assert_eq!(count(&db, "SELECT count(*) AS n FROM scoring_runs"), 1, "the same run, finished");
    assert_eq!(count(&db, "SELECT scored::bigint AS n FROM scoring_runs"), patients, "every patient once");
    let admission_scored = count(
        &db,
        "SELECT count(*) AS n FROM scores s JOIN models m ON m.id = s.model_id WHERE m.version = 'admission-1'",
    );
    let distinct = count(
        &db,
        "SELECT count(DISTINCT patient_id) AS n FROM scores s JOIN models m ON m.id = s.model_id WHERE m.version = 'admission-1'",
    );
    assert_eq!(admission_scored, distinct, "no patient scored twice by one model in the run");
    assert!(admission_scored > patients / 2, "{admission_scored} of {patients}: those at home were scored");
    let challenger = count(
        &db,
        "SELECT count(*) AS n FROM scores s JOIN models m ON m.id = s.model_id WHERE m.version = 'admission-2'",
    );
    assert_eq!(challenger, 0, "not a model of the run when it started");
    let explained = count(
        &db,
        "SELECT count(*) AS n FROM scores WHERE probability IS NOT NULL AND jsonb_array_length(factors) > 0",
    );
    assert!(explained > 0, "scores carry their factors");
    let baselines = count(
        &db,
        "SELECT count(*) AS n FROM scores s JOIN models m ON m.id = s.model_id WHERE m.algorithm IN ('lace', 'hospital')",
    );
    let readmission_scores = count(
        &db,
        "SELECT count(*) AS n FROM scores s JOIN models m ON m.id = s.model_id WHERE m.version = 'readmission-4'",
    );
    assert_eq!(baselines, 2 * readmission_scores, "LACE and HOSPITAL beside every readmission score");
}

#[test]
fn concurrent_runs_never_overlap() {
    let db = population(600);
    with_active_models(&db);
    let runners: Vec<_> = (0..3)
        .map(|_| {
            vigil()
                .args(["score", "--chunk", "20"])
                .env("DATABASE_URL", db.url())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let outputs: Vec<_> = runners.into_iter().map(|r| r.wait_with_output().expect("wait")).collect();
    let finished = outputs.iter().filter(|o| o.status.success()).count() as i64;
    assert!(finished >= 1);
    assert_eq!(count(&db, "SELECT count(*) AS n FROM scoring_runs"), finished, "a busy runner starts no run");
    let overlapping = count(
        &db,
        "SELECT count(*) AS n FROM scoring_runs a JOIN scoring_runs b ON a.id < b.id \
         WHERE a.started_at < b.finished_at AND b.started_at < a.finished_at",
    );
    assert_eq!(overlapping, 0, "one run at a time");
}

#[test]
fn the_worker_rescores_a_patient_whose_data_changed_within_seconds() {
    let db = population(400);
    with_active_models(&db);
    let mail = tempfile::tempdir().expect("mail dir");
    let log = mail.path().join("worker.log");
    let mut worker = vigil()
        .arg("worker")
        .env("DATABASE_URL", db.url())
        .env("VIGIL_SERVER__PUBLIC_URL", "https://vigil.test")
        .env("VIGIL_EMAIL__MAIL_DIR", mail.path())
        .env("VIGIL_SCORE_CRON", "all=0 0 2 1 1 *")
        .env("VIGIL_LOG__FORMAT", "json")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("spawn worker");
    // The first pass works off the feed of the initial load.
    crate::support::poll("the initial changes to be scored", || {
        (count(&db, "SELECT count(*) AS n FROM scoring_runs WHERE kind = 'changed' AND status = 'done'") >= 1)
            .then_some(())
    });
    let patient: String = {
        use diesel::prelude::*;
        use vigil_store::schema::patients;
        patients::table
            .filter(patients::version.gt(0))
            .order(patients::id)
            .select(patients::fhir_id)
            .first(&mut db.connect())
            .expect("a patient")
    };
    let before = count(&db, "SELECT count(*) AS n FROM scoring_runs");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("Observation.ndjson");
    let observation = serde_json::json!({
        "resourceType": "Observation", "id": "fresh-sodium", "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "2951-2" }] },
        "subject": { "reference": format!("Patient/{patient}") },
        "effectiveDateTime": chrono::Utc::now().to_rfc3339(),
        "valueQuantity": { "value": 124, "unit": "mmol/L" },
    });
    std::fs::write(&file, format!("{observation}\n")).expect("write");
    cli(&db, &["ingest", file.to_str().expect("path")]);
    crate::support::poll("the changed patient to be re-scored", || {
        (count(
            &db,
            &format!(
                "SELECT count(*) AS n FROM scores s JOIN scoring_runs r ON r.id = s.run_id JOIN patients p ON p.id = s.patient_id \
                 WHERE r.id > {before} AND r.kind = 'changed' AND p.fhir_id = '{patient}'"
            ),
        ) > 0)
            .then_some(())
    });
    let _ = worker.kill();
    let _ = worker.wait();
    // What a run logs is in a span naming its kind, and names no patient.
    let logged = std::fs::read_to_string(&log).expect("worker log");
    let in_span = logged.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).any(|line| {
        line["span"]["name"] == "scoring_run" && line["span"]["kind"] == "changes" && line["scores"].as_u64() > Some(0)
    });
    assert!(in_span, "a scoring run's summary in its span:\n{logged}");
    assert!(!logged.contains(&patient), "the worker's log names a patient");
}

#[test]
fn scores_are_served_as_risk_assessments_and_summed_for_capacity() {
    let db = population(400);
    with_active_models(&db);
    cli(&db, &["score", "--as-of", "2026-10-01"]);
    crate::support::seed::user(db.url(), "analyst", "informatics", &[]);
    crate::support::seed::user(db.url(), "planner", "clinician", &[]);
    let app = crate::support::App::spawn(db.url());
    let token = crate::support::seed::bearer(&crate::support::seed::token(&app, "analyst"));
    let auth = [("authorization", token.as_str())];
    let patient: String = {
        use diesel::prelude::*;
        use vigil_store::schema::{models, patients, scores};
        scores::table
            .inner_join(patients::table)
            .inner_join(models::table)
            .filter(models::version.eq("admission-1"))
            .select(patients::fhir_id)
            .first(&mut db.connect())
            .expect("a scored patient")
    };
    let found = app.get_with(&format!("/fhir/RiskAssessment?subject=Patient/{patient}&_sort=-date"), &auth);
    assert_eq!(found.status, 200, "{}", found.body);
    let bundle = found.json();
    let assessment = &bundle["entry"][0]["resource"];
    assert_eq!(assessment["resourceType"], "RiskAssessment");
    assert_eq!(assessment["subject"]["reference"], format!("Patient/{patient}"));
    assert_eq!(assessment["method"]["coding"][0]["code"], "admission-1");
    let p = assessment["prediction"][0]["probabilityDecimal"].as_f64().expect("probability");
    assert!((0.0..=1.0).contains(&p));
    assert_eq!(assessment["prediction"][0]["whenRange"]["high"]["value"], 30);
    let id = assessment["id"].as_str().expect("id");
    let read = app.get_with(&format!("/fhir/RiskAssessment/{id}"), &auth);
    assert_eq!(read.status, 200);
    assert_eq!(read.json()["id"], id);
    assert_eq!(app.get_with("/fhir/RiskAssessment", &auth).status, 400, "a subject is required");
    assert_eq!(app.get_with("/fhir/RiskAssessment/999999999", &auth).status, 404);

    let risk = app.get_with(&format!("/api/patients/{patient}/risk"), &auth).json();
    assert!(risk["current"]["admission"]["probability"].is_f64(), "{risk}");
    assert!(!risk["history"].as_array().expect("history").is_empty());

    let planner = crate::support::seed::bearer(&crate::support::seed::token(&app, "planner"));
    let forecast = app.get_with("/api/capacity?days=7&by=unit", &[("authorization", &planner)]);
    assert_eq!(forecast.status, 200, "{}", forecast.body);
    let forecast = forecast.json();
    let expected = forecast["admissions"]["expected"].as_f64().expect("expected");
    assert!(expected > 0.0 && forecast["admissions"]["low"].as_f64() <= Some(expected));
    assert!(forecast["by_unit"].as_array().is_some_and(|u| !u.is_empty()));
    let nurse_reads =
        app.get_with(&format!("/fhir/RiskAssessment?subject=Patient/{patient}"), &[("authorization", &planner)]);
    assert_eq!(nurse_reads.status, 403, "a clinician reads scores of their own units' patients only");
    assert_eq!(app.get_with("/api/capacity?days=90", &auth).status, 400);
}

#[test]
fn live_scoring_and_training_compute_identical_feature_vectors() {
    use diesel::prelude::*;
    use vigil_scoring::training::{Target, examples};
    use vigil_store::schema::{models, scores};
    let db = population(400);
    with_active_models(&db);
    cli(&db, &["score", "--as-of", "2026-10-01"]);
    let mut conn = db.connect();
    let data_end = vigil_scoring::load::data_end(&mut conn).expect("query").expect("data");
    type Stored = (i64, Option<String>, chrono::DateTime<chrono::Utc>, Vec<Option<f64>>, String);
    let stored: Vec<Stored> = scores::table
        .inner_join(models::table)
        .filter(models::version.eq_any(["admission-1", "readmission-4"]))
        .select((scores::patient_id, scores::encounter_fhir_id, scores::as_of, scores::features, models::target))
        .order(scores::id)
        .load(&mut conn)
        .expect("scores");
    assert!(stored.iter().any(|s| s.4 == "admission") && stored.iter().any(|s| s.4 == "readmission"));
    for (patient, encounter, as_of, live, target) in stored {
        let history = vigil_scoring::load::histories(&mut conn, &[patient], vigil_scoring::load::Span::Whole)
            .expect("history")
            .remove(0);
        let live: Vec<f64> = live.into_iter().flatten().collect();
        // The training path labels what follows the index time, so it is given an end of data far
        // enough on for these index events to count.
        let end = data_end + chrono::Duration::days(60);
        let trained: Vec<f64> = match target.as_str() {
            "admission" => examples(&history, Target::Admission, end, &[as_of]),
            _ => examples(&history, Target::Readmission, end, &[]),
        }
        .into_iter()
        .find(|e| e.encounter_fhir_id == encounter && e.index_time == as_of)
        .expect("the scored event is a training example")
        .features;
        assert_eq!(live, trained, "{target} features of patient {patient} as of {as_of}");
    }
    // And an admission example of the training path equals a live computation at its time.
    let ids = vigil_scoring::load::patient_ids(&mut conn, 0, 20).expect("ids");
    for history in vigil_scoring::load::histories(&mut conn, &ids, vigil_scoring::load::Span::Whole).expect("histories")
    {
        let at = chrono::DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z").expect("t").with_timezone(&chrono::Utc);
        for example in examples(&history, Target::Admission, data_end, &[at]) {
            let live =
                vigil_scoring::run::score(&history, at, &vigil_scoring::run::models_in_use(&mut conn).expect("models"));
            let admission = live.iter().find(|s| s.encounter_fhir_id.is_none()).expect("an admission score");
            assert_eq!(admission.features, example.features);
        }
    }
}

#[test]
fn the_fixtures_run_end_to_end() {
    // The fixtures alone hold too few outcomes to train on (43 discharges, 4 readmissions), so a
    // synthetic population of another source shares the database, as a hospital's own history
    // would; everything else is the fixtures' own.
    let db = TestDb::migrated();
    let fixtures = crate::ingest::fixture("");
    cli(&db, &["ingest", fixtures.to_str().expect("path")]);
    let dir = tempfile::tempdir().expect("tempdir");
    let synth = dir.path().to_str().expect("path");
    cli(&db, &["synth", "--patients", "1000", "--years", "6", "--seed", "3", "--out", synth]);
    cli(&db, &["ingest", "--source", "urn:vigil:synth", synth]);
    for (target, version) in [("readmission", "readmission-4"), ("admission", "admission-1")] {
        let report = cli(&db, &["train", "--target", target, "--until", "2025-01-01"]);
        assert!(report.contains(&format!("registered {version}")), "{report}");
        activate(&db, version);
    }

    cli(&db, &["score", "--as-of", "2025-12-31"]);
    let fixture_scores = count(
        &db,
        "SELECT count(*) AS n FROM scores s JOIN patients p ON p.id = s.patient_id \
         WHERE p.source_system <> 'urn:vigil:synth' AND s.probability IS NOT NULL",
    );
    assert!(fixture_scores > 100, "{fixture_scores} scores of fixture patients");

    use diesel::prelude::*;
    use vigil_store::schema::{patients, scores};
    let mut conn = db.connect();
    let fixture_patients: std::collections::HashSet<String> = patients::table
        .filter(patients::source_system.ne("urn:vigil:synth"))
        .select(patients::fhir_id)
        .load(&mut conn)
        .expect("patients")
        .into_iter()
        .collect();
    let csv = dir.path().join("backtest.csv");
    let args = ["backtest", "--target", "readmission", "--from", "2025-01-01", "--to", "2026-01-01", "--out"];
    cli(&db, &[&args[..], &[csv.to_str().expect("path")]].concat());
    let text = std::fs::read_to_string(&csv).expect("csv");
    let fixture_events =
        text.lines().skip(1).filter(|l| l.split(',').next().is_some_and(|p| fixture_patients.contains(p))).count();
    assert!(fixture_events >= 10, "{fixture_events} discharges of fixture patients in the backtest:\n{text}");

    // A fixture patient's score, as the FHIR API serves it.
    let patient: String = scores::table
        .inner_join(patients::table)
        .filter(patients::source_system.ne("urn:vigil:synth"))
        .select(patients::fhir_id)
        .first(&mut conn)
        .expect("a scored fixture patient");
    crate::support::seed::user(db.url(), "analyst", "informatics", &[]);
    let app = crate::support::App::spawn(db.url());
    let token = crate::support::seed::bearer(&crate::support::seed::token(&app, "analyst"));
    let found = app
        .get_with(&format!("/fhir/RiskAssessment?subject=Patient/{patient}&_sort=-date"), &[("authorization", &token)]);
    assert_eq!(found.status, 200, "{}", found.body);
    let bundle = found.json();
    let method = &bundle["entry"][0]["resource"]["method"]["coding"][0]["code"];
    assert!(["admission-1", "readmission-4"].contains(&method.as_str().unwrap_or_default()), "{bundle}");
}
