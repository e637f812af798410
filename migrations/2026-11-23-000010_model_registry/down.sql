DROP TABLE model_status_changes;
DROP TABLE models;
