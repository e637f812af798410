-- Scores are most of what Vigil stores (a nightly run writes one per patient and model: about 31 GiB
-- per 100,000 patients a year), and most of them matter for a few months only. They are split by
-- the time they are for (as_of, one month a partition, every score of a run in one), so that
-- retention is dropping a month rather than deleting a billion rows:
--   scores                      partitioned by retained
--     scores_retained           (retained) what retention keeps past the window: scores alerts and
--                               CDS cards name, and each week's first nightly run
--     scores_recent             (not retained) partitioned by as_of
--       scores_recent_YYYY_MM   one month each, made by scores_partition_for(as_of) before a run writes
-- A partitioned table cannot be the target of a foreign key on id alone (its keys must hold the
-- partition columns), so the tables that name a score check it with triggers, as scores check
-- theirs (migration score_reference_checks), and a score's outcomes go when it goes.

ALTER TABLE alerts DROP CONSTRAINT alerts_score_id_fkey;
ALTER TABLE alert_events DROP CONSTRAINT alert_events_score_id_fkey;
ALTER TABLE alert_feedback DROP CONSTRAINT alert_feedback_score_id_fkey;
ALTER TABLE cds_cards DROP CONSTRAINT cds_cards_score_id_fkey;
ALTER TABLE score_outcomes DROP CONSTRAINT score_outcomes_score_id_fkey;

ALTER TABLE scores RENAME TO scores_unpartitioned;
ALTER SEQUENCE scores_id_seq RENAME TO scores_unpartitioned_id_seq;

CREATE SEQUENCE scores_id_seq;
SELECT setval('scores_id_seq', coalesce((SELECT max(id) FROM scores_unpartitioned), 0) + 1, false);

CREATE TABLE scores (
    id                  BIGINT NOT NULL DEFAULT nextval('scores_id_seq'),
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
    retained            BOOLEAN NOT NULL DEFAULT false,
    CONSTRAINT scores_value_check CHECK (probability IS NOT NULL OR points IS NOT NULL)
) PARTITION BY LIST (retained);
ALTER SEQUENCE scores_id_seq OWNED BY scores.id;
CREATE TABLE scores_retained PARTITION OF scores FOR VALUES IN (true);
CREATE TABLE scores_recent PARTITION OF scores FOR VALUES IN (false) PARTITION BY RANGE (as_of);

-- The month of `at`'s partition, made if missing. The runtime role may call it (a scoring run
-- does, before it writes), but not create tables: hence SECURITY DEFINER, as the owner.
CREATE FUNCTION scores_partition_for(at TIMESTAMPTZ) RETURNS TEXT
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    first TIMESTAMPTZ := date_trunc('month', at, 'UTC');
    name TEXT := 'scores_recent_' || to_char(first AT TIME ZONE 'UTC', 'YYYY_MM');
BEGIN
    IF to_regclass(name) IS NULL THEN
        -- Two runners starting at once make it once.
        PERFORM pg_advisory_xact_lock(hashtext('vigil.scores_partitions'));
        IF to_regclass(name) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF scores_recent FOR VALUES FROM (%L) TO (%L)',
                           name, first, first + interval '1 month');
        END IF;
    END IF;
    RETURN name;
END
$$;
REVOKE ALL ON FUNCTION scores_partition_for(TIMESTAMPTZ) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION scores_partition_for(TIMESTAMPTZ) TO vigil_runtime;

-- Retention: each month wholly before `horizon` keeps, in scores_retained, the scores that alerts,
-- their events and answers, and CDS cards name (the record of why someone was told) and those of
-- each week's first completed run of everyone (a weekly trend per patient); the rest of the month
-- goes with its partition, and their outcomes with them. All in the caller's transaction; returns
-- what happened to each month.
CREATE FUNCTION scores_retire_before(horizon TIMESTAMPTZ)
    RETURNS TABLE (month TEXT, kept BIGINT, dropped BIGINT)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    part RECORD;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('vigil.scores_partitions'));
    FOR part IN
        SELECT m.name, m.lower_bound, m.lower_bound + interval '1 month' AS upper_bound
          FROM (SELECT c.relname::text AS name,
                       to_timestamp(right(c.relname, 7), 'YYYY_MM')::timestamp AT TIME ZONE 'UTC' AS lower_bound
                  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                 WHERE i.inhparent = 'scores_recent'::regclass AND c.relname ~ '^scores_recent_[0-9]{4}_[0-9]{2}$') m
         WHERE m.lower_bound + interval '1 month' <= horizon
         ORDER BY m.lower_bound
    LOOP
        month := to_char(part.lower_bound AT TIME ZONE 'UTC', 'YYYY-MM');
        WITH weekly AS (
            SELECT DISTINCT ON (date_trunc('week', r.as_of)) r.id
              FROM scoring_runs r
             WHERE r.kind = 'all' AND r.status = 'done'
             ORDER BY date_trunc('week', r.as_of), r.as_of, r.id
        ), moved AS (
            UPDATE scores s SET retained = true
             WHERE NOT s.retained AND s.as_of >= part.lower_bound AND s.as_of < part.upper_bound
               AND (s.run_id IN (SELECT id FROM weekly)
                    OR EXISTS (SELECT 1 FROM alerts x WHERE x.score_id = s.id)
                    OR EXISTS (SELECT 1 FROM alert_events x WHERE x.score_id = s.id)
                    OR EXISTS (SELECT 1 FROM alert_feedback x WHERE x.score_id = s.id)
                    OR EXISTS (SELECT 1 FROM cds_cards x WHERE x.score_id = s.id))
            RETURNING 1
        )
        SELECT count(*) INTO kept FROM moved;
        EXECUTE format('DELETE FROM score_outcomes o WHERE o.score_id IN (SELECT s.id FROM %I s)', part.name);
        EXECUTE format('SELECT count(*) FROM %I', part.name) INTO dropped;
        EXECUTE format('ALTER TABLE scores_recent DETACH PARTITION %I', part.name);
        EXECUTE format('DROP TABLE %I', part.name);
        RETURN NEXT;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION scores_retire_before(TIMESTAMPTZ) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION scores_retire_before(TIMESTAMPTZ) TO vigil_runtime;

