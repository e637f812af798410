-- The models a run scores with, fixed when it starts: a run resumed after a kill finishes with the
-- same models, even if one was activated, shadowed or retired in between, so every model of the run
-- scores every patient of it. NULL for runs made before this column.
ALTER TABLE scoring_runs ADD COLUMN model_ids BIGINT[];
