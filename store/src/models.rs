//! Row types of the store's tables. Each derives `Selectable` with `check_for_backend`, so a
//! field whose Rust type does not match its column's SQL type fails to compile.
//!
//! Mapped rows hold the current version of one FHIR resource of one source system; see the
//! clinical-core migration for the meaning of the shared version columns.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use serde_json::Value as Json;

use crate::schema::{conditions, encounters, medication_requests, observations, patients, procedures, raw_resources};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = patients, check_for_backend(diesel::pg::Pg))]
pub struct Patient {
    pub id: i64,
    pub source_system: String,
    pub fhir_id: String,
    /// 0 while the patient is only known from references to it.
    pub version: i32,
    pub source_version_id: Option<String>,
    pub source_last_updated: Option<DateTime<Utc>>,
    pub content_hash: Option<Vec<u8>>,
    pub mrn: Option<String>,
    pub identifiers: Json,
    pub family_name: Option<String>,
    pub given_names: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub sex: Option<String>,
    pub race_code: Option<String>,
    pub race_display: Option<String>,
    pub ethnicity_code: Option<String>,
    pub ethnicity_display: Option<String>,
    pub deceased: bool,
    pub deceased_at: Option<DateTime<Utc>>,
    pub postal_code: Option<String>,
    pub stored_at: DateTime<Utc>,
}

/// A patient as received, before it has a row id.
#[derive(Debug, Clone, Default, PartialEq, Insertable)]
#[diesel(table_name = patients, check_for_backend(diesel::pg::Pg))]
pub struct NewPatient {
    pub source_system: String,
    pub fhir_id: String,
    pub version: i32,
    pub source_version_id: Option<String>,
    pub source_last_updated: Option<DateTime<Utc>>,
    pub content_hash: Option<Vec<u8>>,
    pub mrn: Option<String>,
    pub identifiers: Json,
    pub family_name: Option<String>,
    pub given_names: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub sex: Option<String>,
    pub race_code: Option<String>,
    pub race_display: Option<String>,
    pub ethnicity_code: Option<String>,
    pub ethnicity_display: Option<String>,
    pub deceased: bool,
    pub deceased_at: Option<DateTime<Utc>>,
    pub postal_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, Associations)]
#[diesel(table_name = encounters, belongs_to(Patient), check_for_backend(diesel::pg::Pg))]
pub struct Encounter {
    pub id: i64,
    pub source_system: String,
    pub fhir_id: String,
    pub version: i32,
    pub source_version_id: Option<String>,
    pub source_last_updated: Option<DateTime<Utc>>,
    pub content_hash: Vec<u8>,
    pub patient_id: i64,
    pub status: String,
    /// v3 ActCode: AMB, EMER, IMP, ...
    pub class_code: Option<String>,
    pub period_start: Option<DateTime<Utc>>,
    pub period_end: Option<DateTime<Utc>>,
    pub priority_code: Option<String>,
    pub admit_source_code: Option<String>,
    pub discharge_disposition_code: Option<String>,
    pub service_type_code: Option<String>,
    pub location_fhir_id: Option<String>,
    pub unit: Option<String>,
    pub reason_codes: Json,
    pub diagnoses: Json,
    pub part_of_fhir_id: Option<String>,
    pub stored_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, Associations)]
#[diesel(table_name = conditions, belongs_to(Patient), check_for_backend(diesel::pg::Pg))]
pub struct Condition {
    pub id: i64,
    pub source_system: String,
    pub fhir_id: String,
    pub version: i32,
    pub source_version_id: Option<String>,
    pub source_last_updated: Option<DateTime<Utc>>,
    pub content_hash: Vec<u8>,
    pub patient_id: i64,
    pub encounter_fhir_id: Option<String>,
    /// Postgres arrays may hold NULLs, so diesel reads their elements as options.
    pub icd10_codes: Vec<Option<String>>,
    pub snomed_codes: Vec<Option<String>>,
    pub code_display: Option<String>,
    pub clinical_status: Option<String>,
    pub verification_status: Option<String>,
    pub category_code: Option<String>,
    pub onset_at: Option<DateTime<Utc>>,
    pub abatement_at: Option<DateTime<Utc>>,
    pub recorded_at: Option<DateTime<Utc>>,
    pub stored_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, Associations)]