SELECT scores_partition_for(month)
  FROM generate_series(
           date_trunc('month', least(now(), coalesce((SELECT min(as_of) FROM scores_unpartitioned), now())), 'UTC'),
           date_trunc('month', greatest(now(), coalesce((SELECT max(as_of) FROM scores_unpartitioned), now())), 'UTC')
               + interval '2 months',
           interval '1 month') AS month;

INSERT INTO scores (id, run_id, model_id, patient_id, encounter_fhir_id, as_of, probability, points, features, factors, created_at)
SELECT id, run_id, model_id, patient_id, encounter_fhir_id, as_of, probability, points, features, factors, created_at
  FROM scores_unpartitioned;
DROP TABLE scores_unpartitioned;

ALTER TABLE scores ADD CONSTRAINT scores_pkey PRIMARY KEY (id, retained, as_of);
CREATE INDEX scores_model_idx ON scores (model_id);
CREATE INDEX scores_model_time_idx ON scores (model_id, as_of);
CREATE INDEX scores_patient_idx ON scores (patient_id, model_id, as_of);
CREATE UNIQUE INDEX scores_run_key ON scores (run_id, model_id, patient_id, COALESCE(encounter_fhir_id, ''), retained, as_of);
CREATE TRIGGER scores_references_inserted AFTER INSERT ON scores
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION scores_references_exist();
CREATE TRIGGER scores_references_updated AFTER UPDATE ON scores
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION scores_references_exist();
GRANT SELECT, INSERT, UPDATE, DELETE ON scores TO vigil_runtime;
GRANT SELECT, USAGE ON SEQUENCE scores_id_seq TO vigil_runtime;

-- The tables that name a score: the score must exist (locked against deletion as a foreign key
-- would lock it), with the error a foreign key raises.
CREATE FUNCTION score_named_exists() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.score_id IS NOT NULL THEN
        PERFORM 1 FROM scores s WHERE s.id = NEW.score_id FOR KEY SHARE;
        IF NOT FOUND THEN
            RAISE foreign_key_violation
                USING MESSAGE = format('%s names a score that does not exist: scores (id)=(%s)', TG_TABLE_NAME, NEW.score_id);
        END IF;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER alerts_score_exists BEFORE INSERT OR UPDATE OF score_id ON alerts
    FOR EACH ROW EXECUTE FUNCTION score_named_exists();
CREATE TRIGGER alert_events_score_exists BEFORE INSERT OR UPDATE OF score_id ON alert_events
    FOR EACH ROW EXECUTE FUNCTION score_named_exists();
CREATE TRIGGER alert_feedback_score_exists BEFORE INSERT OR UPDATE OF score_id ON alert_feedback
    FOR EACH ROW EXECUTE FUNCTION score_named_exists();
CREATE TRIGGER cds_cards_score_exists BEFORE INSERT OR UPDATE OF score_id ON cds_cards
    FOR EACH ROW EXECUTE FUNCTION score_named_exists();
CREATE TRIGGER score_outcomes_score_exists BEFORE INSERT OR UPDATE OF score_id ON score_outcomes
    FOR EACH ROW EXECUTE FUNCTION score_named_exists();

-- A score alerts or cards name is not deleted; a deleted score's outcomes go with it, as the
-- cascade did, whoever deletes (hence SECURITY DEFINER). A move to scores_retained is an update,
-- not a delete: it fires neither.
CREATE FUNCTION scores_deleted() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    named TEXT;
BEGIN
    SELECT t INTO named FROM (
        SELECT 'alerts' AS t FROM alerts x WHERE x.score_id IN (SELECT r.id FROM removed r)
        UNION ALL SELECT 'alert_events' FROM alert_events x WHERE x.score_id IN (SELECT r.id FROM removed r)
        UNION ALL SELECT 'alert_feedback' FROM alert_feedback x WHERE x.score_id IN (SELECT r.id FROM removed r)
        UNION ALL SELECT 'cds_cards' FROM cds_cards x WHERE x.score_id IN (SELECT r.id FROM removed r)
    ) n LIMIT 1;
    IF named IS NOT NULL THEN
        RAISE foreign_key_violation USING MESSAGE = format('scores are still named by %s', named);
    END IF;
    DELETE FROM score_outcomes o WHERE o.score_id IN (SELECT r.id FROM removed r);
    RETURN NULL;
END
$$;
CREATE TRIGGER scores_deleted AFTER DELETE ON scores
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION scores_deleted();

CREATE INDEX alerts_score_idx ON alerts (score_id);
CREATE INDEX alert_events_score_idx ON alert_events (score_id) WHERE score_id IS NOT NULL;
CREATE INDEX alert_feedback_score_idx ON alert_feedback (score_id);
CREATE INDEX cds_cards_score_idx ON cds_cards (score_id) WHERE score_id IS NOT NULL;
