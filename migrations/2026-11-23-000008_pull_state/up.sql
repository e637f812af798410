-- Where `vigil pull` got to on each remote FHIR server, per resource type: the newest
-- meta.lastUpdated it has stored. The next pull resumes from there (less a safety margin).
CREATE TABLE pull_state (
    remote         TEXT NOT NULL,
    resource_type  TEXT NOT NULL CHECK (resource_type ~ '^[A-Z][A-Za-z]+$'),
    high_water     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (remote, resource_type)
);
