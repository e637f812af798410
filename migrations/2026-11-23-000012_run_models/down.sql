ALTER TABLE scoring_runs DROP COLUMN model_ids;
