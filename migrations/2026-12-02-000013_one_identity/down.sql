DROP INDEX raw_resources_current_key;
CREATE UNIQUE INDEX raw_resources_current_key
    ON raw_resources (source_system, resource_type, fhir_id) WHERE superseded_at IS NULL;
ALTER TABLE raw_resources DROP CONSTRAINT raw_resources_version_key;
ALTER TABLE raw_resources ADD CONSTRAINT raw_resources_version_key UNIQUE (source_system, resource_type, fhir_id, version);

ALTER TABLE procedures DROP CONSTRAINT procedures_fhir_id_key;
ALTER TABLE procedures ADD CONSTRAINT procedures_source_fhir_id_key UNIQUE (source_system, fhir_id);
ALTER TABLE medication_requests DROP CONSTRAINT medication_requests_fhir_id_key;
ALTER TABLE medication_requests ADD CONSTRAINT medication_requests_source_fhir_id_key UNIQUE (source_system, fhir_id);
ALTER TABLE observations DROP CONSTRAINT observations_fhir_id_key;
ALTER TABLE observations ADD CONSTRAINT observations_source_fhir_id_key UNIQUE (source_system, fhir_id);
ALTER TABLE conditions DROP CONSTRAINT conditions_fhir_id_key;
ALTER TABLE conditions ADD CONSTRAINT conditions_source_fhir_id_key UNIQUE (source_system, fhir_id);
ALTER TABLE encounters DROP CONSTRAINT encounters_fhir_id_key;
ALTER TABLE encounters ADD CONSTRAINT encounters_source_fhir_id_key UNIQUE (source_system, fhir_id);
ALTER TABLE patients DROP CONSTRAINT patients_fhir_id_key;
ALTER TABLE patients ADD CONSTRAINT patients_source_fhir_id_key UNIQUE (source_system, fhir_id);
