-- Each `vigil backtest` keeps its point-in-time predictions and outcomes, so that `vigil alert rule
-- suggest` can weigh candidate thresholds (alerts per 100 patient-days, PPV, sensitivity) on them.
CREATE TABLE backtests (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_id      BIGINT NOT NULL REFERENCES models (id),
    period_from   TIMESTAMPTZ NOT NULL,
    period_to     TIMESTAMPTZ NOT NULL CHECK (period_to > period_from),
    probabilities DOUBLE PRECISION[] NOT NULL,
    labels        BOOLEAN[] NOT NULL,
    -- The patient-days the events cover (each index event opens a 30-day window).
    patient_days  DOUBLE PRECISION NOT NULL CHECK (patient_days >= 0),
    created_by    TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT backtests_same_length CHECK (cardinality(probabilities) = cardinality(labels))
);
CREATE INDEX backtests_model_idx ON backtests (model_id, id);
