DROP INDEX audit_log_spool_key_idx;
ALTER TABLE audit_log DROP COLUMN spool_key;
