-- What happened after each score, once it is known, and what monitoring makes of it.

-- One row per score the outcome job has seen: the unit the patient belonged to at the score's
-- time (their last encounter with a unit), and the outcome once it has matured: 30 days after the
-- index time, or earlier when the event happened. `matured_at` is the time in the data the outcome
-- became known; `recorded_at` when Vigil learned it.
CREATE TABLE score_outcomes (
    score_id    BIGINT PRIMARY KEY REFERENCES scores (id) ON DELETE CASCADE,
    unit        TEXT,
    outcome     BOOLEAN,
    matured_at  TIMESTAMPTZ,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT score_outcomes_matured CHECK ((outcome IS NULL) = (matured_at IS NULL))
);
CREATE INDEX score_outcomes_pending_idx ON score_outcomes (score_id) WHERE outcome IS NULL;
-- Monitoring reads a model's scores week by week.
CREATE INDEX scores_model_time_idx ON scores (model_id, as_of);

-- A model's figures for a week of index times, for one unit or (unit NULL) all of them; the
-- monitoring job rewrites a week's row while its outcomes mature.
CREATE TABLE model_monitoring (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_id    BIGINT NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    week        DATE NOT NULL CHECK (extract(isodow FROM week) = 1),
    unit        TEXT,
    scores      INTEGER NOT NULL,
    matured     INTEGER NOT NULL,
    events      INTEGER NOT NULL,
    figures     JSONB NOT NULL,
    computed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT model_monitoring_key UNIQUE NULLS NOT DISTINCT (model_id, week, unit)
);

-- Each finding informatics were told of, once: significant drift, or matured AUROC below
-- validation, for a model's week.
CREATE TABLE model_findings (
    model_id    BIGINT NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    week        DATE NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('drift', 'performance')),
    detail      TEXT NOT NULL,
    found_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (model_id, week, kind)
);

-- Notices are about an alert or, for informatics, about a model.
ALTER TABLE outbox ALTER COLUMN alert_id DROP NOT NULL;
ALTER TABLE outbox ADD COLUMN model_id BIGINT REFERENCES models (id);
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check
    CHECK (kind IN ('alert', 'tier-raised', 'reopened', 'escalation', 'drift', 'performance'));
ALTER TABLE outbox ADD CONSTRAINT outbox_subject
    CHECK (CASE WHEN kind IN ('drift', 'performance') THEN model_id IS NOT NULL AND alert_id IS NULL
                ELSE alert_id IS NOT NULL AND model_id IS NULL END);

-- Each promotion decision: the challenger, the champion it was compared with, the figures, who
-- decided and why (a forced promotion needs a reason).
CREATE TABLE promotion_decisions (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    challenger_id BIGINT NOT NULL REFERENCES models (id),
    champion_id   BIGINT REFERENCES models (id),
    decision      TEXT NOT NULL CHECK (decision IN ('promoted', 'kept', 'forced')),
    automatic     BOOLEAN NOT NULL DEFAULT false,
    decided_by    TEXT NOT NULL,
    reason        TEXT,
    figures       JSONB NOT NULL,
    decided_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (decision <> 'forced' OR reason IS NOT NULL)
);
CREATE INDEX promotion_decisions_challenger_idx ON promotion_decisions (challenger_id, id);
