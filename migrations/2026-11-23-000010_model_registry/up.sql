-- The model registry: every model trained or defined (the learned ones and the baselines LACE,
-- HOSPITAL and Charlson), what it was trained on, how it did, and its lifecycle. At most one
-- model per target is active (it is what scores and alerts use); shadow models score beside it.
CREATE TABLE models (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- "readmission-3": the target and a number counted per target.
    version             TEXT NOT NULL CONSTRAINT models_version_key UNIQUE,
    target              TEXT NOT NULL CHECK (target IN ('admission', 'readmission')),
    algorithm           TEXT NOT NULL
                        CHECK (algorithm IN ('logistic_regression', 'gradient_boosting', 'lace', 'hospital', 'charlson')),
    feature_version     INTEGER NOT NULL,
    -- Index times of the training examples, and their counts.
    trained_from        TIMESTAMPTZ,
    trained_until       TIMESTAMPTZ,
    training_examples   INTEGER NOT NULL DEFAULT 0,
    training_positives  INTEGER NOT NULL DEFAULT 0,
    -- The evaluation report (discrimination, calibration, threshold, subgroups) as JSON.
    metrics             JSONB NOT NULL DEFAULT '{}',
    threshold           DOUBLE PRECISION NOT NULL CHECK (threshold > 0 AND threshold < 1),
    status              TEXT NOT NULL DEFAULT 'candidate' CHECK (status IN ('candidate', 'shadow', 'active', 'retired')),
    -- The serialized model (scoring::model::Model); NULL for the baselines, which are formulas.
    artifact            JSONB,
    created_by          TEXT NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT models_artifact_check CHECK ((artifact IS NULL) = (algorithm IN ('lace', 'hospital', 'charlson')))
);
CREATE UNIQUE INDEX models_one_active_idx ON models (target) WHERE status = 'active';

-- Every change of a model's status: who, when, from what. Rollback reads it.
CREATE TABLE model_status_changes (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_id     BIGINT NOT NULL REFERENCES models (id),
    from_status  TEXT,
    to_status    TEXT NOT NULL,
    changed_by   TEXT NOT NULL,
    changed_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    note         TEXT
);
CREATE INDEX model_status_changes_model_idx ON model_status_changes (model_id, changed_at);
