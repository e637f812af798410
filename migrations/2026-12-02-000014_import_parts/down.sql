ALTER TABLE import_jobs DROP COLUMN write_scopes;
ALTER TABLE import_jobs ADD COLUMN body BYTEA;
UPDATE import_jobs j SET body = (SELECT string_agg(p.body, ''::bytea ORDER BY p.part) FROM import_job_parts p WHERE p.job_id = j.id);
UPDATE import_jobs SET body = ''::bytea WHERE body IS NULL;
ALTER TABLE import_jobs ALTER COLUMN body SET NOT NULL;
DROP TABLE import_job_parts;
