DROP FUNCTION patient_access(TEXT, TEXT, BIGINT);
DROP FUNCTION user_unit_codes(BIGINT);
