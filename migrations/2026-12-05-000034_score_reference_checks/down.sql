DROP INDEX scores_model_idx;
DROP TRIGGER scores_runs_id_kept ON scoring_runs;
DROP TRIGGER scores_models_id_kept ON models;
DROP TRIGGER scores_patients_id_kept ON patients;
DROP FUNCTION scores_referenced_id_kept();
DROP TRIGGER scores_runs_kept ON scoring_runs;
DROP TRIGGER scores_models_kept ON models;
DROP TRIGGER scores_patients_kept ON patients;
DROP FUNCTION scores_referenced_kept();
DROP TRIGGER scores_references_updated ON scores;
DROP TRIGGER scores_references_inserted ON scores;
DROP FUNCTION scores_references_exist();
ALTER TABLE scores
    ADD CONSTRAINT scores_run_id_fkey FOREIGN KEY (run_id) REFERENCES scoring_runs (id),
    ADD CONSTRAINT scores_model_id_fkey FOREIGN KEY (model_id) REFERENCES models (id),
    ADD CONSTRAINT scores_patient_id_fkey FOREIGN KEY (patient_id) REFERENCES patients (id);
