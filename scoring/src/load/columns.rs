//! What a history is read from, table by table: the columns, and the statuses of rows that never
//! happened. The scoring-run bench copies exactly these as its limit.

use chrono::{DateTime, Utc};
use vigil_store::schema::{conditions, encounters, medication_requests, patients, procedures};

/// The blood-pressure panel, whose systolic component is a feature.
pub const BP_PANEL: &str = "85354-9";

pub const PATIENT_COLUMNS: (
    patients::id,
    patients::fhir_id,
    patients::birth_date,
    patients::sex,
    patients::race_display,
    patients::deceased_at,
) = (
    patients::id,
    patients::fhir_id,
    patients::birth_date,
    patients::sex,
    patients::race_display,
    patients::deceased_at,
);
pub const ENCOUNTER_COLUMNS: (
    encounters::patient_id,
    encounters::fhir_id,
    encounters::class_code,
    encounters::period_start,
    encounters::period_end,
    encounters::priority_code,
    encounters::admit_source_code,
    encounters::discharge_disposition_code,
    encounters::service_type_code,
    encounters::unit,
    encounters::part_of_fhir_id,
) = (
    encounters::patient_id,
    encounters::fhir_id,
    encounters::class_code,
    encounters::period_start,
    encounters::period_end,
    encounters::priority_code,
    encounters::admit_source_code,
    encounters::discharge_disposition_code,
    encounters::service_type_code,
    encounters::unit,
    encounters::part_of_fhir_id,
);
pub const ENCOUNTERS_LEFT_OUT: [&str; 3] = ["cancelled", "entered-in-error", "planned"];
// The clinical status is not read: it is today's, and would leak the future.
pub const CONDITION_COLUMNS: (
    conditions::patient_id,
    conditions::icd10_codes,
    conditions::snomed_codes,
    conditions::recorded_at,
    conditions::onset_at,
    conditions::abatement_at,
    conditions::verification_status,
) = (
    conditions::patient_id,
    conditions::icd10_codes,
    conditions::snomed_codes,
    conditions::recorded_at,
    conditions::onset_at,
    conditions::abatement_at,
    conditions::verification_status,
);
pub const OBSERVATIONS_LEFT_OUT: [&str; 2] = ["cancelled", "entered-in-error"];
pub const PRESCRIPTION_COLUMNS: (
    medication_requests::patient_id,
    medication_requests::status,
    medication_requests::authored_at,
    medication_requests::code_display,
) = (
    medication_requests::patient_id,
    medication_requests::status,
    medication_requests::authored_at,
    medication_requests::code_display,
);
/// A prescription as [`PRESCRIPTION_COLUMNS`] reads it.
pub(super) type PrescriptionRow = (i64, String, Option<DateTime<Utc>>, Option<String>);
pub const PROCEDURE_COLUMNS: (procedures::patient_id, procedures::performed_start, procedures::encounter_fhir_id) =
    (procedures::patient_id, procedures::performed_start, procedures::encounter_fhir_id);
pub const PROCEDURES_LEFT_OUT: [&str; 2] = ["not-done", "entered-in-error"];
