DROP TRIGGER alerts_score_exists ON alerts;
DROP TRIGGER alert_events_score_exists ON alert_events;
DROP TRIGGER alert_feedback_score_exists ON alert_feedback;
DROP TRIGGER cds_cards_score_exists ON cds_cards;
DROP TRIGGER score_outcomes_score_exists ON score_outcomes;
DROP FUNCTION score_named_exists();
DROP INDEX alerts_score_idx;
DROP INDEX alert_events_score_idx;
DROP INDEX alert_feedback_score_idx;
DROP INDEX cds_cards_score_idx;

ALTER TABLE scores RENAME TO scores_partitioned;
ALTER SEQUENCE scores_id_seq RENAME TO scores_partitioned_id_seq;
CREATE TABLE scores (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY,
    run_id              BIGINT NOT NULL,
    model_id            BIGINT NOT NULL,
    patient_id          BIGINT NOT NULL,
    encounter_fhir_id   TEXT,
    as_of               TIMESTAMPTZ NOT NULL,
    probability         DOUBLE PRECISION CHECK (probability >= 0 AND probability <= 1),
    points              INTEGER,
    features            DOUBLE PRECISION[] NOT NULL,
    factors             JSONB NOT NULL DEFAULT '[]'::jsonb,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT scores_value_check CHECK (probability IS NOT NULL OR points IS NOT NULL)
);
INSERT INTO scores (id, run_id, model_id, patient_id, encounter_fhir_id, as_of, probability, points, features, factors, created_at)
OVERRIDING SYSTEM VALUE
SELECT id, run_id, model_id, patient_id, encounter_fhir_id, as_of, probability, points, features, factors, created_at
  FROM scores_partitioned;
SELECT setval(pg_get_serial_sequence('scores', 'id'), coalesce((SELECT max(id) FROM scores), 0) + 1, false);
DROP TABLE scores_partitioned;
DROP FUNCTION scores_deleted();
DROP FUNCTION scores_partition_for(TIMESTAMPTZ);
DROP FUNCTION scores_retire_before(TIMESTAMPTZ);

ALTER TABLE scores ADD CONSTRAINT scores_pkey PRIMARY KEY (id);
CREATE INDEX scores_model_idx ON scores (model_id);
CREATE INDEX scores_model_time_idx ON scores (model_id, as_of);
CREATE INDEX scores_patient_idx ON scores (patient_id, model_id, as_of);
CREATE UNIQUE INDEX scores_run_key ON scores (run_id, model_id, patient_id, COALESCE(encounter_fhir_id, ''));
CREATE TRIGGER scores_references_inserted AFTER INSERT ON scores
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION scores_references_exist();
CREATE TRIGGER scores_references_updated AFTER UPDATE ON scores
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION scores_references_exist();
GRANT SELECT, INSERT, UPDATE, DELETE ON scores TO vigil_runtime;
GRANT SELECT, USAGE ON SEQUENCE scores_id_seq TO vigil_runtime;

ALTER TABLE alerts ADD CONSTRAINT alerts_score_id_fkey FOREIGN KEY (score_id) REFERENCES scores (id);
ALTER TABLE alert_events ADD CONSTRAINT alert_events_score_id_fkey FOREIGN KEY (score_id) REFERENCES scores (id);
ALTER TABLE alert_feedback ADD CONSTRAINT alert_feedback_score_id_fkey FOREIGN KEY (score_id) REFERENCES scores (id);
ALTER TABLE cds_cards ADD CONSTRAINT cds_cards_score_id_fkey FOREIGN KEY (score_id) REFERENCES scores (id);
ALTER TABLE score_outcomes ADD CONSTRAINT score_outcomes_score_id_fkey FOREIGN KEY (score_id) REFERENCES scores (id) ON DELETE CASCADE;
