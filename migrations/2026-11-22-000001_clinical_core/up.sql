-- The clinical core: the FHIR resource types Vigil maps into columns.
--
-- Every mapped row is the *current* version of one FHIR resource from one source system;
-- (source_system, fhir_id) is its natural key, unique so that re-ingesting the same data can
-- never duplicate it, whatever the application does. Earlier versions live in raw_resources.
-- `version` counts the versions Vigil has stored (it is the vread number Vigil serves);
-- `source_version_id` and `source_last_updated` are meta.versionId / meta.lastUpdated as sent,
-- which decide whether an arriving resource is newer than the stored one. `content_hash` is the
-- SHA-256 of the canonical JSON, so the same content arriving again changes nothing.
--
-- References to a Patient are resolved to patients.id. A resource may arrive before the patient
-- it refers to (Bulk NDJSON files come in any order), so a patient row can exist before its
-- Patient resource does: such a row has content_hash NULL until the resource arrives.
-- References to other resources (encounter, partOf) are kept as FHIR logical ids of the same
-- source and joined on (source_system, fhir_id), so they resolve whenever the target arrives.

CREATE TABLE patients (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_system        TEXT NOT NULL,
    fhir_id              TEXT NOT NULL,
    version              INTEGER NOT NULL DEFAULT 0,
    source_version_id    TEXT,
    source_last_updated  TIMESTAMPTZ,
    content_hash         BYTEA,
    mrn                  TEXT,
    identifiers          JSONB NOT NULL DEFAULT '[]',
    family_name          TEXT,
    given_names          TEXT,
    birth_date           DATE,
    sex                  TEXT CHECK (sex IN ('male', 'female', 'other', 'unknown')),
    race_code            TEXT,
    race_display         TEXT,
    ethnicity_code       TEXT,
    ethnicity_display    TEXT,
    deceased             BOOLEAN NOT NULL DEFAULT FALSE,
    deceased_at          TIMESTAMPTZ,
    postal_code          TEXT,
    stored_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT patients_source_fhir_id_key UNIQUE (source_system, fhir_id),
    CONSTRAINT patients_version_check CHECK ((content_hash IS NULL) = (version = 0))
);
CREATE INDEX patients_mrn_idx ON patients (mrn) WHERE mrn IS NOT NULL;
CREATE INDEX patients_stored_at_idx ON patients (stored_at);

CREATE TABLE encounters (
    id                     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_system          TEXT NOT NULL,
    fhir_id                TEXT NOT NULL,
    version                INTEGER NOT NULL CHECK (version > 0),
    source_version_id      TEXT,
    source_last_updated    TIMESTAMPTZ,
    content_hash           BYTEA NOT NULL,
    patient_id             BIGINT NOT NULL REFERENCES patients (id),
    status                 TEXT NOT NULL,
    class_code             TEXT,
    period_start           TIMESTAMPTZ,
    period_end             TIMESTAMPTZ,
    priority_code          TEXT,
    admit_source_code      TEXT,
    discharge_disposition_code TEXT,
    service_type_code      TEXT,
    location_fhir_id       TEXT,
    unit                   TEXT,
    reason_codes           JSONB NOT NULL DEFAULT '[]',
    diagnoses              JSONB NOT NULL DEFAULT '[]',
    part_of_fhir_id        TEXT,
    stored_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT encounters_source_fhir_id_key UNIQUE (source_system, fhir_id),
    CONSTRAINT encounters_period_check CHECK (period_end IS NULL OR period_start IS NULL OR period_end >= period_start)
);
CREATE INDEX encounters_patient_start_idx ON encounters (patient_id, period_start);
CREATE INDEX encounters_class_start_idx ON encounters (class_code, period_start);
CREATE INDEX encounters_part_of_idx ON encounters (source_system, part_of_fhir_id) WHERE part_of_fhir_id IS NOT NULL;
CREATE INDEX encounters_stored_at_idx ON encounters (stored_at);

