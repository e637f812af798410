-- A scoring run writes a score per patient and model: a million a night. A foreign key checks each
-- row on its own (an executor started per row and key, three keys a row): that was a sixth of all
-- the CPU of a run of a million patients. The same rules are checked here once per statement,
-- over all its rows at once: the rows a score names must exist, are locked against deletion as a
-- foreign key would lock them (FOR KEY SHARE), and a patient, model or run with scores cannot be
-- deleted. The error is the one a foreign key raises (23503).

ALTER TABLE scores
    DROP CONSTRAINT scores_run_id_fkey,
    DROP CONSTRAINT scores_model_id_fkey,
    DROP CONSTRAINT scores_patient_id_fkey;

CREATE FUNCTION scores_references_exist() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing TEXT;
BEGIN
    PERFORM 1 FROM patients p WHERE p.id IN (SELECT DISTINCT a.patient_id FROM added a) FOR KEY SHARE;
    PERFORM 1 FROM models m WHERE m.id IN (SELECT DISTINCT a.model_id FROM added a) FOR KEY SHARE;
    PERFORM 1 FROM scoring_runs r WHERE r.id IN (SELECT DISTINCT a.run_id FROM added a) FOR KEY SHARE;
    SELECT CASE
               WHEN NOT EXISTS (SELECT 1 FROM patients p WHERE p.id = a.patient_id) THEN format('patients (id)=(%s)', a.patient_id)
               WHEN NOT EXISTS (SELECT 1 FROM models m WHERE m.id = a.model_id) THEN format('models (id)=(%s)', a.model_id)
               ELSE format('scoring_runs (id)=(%s)', a.run_id)
           END
      INTO missing
      FROM added a
     WHERE NOT EXISTS (SELECT 1 FROM patients p WHERE p.id = a.patient_id)
        OR NOT EXISTS (SELECT 1 FROM models m WHERE m.id = a.model_id)
        OR NOT EXISTS (SELECT 1 FROM scoring_runs r WHERE r.id = a.run_id)
     LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE foreign_key_violation USING MESSAGE = 'a score names a row that does not exist: ' || missing;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER scores_references_inserted AFTER INSERT ON scores
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION scores_references_exist();
CREATE TRIGGER scores_references_updated AFTER UPDATE ON scores
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION scores_references_exist();

-- The referenced side: a row scores name is not deleted, and its id is never changed.
CREATE FUNCTION scores_referenced_kept() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    column_name TEXT := TG_ARGV[0];
    named BOOLEAN;
BEGIN
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM scores s WHERE s.%I IN (SELECT r.id FROM removed r))', column_name)
        INTO named;
    IF named THEN
        RAISE foreign_key_violation
            USING MESSAGE = format('%s rows are still named by scores (%s)', TG_TABLE_NAME, column_name);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER scores_patients_kept AFTER DELETE ON patients
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION scores_referenced_kept('patient_id');
CREATE TRIGGER scores_models_kept AFTER DELETE ON models
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION scores_referenced_kept('model_id');
CREATE TRIGGER scores_runs_kept AFTER DELETE ON scoring_runs
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION scores_referenced_kept('run_id');
-- Ids are generated and never set, but an UPDATE may still set one to DEFAULT: not for a row
-- scores name. Row triggers on the id column alone, so that other updates do not fire them.
CREATE FUNCTION scores_referenced_id_kept() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    named BOOLEAN;
BEGIN
    IF NEW.id IS DISTINCT FROM OLD.id THEN
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM scores s WHERE s.%I = $1)', TG_ARGV[0]) INTO named USING OLD.id;
        IF named THEN
            RAISE foreign_key_violation
                USING MESSAGE = format('%s (id)=(%s) is still named by scores', TG_TABLE_NAME, OLD.id);
        END IF;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER scores_patients_id_kept BEFORE UPDATE OF id ON patients
    FOR EACH ROW EXECUTE FUNCTION scores_referenced_id_kept('patient_id');
CREATE TRIGGER scores_models_id_kept BEFORE UPDATE OF id ON models
    FOR EACH ROW EXECUTE FUNCTION scores_referenced_id_kept('model_id');
CREATE TRIGGER scores_runs_id_kept BEFORE UPDATE OF id ON scoring_runs
    FOR EACH ROW EXECUTE FUNCTION scores_referenced_id_kept('run_id');

-- Deleting a model or run looks its scores up by it, as the foreign key's check did.
CREATE INDEX scores_model_idx ON scores (model_id);
