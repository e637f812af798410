DROP INDEX audit_log_patients_idx;
ALTER TABLE audit_log DROP COLUMN patients;
