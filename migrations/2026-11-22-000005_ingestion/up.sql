-- What ingestion needs beyond the clinical tables: the resources it could not accept, and the
-- feed of patients whose data changed (scoring re-scores them).

-- Every resource that failed validation, with where it came from and why (an OperationOutcome).
-- Nothing sent is lost: each input resource is either stored or here. A later, valid version of
-- the same resource resolves its rejects.
CREATE TABLE ingest_rejects (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_system  TEXT NOT NULL,
    -- The file (or request) and the place in it: "line 17" or "entry 3".
    origin         TEXT NOT NULL,
    location       TEXT NOT NULL,
    resource_type  TEXT,
    fhir_id        TEXT,
    outcome        JSONB NOT NULL CHECK (outcome ->> 'resourceType' = 'OperationOutcome'),
    -- The input as received, so it can be corrected and sent again.
    content        TEXT NOT NULL,
    rejected_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    resolved_at    TIMESTAMPTZ
);
CREATE INDEX ingest_rejects_open_idx ON ingest_rejects (rejected_at) WHERE resolved_at IS NULL;
CREATE INDEX ingest_rejects_resource_idx ON ingest_rejects (source_system, resource_type, fhir_id) WHERE resolved_at IS NULL;

-- One row per stored change to a patient's data, in commit order of the writing transactions'
-- sequence; consumers remember the highest seq they processed.
CREATE TABLE patient_changes (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id  BIGINT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    changed_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX patient_changes_patient_idx ON patient_changes (patient_id);