#[diesel(table_name = observations, belongs_to(Patient), check_for_backend(diesel::pg::Pg))]
pub struct Observation {
    pub id: i64,
    pub source_system: String,
    pub fhir_id: String,
    pub version: i32,
    pub source_version_id: Option<String>,
    pub source_last_updated: Option<DateTime<Utc>>,
    pub content_hash: Vec<u8>,
    pub patient_id: i64,
    pub encounter_fhir_id: Option<String>,
    pub status: String,
    pub category_code: Option<String>,
    pub loinc_code: Option<String>,
    pub code_display: Option<String>,
    pub effective_at: Option<DateTime<Utc>>,
    pub value_quantity: Option<f64>,
    pub value_unit: Option<String>,
    pub value_code: Option<String>,
    pub value_text: Option<String>,
    pub components: Json,
    pub stored_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, Associations)]
#[diesel(table_name = medication_requests, belongs_to(Patient), check_for_backend(diesel::pg::Pg))]
pub struct MedicationRequest {
    pub id: i64,
    pub source_system: String,
    pub fhir_id: String,
    pub version: i32,
    pub source_version_id: Option<String>,
    pub source_last_updated: Option<DateTime<Utc>>,
    pub content_hash: Vec<u8>,
    pub patient_id: i64,
    pub encounter_fhir_id: Option<String>,
    pub status: String,
    pub intent: Option<String>,
    pub rxnorm_code: Option<String>,
    pub code_display: Option<String>,
    pub authored_at: Option<DateTime<Utc>>,
    pub stored_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, Associations)]
#[diesel(table_name = procedures, belongs_to(Patient), check_for_backend(diesel::pg::Pg))]
pub struct Procedure {
    pub id: i64,
    pub source_system: String,
    pub fhir_id: String,
    pub version: i32,
    pub source_version_id: Option<String>,
    pub source_last_updated: Option<DateTime<Utc>>,
    pub content_hash: Vec<u8>,
    pub patient_id: i64,
    pub encounter_fhir_id: Option<String>,
    pub status: String,
    pub code_system: Option<String>,
    pub code: Option<String>,
    pub code_display: Option<String>,
    pub performed_start: Option<DateTime<Utc>>,
    pub performed_end: Option<DateTime<Utc>>,
    pub stored_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = raw_resources, check_for_backend(diesel::pg::Pg))]
pub struct RawResource {
    pub id: i64,
    pub source_system: String,
    pub resource_type: String,
    pub fhir_id: String,
    pub version: i32,
    pub source_version_id: Option<String>,
    pub source_last_updated: Option<DateTime<Utc>>,
    /// SHA-256 of the canonical JSON.
    pub content_hash: Vec<u8>,
    pub content: Json,
    pub received_at: DateTime<Utc>,
    /// NULL for the current version of the resource.
    pub superseded_at: Option<DateTime<Utc>>,
    /// A tombstone: the resource was deleted in this version.
    pub deleted: bool,
}

/// A mapped Encounter ready to store (the ingester fills the version columns and `patient_id`).
/// This and the other mapped clinical rows are written with `COPY` when new, so a `None` is NULL
/// (not the column's default): their optional columns default to NULL anyway.
#[derive(Debug, Clone, Default, PartialEq, Insertable)]
#[diesel(table_name = encounters, check_for_backend(diesel::pg::Pg), treat_none_as_default_value = false)]
pub struct NewEncounter {
    pub source_system: String,
    pub fhir_id: String,
    pub version: i32,
    pub source_version_id: Option<String>,
    pub source_last_updated: Option<DateTime<Utc>>,
    pub content_hash: Vec<u8>,
    pub patient_id: i64,
    pub status: String,
    pub class_code: Option<String>,
    pub period_start: Option<DateTime<Utc>>,
    pub period_end: Option<DateTime<Utc>>,
    pub priority_code: Option<String>,
    pub admit_source_code: Option<String>,
    pub discharge_disposition_code: Option<String>,
    pub service_type_code: Option<String>,
    pub location_fhir_id: Option<String>,
    pub unit: Option<String>,
    pub reason_codes: Json,
    pub diagnoses: Json,
    pub part_of_fhir_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Insertable)]
#[diesel(table_name = conditions, check_for_backend(diesel::pg::Pg), treat_none_as_default_value = false)]
pub struct NewCondition {
    pub source_system: String,
    pub fhir_id: String,
    pub version: i32,
    pub source_version_id: Option<String>,
    pub source_last_updated: Option<DateTime<Utc>>,
    pub content_hash: Vec<u8>,
    pub patient_id: i64,
    pub encounter_fhir_id: Option<String>,
    pub icd10_codes: Vec<Option<String>>,
    pub snomed_codes: Vec<Option<String>>,
    pub code_display: Option<String>,
    pub clinical_status: Option<String>,
    pub verification_status: Option<String>,
    pub category_code: Option<String>,
    pub onset_at: Option<DateTime<Utc>>,
    pub abatement_at: Option<DateTime<Utc>>,
    pub recorded_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq, Insertable)]
