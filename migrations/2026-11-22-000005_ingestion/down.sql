DROP TABLE patient_changes;
DROP TABLE ingest_rejects;
