-- One logical id names one resource per type on this server, whatever source sent it.
--
-- The FHIR API serves `Type/id`; until now rows were keyed by (source_system, fhir_id), so two
-- sources sending the same id made two records that every id-only lookup (the guard, read, vread,
-- _history, search's patient filter, break-glass, units) could mix up. Now the id alone is unique
-- per type. `source_system` stays as the source that holds the id: ingestion rejects a resource of
-- another source with a taken type and id (or referring to a patient another source holds), with
-- a reason naming the holder, and loaders of one type and id are serialized whatever their source.
DO $$
DECLARE
    clashes BIGINT;
BEGIN
    SELECT count(*) INTO clashes FROM (
        SELECT resource_type, fhir_id FROM raw_resources
        GROUP BY resource_type, fhir_id HAVING count(DISTINCT source_system) > 1
        UNION ALL
        SELECT 'Patient', fhir_id FROM patients GROUP BY fhir_id HAVING count(*) > 1
    ) c;
    IF clashes > 0 THEN
        RAISE EXCEPTION '% resource ids are held by more than one source; this version of Vigil keeps one resource per type and id', clashes
            USING HINT = 'list them with: SELECT resource_type, fhir_id, array_agg(DISTINCT source_system) FROM raw_resources GROUP BY 1, 2 HAVING count(DISTINCT source_system) > 1; then delete one source''s copies (DELETE /fhir/{type}/{id}) or reload it into a fresh database';
    END IF;
END
$$;

ALTER TABLE patients DROP CONSTRAINT patients_source_fhir_id_key;
ALTER TABLE patients ADD CONSTRAINT patients_fhir_id_key UNIQUE (fhir_id);
ALTER TABLE encounters DROP CONSTRAINT encounters_source_fhir_id_key;
ALTER TABLE encounters ADD CONSTRAINT encounters_fhir_id_key UNIQUE (fhir_id);
ALTER TABLE conditions DROP CONSTRAINT conditions_source_fhir_id_key;
ALTER TABLE conditions ADD CONSTRAINT conditions_fhir_id_key UNIQUE (fhir_id);
ALTER TABLE observations DROP CONSTRAINT observations_source_fhir_id_key;
ALTER TABLE observations ADD CONSTRAINT observations_fhir_id_key UNIQUE (fhir_id);
ALTER TABLE medication_requests DROP CONSTRAINT medication_requests_source_fhir_id_key;
ALTER TABLE medication_requests ADD CONSTRAINT medication_requests_fhir_id_key UNIQUE (fhir_id);
ALTER TABLE procedures DROP CONSTRAINT procedures_source_fhir_id_key;
ALTER TABLE procedures ADD CONSTRAINT procedures_fhir_id_key UNIQUE (fhir_id);

-- Version 1 of a type and id can exist once, so a second source can never start its own record.
ALTER TABLE raw_resources DROP CONSTRAINT raw_resources_version_key;
ALTER TABLE raw_resources ADD CONSTRAINT raw_resources_version_key UNIQUE (resource_type, fhir_id, version);
DROP INDEX raw_resources_current_key;
CREATE UNIQUE INDEX raw_resources_current_key ON raw_resources (resource_type, fhir_id) WHERE superseded_at IS NULL;