#[diesel(table_name = observations, check_for_backend(diesel::pg::Pg), treat_none_as_default_value = false)]
pub struct NewObservation {
    pub source_system: String,
    pub fhir_id: String,
    pub version: i32,
    pub source_version_id: Option<String>,
    pub source_last_updated: Option<DateTime<Utc>>,
    pub content_hash: Vec<u8>,
    pub patient_id: i64,
    pub encounter_fhir_id: Option<String>,
    pub status: String,
    pub category_code: Option<String>,
    pub loinc_code: Option<String>,
    pub code_display: Option<String>,
    pub effective_at: Option<DateTime<Utc>>,
    pub value_quantity: Option<f64>,
    pub value_unit: Option<String>,
    pub value_code: Option<String>,
    pub value_text: Option<String>,
    pub components: Json,
}

#[derive(Debug, Clone, Default, PartialEq, Insertable)]
#[diesel(table_name = medication_requests, check_for_backend(diesel::pg::Pg), treat_none_as_default_value = false)]
pub struct NewMedicationRequest {
    pub source_system: String,
    pub fhir_id: String,
    pub version: i32,
    pub source_version_id: Option<String>,
    pub source_last_updated: Option<DateTime<Utc>>,
    pub content_hash: Vec<u8>,
    pub patient_id: i64,
    pub encounter_fhir_id: Option<String>,
    pub status: String,
    pub intent: Option<String>,
    pub rxnorm_code: Option<String>,
    pub code_display: Option<String>,
    pub authored_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq, Insertable)]
#[diesel(table_name = procedures, check_for_backend(diesel::pg::Pg), treat_none_as_default_value = false)]
pub struct NewProcedure {
    pub source_system: String,
    pub fhir_id: String,
    pub version: i32,
    pub source_version_id: Option<String>,
    pub source_last_updated: Option<DateTime<Utc>>,
    pub content_hash: Vec<u8>,
    pub patient_id: i64,
    pub encounter_fhir_id: Option<String>,
    pub status: String,
    pub code_system: Option<String>,
    pub code: Option<String>,
    pub code_display: Option<String>,
    pub performed_start: Option<DateTime<Utc>>,
    pub performed_end: Option<DateTime<Utc>>,
}

/// A version of a resource to store. Written with `COPY` by the ingester, so a `None` is NULL
/// (not the column's default): here the defaults are NULL anyway.
#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = raw_resources, check_for_backend(diesel::pg::Pg), treat_none_as_default_value = false)]
pub struct NewRawResource {
    pub source_system: String,
    pub resource_type: String,
    pub fhir_id: String,
    pub version: i32,
    pub source_version_id: Option<String>,
    pub source_last_updated: Option<DateTime<Utc>>,
    pub content_hash: Vec<u8>,
    pub content: JsonText,
    pub superseded_at: Option<DateTime<Utc>>,
    pub deleted: bool,
}

/// JSON already serialized, written to a `jsonb` column as it is. Serializing is the costliest
/// part of writing a resource; done beforehand, it can run on another thread than the writer.
#[derive(Debug, Clone, PartialEq, Eq, diesel::expression::AsExpression)]
#[diesel(sql_type = diesel::sql_types::Jsonb)]
pub struct JsonText(pub String);

impl JsonText {
    pub fn of(value: &Json) -> Self {
        Self(value.to_string())
    }
}

impl diesel::serialize::ToSql<diesel::sql_types::Jsonb, diesel::pg::Pg> for JsonText {
    fn to_sql<'b>(&'b self, out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>) -> diesel::serialize::Result {
        use std::io::Write;
        // The binary jsonb format: a version byte, then the JSON text.
        out.write_all(&[1])?;
        out.write_all(self.0.as_bytes())?;
        Ok(diesel::serialize::IsNull::No)
    }
}

/// A score to store. Written with `COPY`, so a `None` is NULL.
#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = crate::schema::scores, check_for_backend(diesel::pg::Pg), treat_none_as_default_value = false)]
pub struct NewScore {
    pub run_id: i64,
    pub model_id: i64,
    pub patient_id: i64,
    pub encounter_fhir_id: Option<String>,
    pub as_of: DateTime<Utc>,
    pub probability: Option<f64>,
    pub points: Option<i32>,
    pub features: Vec<f64>,
    /// Serialized by the scorer: a run writes a million of these.
    pub factors: JsonText,
}