CREATE TABLE conditions (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_system        TEXT NOT NULL,
    fhir_id              TEXT NOT NULL,
    version              INTEGER NOT NULL CHECK (version > 0),
    source_version_id    TEXT,
    source_last_updated  TIMESTAMPTZ,
    content_hash         BYTEA NOT NULL,
    patient_id           BIGINT NOT NULL REFERENCES patients (id),
    encounter_fhir_id    TEXT,
    icd10_codes          TEXT[] NOT NULL DEFAULT '{}',
    snomed_codes         TEXT[] NOT NULL DEFAULT '{}',
    code_display         TEXT,
    clinical_status      TEXT,
    verification_status  TEXT,
    category_code        TEXT,
    onset_at             TIMESTAMPTZ,
    abatement_at         TIMESTAMPTZ,
    recorded_at          TIMESTAMPTZ,
    stored_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT conditions_source_fhir_id_key UNIQUE (source_system, fhir_id)
);
CREATE INDEX conditions_patient_onset_idx ON conditions (patient_id, onset_at);
CREATE INDEX conditions_stored_at_idx ON conditions (stored_at);

CREATE TABLE observations (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_system        TEXT NOT NULL,
    fhir_id              TEXT NOT NULL,
    version              INTEGER NOT NULL CHECK (version > 0),
    source_version_id    TEXT,
    source_last_updated  TIMESTAMPTZ,
    content_hash         BYTEA NOT NULL,
    patient_id           BIGINT NOT NULL REFERENCES patients (id),
    encounter_fhir_id    TEXT,
    status               TEXT NOT NULL,
    category_code        TEXT,
    loinc_code           TEXT,
    code_display         TEXT,
    effective_at         TIMESTAMPTZ,
    value_quantity       DOUBLE PRECISION,
    value_unit           TEXT,
    value_code           TEXT,
    value_text           TEXT,
    components           JSONB NOT NULL DEFAULT '[]',
    stored_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT observations_source_fhir_id_key UNIQUE (source_system, fhir_id)
);
CREATE INDEX observations_patient_code_time_idx ON observations (patient_id, loinc_code, effective_at);
CREATE INDEX observations_stored_at_idx ON observations (stored_at);

CREATE TABLE medication_requests (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_system        TEXT NOT NULL,
    fhir_id              TEXT NOT NULL,
    version              INTEGER NOT NULL CHECK (version > 0),
    source_version_id    TEXT,
    source_last_updated  TIMESTAMPTZ,
    content_hash         BYTEA NOT NULL,
    patient_id           BIGINT NOT NULL REFERENCES patients (id),
    encounter_fhir_id    TEXT,
    status               TEXT NOT NULL,
    intent               TEXT,
    rxnorm_code          TEXT,
    code_display         TEXT,
    authored_at          TIMESTAMPTZ,
    stored_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT medication_requests_source_fhir_id_key UNIQUE (source_system, fhir_id)
);
CREATE INDEX medication_requests_patient_authored_idx ON medication_requests (patient_id, authored_at);
CREATE INDEX medication_requests_stored_at_idx ON medication_requests (stored_at);

CREATE TABLE procedures (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_system        TEXT NOT NULL,
    fhir_id              TEXT NOT NULL,
    version              INTEGER NOT NULL CHECK (version > 0),
    source_version_id    TEXT,
    source_last_updated  TIMESTAMPTZ,
    content_hash         BYTEA NOT NULL,
    patient_id           BIGINT NOT NULL REFERENCES patients (id),
    encounter_fhir_id    TEXT,
    status               TEXT NOT NULL,
    code_system          TEXT,
    code                 TEXT,
    code_display         TEXT,
    performed_start      TIMESTAMPTZ,
    performed_end        TIMESTAMPTZ,
    stored_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT procedures_source_fhir_id_key UNIQUE (source_system, fhir_id)
);
CREATE INDEX procedures_patient_performed_idx ON procedures (patient_id, performed_start);
CREATE INDEX procedures_encounter_idx ON procedures (source_system, encounter_fhir_id) WHERE encounter_fhir_id IS NOT NULL;
CREATE INDEX procedures_stored_at_idx ON procedures (stored_at);
