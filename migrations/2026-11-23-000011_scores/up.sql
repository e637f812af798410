-- Scores and the runs that make them.
--
-- A run scores a set of patients as of a time with every active and shadow model. It advances a
-- cursor (the last patient id scored) in the same transaction as each chunk of scores, so a run
-- killed halfway resumes where it stopped and scores every patient exactly once; the unique key
-- backs that up. One run at a time: runners hold a Postgres advisory lock while they run.
CREATE TABLE scoring_runs (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- all: every patient; changed: patients the change feed named; patients: a list asked for.
    kind          TEXT NOT NULL CHECK (kind IN ('all', 'changed', 'patients')),
    as_of         TIMESTAMPTZ NOT NULL,
    status        TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
    -- The last patient id of the chunks committed (patients are scored in id order).
    cursor        BIGINT NOT NULL DEFAULT 0,
    -- For kind = patients or changed: the patients, in id order.
    patient_ids   BIGINT[],
    scored        INTEGER NOT NULL DEFAULT 0,
    started_by    TEXT NOT NULL,
    started_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    heartbeat_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at   TIMESTAMPTZ,
    CONSTRAINT scoring_runs_finished_check CHECK ((status = 'running') = (finished_at IS NULL))
);
CREATE INDEX scoring_runs_running_idx ON scoring_runs (started_at) WHERE status = 'running';

CREATE TABLE scores (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id             BIGINT NOT NULL REFERENCES scoring_runs (id),
    model_id           BIGINT NOT NULL REFERENCES models (id),
    patient_id         BIGINT NOT NULL REFERENCES patients (id),
    -- For readmission: the FHIR id of the discharge (stay) scored.
    encounter_fhir_id  TEXT,
    -- The index time: when scored (admission) or the discharge (readmission).
    as_of              TIMESTAMPTZ NOT NULL,
    -- A learned model's calibrated probability; NULL for the baselines, which give points.
    probability        DOUBLE PRECISION CHECK (probability >= 0 AND probability <= 1),
    points             INTEGER,
    -- The feature vector (names from the model's feature version) and the top factors.
    features           DOUBLE PRECISION[] NOT NULL,
    factors            JSONB NOT NULL DEFAULT '[]',
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT scores_value_check CHECK (probability IS NOT NULL OR points IS NOT NULL)
);
CREATE UNIQUE INDEX scores_run_key ON scores (run_id, model_id, patient_id, COALESCE(encounter_fhir_id, ''));
CREATE INDEX scores_patient_idx ON scores (patient_id, model_id, as_of);

-- Positions of the consumers of the change feed (patient_changes.seq processed).
CREATE TABLE feed_positions (
    consumer    TEXT PRIMARY KEY,
    seq         BIGINT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
