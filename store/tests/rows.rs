//! The row types read what the migrations create, and the database's own constraints keep
//! re-ingestion idempotent whatever the application does.

use diesel::prelude::*;
use serde_json::json;
use vigil_store::models::{NewPatient, Patient, RawResource};
use vigil_store::schema::{patients, raw_resources};
use vigil_store::testing::TestDb;

fn new_patient(fhir_id: &str) -> NewPatient {
    NewPatient {
        source_system: "urn:test:ehr".into(),
        fhir_id: fhir_id.into(),
        version: 1,
        source_version_id: Some("1".into()),
        source_last_updated: None,
        content_hash: Some(vec![7; 32]),
        mrn: Some("MRN-1".into()),
        identifiers: json!([{ "system": "urn:mrn", "value": "MRN-1" }]),
        family_name: Some("Testperson".into()),
        given_names: Some("Ada".into()),
        birth_date: chrono::NaiveDate::from_ymd_opt(1950, 3, 1),
        sex: Some("female".into()),
        race_code: None,
        race_display: None,
        ethnicity_code: None,
        ethnicity_display: None,
        deceased: false,
        deceased_at: None,
        postal_code: Some("02139".into()),
    }
}

#[test]
fn a_patient_round_trips_and_its_natural_key_is_unique() {
    let db = TestDb::migrated();
    let mut conn = db.connect();
    let stored: Patient = diesel::insert_into(patients::table)
        .values(&new_patient("p1"))
        .returning(Patient::as_returning())
        .get_result(&mut conn)
        .expect("insert");
    let read = patients::table.find(stored.id).select(Patient::as_select()).first(&mut conn).expect("read");
    assert_eq!(read, stored);
    assert_eq!(read.birth_date, chrono::NaiveDate::from_ymd_opt(1950, 3, 1));

    let duplicate = diesel::insert_into(patients::table).values(&new_patient("p1")).execute(&mut conn);
    assert!(
        matches!(
            duplicate,
            Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _))
        ),
        "the same patient from the same source cannot be stored twice: {duplicate:?}"
    );
}

#[test]
fn a_patient_known_only_by_reference_has_no_version() {
    let db = TestDb::migrated();
    let mut conn = db.connect();
    let mut placeholder = new_patient("p2");
    placeholder.content_hash = None;
    let refused = diesel::insert_into(patients::table).values(&placeholder).execute(&mut conn);
    assert!(refused.is_err(), "version 1 without content is refused");
    placeholder.version = 0;
    diesel::insert_into(patients::table).values(&placeholder).execute(&mut conn).expect("placeholder");
}

#[test]
fn raw_resources_keep_one_row_per_version_and_one_current_version() {
    let db = TestDb::migrated();
    let mut conn = db.connect();
    let insert = |conn: &mut PgConnection, version: i32, hash: u8, current: bool| {
        diesel::insert_into(raw_resources::table)
            .values((
                raw_resources::source_system.eq("urn:test:ehr"),
                raw_resources::resource_type.eq("Basic"),
                raw_resources::fhir_id.eq("b1"),
                raw_resources::version.eq(version),
                raw_resources::content_hash.eq(vec![hash; 32]),
                raw_resources::content.eq(json!({ "resourceType": "Basic", "id": "b1" })),
                raw_resources::superseded_at.eq(if current { None } else { Some(chrono::Utc::now()) }),
            ))
            .execute(conn)
    };
    insert(&mut conn, 1, 1, false).expect("first version");
    insert(&mut conn, 2, 2, true).expect("second version, current");
    assert!(insert(&mut conn, 2, 3, false).is_err(), "one row per version");
    assert!(insert(&mut conn, 3, 3, true).is_err(), "only one current version");
    // A revert: an earlier content as a later version.
    insert(&mut conn, 3, 1, false).expect("the same content may stand in two versions");
    let rows: Vec<RawResource> = raw_resources::table.select(RawResource::as_select()).load(&mut conn).expect("load");
    assert_eq!(rows.len(), 3);
}
