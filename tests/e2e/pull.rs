//! `vigil pull` against a second `vigil serve` as the remote: SMART Backend Services, paging by
//! `_lastUpdated`, resuming from where the last pull stopped, and picking up later changes.

use vigil_store::testing::TestDb;

use crate::ingest::{fixture, line_of};
use crate::support::seed::{self, bearer};
use crate::support::{App, run, vigil};

#[test]
fn pull_copies_a_remote_and_resumes_where_it_stopped() {
    let remote_db = TestDb::migrated();
    let files = ["Patient", "Encounter", "Condition"].map(|t| fixture(&format!("hospital-ndjson/{t}.ndjson.gz")));
    let (status, out, err) = run(vigil().arg("ingest").args(&files).env("DATABASE_URL", remote_db.url()));
    assert!(status.success(), "{out}{err}");
    let (client, pem) = seed::es384_client(remote_db.url(), "system/*.read");
    seed::user(remote_db.url(), "feed", "integration", &[]);
    let remote = App::spawn(remote_db.url());

    let local_db = TestDb::migrated();
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("client.pem");
    std::fs::write(&key, pem).expect("key");
    let from = format!("{}/fhir", remote.base);
    let cert = remote.dir.path().join("tls/cert.pem");
    let pull = |extra: &[&str]| {
        let mut cmd = vigil();
        cmd.args(["pull", "--from", &from, "--client-id", &client, "--kid", "lab-1"])
            .arg("--key")
            .arg(&key)
            .arg("--ca-cert")
            .arg(&cert)
            .args(extra)
            .env("DATABASE_URL", local_db.url());
        let (status, out, err) = run(&mut cmd);
        assert!(status.success(), "vigil pull {extra:?}: {out}{err}");
        out
    };

    let first = pull(&["--since", "2000-01-01", "--page-size", "100"]);
    assert_eq!(line_of(&first, "Patient"), ["Patient", "217", "0", "0", "0", "0"], "{first}");
    assert_eq!(line_of(&first, "Encounter"), ["Encounter", "1281", "0", "0", "0", "0"], "{first}");
    assert_eq!(line_of(&first, "Condition"), ["Condition", "658", "0", "0", "0", "0"], "{first}");

    // Without --since it resumes at the high-water mark: only the last minutes again, unchanged.
    let again = pull(&[]);
    let patients = line_of(&again, "Patient");
    assert_eq!((patients[1].as_str(), patients[2].as_str()), ("0", "0"), "nothing new: {again}");

    // A change at the remote arrives with the next pull as a new version.
    let token = bearer(&seed::token(&remote, "feed"));
    let auth = [("authorization", token.as_str())];
    let mut patient = remote.get_with("/fhir/Patient/pt-00ddd5bb1c41", &auth).json();
    patient["gender"] = serde_json::json!("unknown");
    let put = remote.request("PUT", "/fhir/Patient/pt-00ddd5bb1c41", &auth, Some(patient.to_string()));
    assert_eq!(put.status, 200, "{}", put.body);
    let third = pull(&["--type", "Patient"]);
    assert_eq!(line_of(&third, "Patient")[2], "1", "one updated: {third}");
    let mut conn = local_db.connect();
    use diesel::prelude::*;
    use vigil_store::schema::patients;
    let (sex, version): (Option<String>, i32) = patients::table
        .filter(patients::fhir_id.eq("pt-00ddd5bb1c41"))
        .select((patients::sex, patients::version))
        .first(&mut conn)
        .expect("patient");
    assert_eq!((sex.as_deref(), version), (Some("unknown"), 2));
}
