-- Asynchronous NDJSON imports (`POST /fhir/$import`): a queue that any server of the deployment
-- works off (claimed with FOR UPDATE SKIP LOCKED; a job whose worker stopped beating is taken over,
-- and re-running it is harmless because ingestion is idempotent). Rejects of a job are in
-- ingest_rejects under the job's origin.
CREATE TABLE import_jobs (
    id             UUID PRIMARY KEY,
    -- The audit actor who asked for it ("user:<name>" or "client:<id>"): only they see its status.
    requested_by   TEXT NOT NULL,
    requester_role TEXT NOT NULL,
    source_system  TEXT NOT NULL,
    status         TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
    -- The NDJSON as received.
    body           BYTEA NOT NULL,
    -- Resources handled so far, and the per-type summary once done.
    progress       BIGINT NOT NULL DEFAULT 0,
    summary        JSONB,
    error          TEXT,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at     TIMESTAMPTZ,
    heartbeat_at   TIMESTAMPTZ,
    finished_at    TIMESTAMPTZ,
    attempts       INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT import_jobs_finished_check CHECK ((status IN ('done', 'failed')) = (finished_at IS NOT NULL))
);
CREATE INDEX import_jobs_pending_idx ON import_jobs (created_at) WHERE status IN ('queued', 'running');
