-- Every FHIR resource Vigil receives, of any type, kept as sent: the mapped tables hold the
-- current version of the types Vigil understands; this table holds every version of everything.
--
-- One row per distinct content of a resource. The unique key on the content hash makes the same
-- content arriving twice (or by two loaders at once) a no-op at the database level; the partial
-- unique index allows exactly one current version (superseded_at IS NULL) per logical id.
CREATE TABLE raw_resources (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_system        TEXT NOT NULL,
    resource_type        TEXT NOT NULL CHECK (resource_type ~ '^[A-Z][A-Za-z]+$'),
    fhir_id              TEXT NOT NULL,
    version              INTEGER NOT NULL CHECK (version > 0),
    source_version_id    TEXT,
    source_last_updated  TIMESTAMPTZ,
    content_hash         BYTEA NOT NULL CHECK (octet_length(content_hash) = 32),
    content              JSONB NOT NULL,
    received_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    superseded_at        TIMESTAMPTZ,
    CONSTRAINT raw_resources_content_key UNIQUE (source_system, resource_type, fhir_id, content_hash),
    CONSTRAINT raw_resources_version_key UNIQUE (source_system, resource_type, fhir_id, version)
);
CREATE UNIQUE INDEX raw_resources_current_key
    ON raw_resources (source_system, resource_type, fhir_id) WHERE superseded_at IS NULL;
CREATE INDEX raw_resources_type_received_idx ON raw_resources (resource_type, received_at);
