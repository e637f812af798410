ALTER TABLE raw_resources ADD CONSTRAINT raw_resources_content_key UNIQUE (source_system, resource_type, fhir_id, content_hash);
ALTER TABLE raw_resources DROP COLUMN deleted;
