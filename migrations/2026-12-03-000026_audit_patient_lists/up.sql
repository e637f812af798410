-- A search or list that shows many patients is one audit row naming all of them (a worklist of 50
-- alerts was 50 rows per page view), so that reads of lists cost the trail, and the sealer, one row.
-- A row names one patient in patient_id or several in patients, never both.
ALTER TABLE audit_log ADD COLUMN patients BIGINT[]
    CHECK (patients IS NULL OR (patient_id IS NULL AND cardinality(patients) > 1 AND array_position(patients, NULL) IS NULL));
CREATE INDEX audit_log_patients_idx ON audit_log USING gin (patients) WHERE patients IS NOT NULL;
