// @generated automatically by Diesel CLI.

diesel::table! {
    conditions (id) {
        id -> Int8,
        source_system -> Text,
        fhir_id -> Text,
        version -> Int4,
        source_version_id -> Nullable<Text>,
        source_last_updated -> Nullable<Timestamptz>,
        content_hash -> Bytea,
        patient_id -> Int8,
        encounter_fhir_id -> Nullable<Text>,
        icd10_codes -> Array<Nullable<Text>>,
        snomed_codes -> Array<Nullable<Text>>,
        code_display -> Nullable<Text>,
        clinical_status -> Nullable<Text>,
        verification_status -> Nullable<Text>,
        category_code -> Nullable<Text>,
        onset_at -> Nullable<Timestamptz>,
        abatement_at -> Nullable<Timestamptz>,
        recorded_at -> Nullable<Timestamptz>,
        stored_at -> Timestamptz,
    }
}

diesel::table! {
    encounters (id) {
        id -> Int8,
        source_system -> Text,
        fhir_id -> Text,
        version -> Int4,
        source_version_id -> Nullable<Text>,
        source_last_updated -> Nullable<Timestamptz>,
        content_hash -> Bytea,
        patient_id -> Int8,
        status -> Text,
        class_code -> Nullable<Text>,
        period_start -> Nullable<Timestamptz>,
        period_end -> Nullable<Timestamptz>,
        priority_code -> Nullable<Text>,
        admit_source_code -> Nullable<Text>,
        discharge_disposition_code -> Nullable<Text>,
        service_type_code -> Nullable<Text>,
        location_fhir_id -> Nullable<Text>,
        unit -> Nullable<Text>,
        reason_codes -> Jsonb,
        diagnoses -> Jsonb,
        part_of_fhir_id -> Nullable<Text>,
        stored_at -> Timestamptz,
    }
}

diesel::table! {
    medication_requests (id) {
        id -> Int8,
        source_system -> Text,
        fhir_id -> Text,
        version -> Int4,
        source_version_id -> Nullable<Text>,
        source_last_updated -> Nullable<Timestamptz>,
        content_hash -> Bytea,
        patient_id -> Int8,
        encounter_fhir_id -> Nullable<Text>,
        status -> Text,
        intent -> Nullable<Text>,
        rxnorm_code -> Nullable<Text>,
        code_display -> Nullable<Text>,
        authored_at -> Nullable<Timestamptz>,
        stored_at -> Timestamptz,
    }
}

diesel::table! {
    observations (id) {
        id -> Int8,
        source_system -> Text,
        fhir_id -> Text,
        version -> Int4,
        source_version_id -> Nullable<Text>,
        source_last_updated -> Nullable<Timestamptz>,
        content_hash -> Bytea,
        patient_id -> Int8,
        encounter_fhir_id -> Nullable<Text>,
        status -> Text,
        category_code -> Nullable<Text>,
        loinc_code -> Nullable<Text>,
        code_display -> Nullable<Text>,
        effective_at -> Nullable<Timestamptz>,
        value_quantity -> Nullable<Float8>,
        value_unit -> Nullable<Text>,
        value_code -> Nullable<Text>,
        value_text -> Nullable<Text>,
        components -> Jsonb,
        stored_at -> Timestamptz,
    }
}

diesel::table! {
    patients (id) {
        id -> Int8,
        source_system -> Text,
        fhir_id -> Text,
        version -> Int4,
        source_version_id -> Nullable<Text>,
        source_last_updated -> Nullable<Timestamptz>,
        content_hash -> Nullable<Bytea>,
        mrn -> Nullable<Text>,
        identifiers -> Jsonb,
        family_name -> Nullable<Text>,
        given_names -> Nullable<Text>,
        birth_date -> Nullable<Date>,
        sex -> Nullable<Text>,
        race_code -> Nullable<Text>,
        race_display -> Nullable<Text>,
        ethnicity_code -> Nullable<Text>,
        ethnicity_display -> Nullable<Text>,
        deceased -> Bool,
        deceased_at -> Nullable<Timestamptz>,
        postal_code -> Nullable<Text>,
        stored_at -> Timestamptz,
    }
}

diesel::table! {
    procedures (id) {
        id -> Int8,
        source_system -> Text,
        fhir_id -> Text,
        version -> Int4,
        source_version_id -> Nullable<Text>,
        source_last_updated -> Nullable<Timestamptz>,
        content_hash -> Bytea,
        patient_id -> Int8,
        encounter_fhir_id -> Nullable<Text>,
        status -> Text,
        code_system -> Nullable<Text>,
        code -> Nullable<Text>,
        code_display -> Nullable<Text>,
        performed_start -> Nullable<Timestamptz>,
        performed_end -> Nullable<Timestamptz>,
        stored_at -> Timestamptz,
    }
}

diesel::table! {
    raw_resources (id) {
        id -> Int8,
        source_system -> Text,
        resource_type -> Text,
        fhir_id -> Text,
        version -> Int4,
        source_version_id -> Nullable<Text>,
        source_last_updated -> Nullable<Timestamptz>,
        content_hash -> Bytea,
        content -> Jsonb,
        received_at -> Timestamptz,
        superseded_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(conditions -> patients (patient_id));
diesel::joinable!(encounters -> patients (patient_id));
diesel::joinable!(medication_requests -> patients (patient_id));
diesel::joinable!(observations -> patients (patient_id));
diesel::joinable!(procedures -> patients (patient_id));

diesel::allow_tables_to_appear_in_same_query!(
    conditions,
    encounters,
    medication_requests,
    observations,
    patients,
    procedures,
    raw_resources,
);
