-- What clinicians answer about an alert: was it useful, and why not. Feedback is not a label
-- (outcomes are); it is kept with the score and model it was about, so that the useful rate can be
-- reported per model version, unit and tier, and reasons that say "this event should not count"
-- can exclude it from training.
CREATE TABLE alert_feedback (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id    BIGINT NOT NULL REFERENCES alerts (id),
    score_id    BIGINT NOT NULL REFERENCES scores (id),
    model_id    BIGINT NOT NULL REFERENCES models (id),
    tier        TEXT NOT NULL,
    unit        TEXT,
    given_by    TEXT NOT NULL,
    given_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    source      TEXT NOT NULL CHECK (source IN ('portal', 'api', 'cds-hooks')),
    outcome     TEXT NOT NULL CHECK (outcome IN ('useful', 'not-useful', 'accepted', 'overridden')),
    reason      TEXT CHECK (reason IN ('already-known', 'planned-admission', 'palliative-or-hospice', 'transfer',
                                       'data-error', 'risk-overstated', 'other')),
    note        TEXT CHECK (length(note) <= 1000),
    -- "Other" says what in words.
    CHECK (reason IS DISTINCT FROM 'other' OR note IS NOT NULL)
);
CREATE INDEX alert_feedback_alert_idx ON alert_feedback (alert_id, id);
CREATE INDEX alert_feedback_model_idx ON alert_feedback (model_id, given_at);
