-- `$import` bodies are streamed into the queue in parts (whole lines, a few MiB each) instead of
-- being held whole in memory and stored as one value; the importer reads them back part by part.
-- A job also keeps the write permissions of whoever queued it, as SMART scopes: each resource is
-- checked against them again when it is stored.
CREATE TABLE import_job_parts (
    job_id      UUID NOT NULL REFERENCES import_jobs (id) ON DELETE CASCADE,
    part        INTEGER NOT NULL CHECK (part >= 0),
    -- The line number (from 1) of the part's first line in the body as sent.
    first_line  BIGINT NOT NULL CHECK (first_line > 0),
    body        BYTEA NOT NULL,
    PRIMARY KEY (job_id, part)
);
INSERT INTO import_job_parts (job_id, part, first_line, body) SELECT id, 0, 1, body FROM import_jobs;
ALTER TABLE import_jobs DROP COLUMN body;

-- Jobs queued before this migration had every type they hold checked when they were queued.
ALTER TABLE import_jobs ADD COLUMN write_scopes TEXT NOT NULL DEFAULT 'system/*.write';
ALTER TABLE import_jobs ALTER COLUMN write_scopes DROP DEFAULT;
