-- patient_access as migration 21 left it (no cards).
CREATE OR REPLACE FUNCTION patient_access(resource_type TEXT, key TEXT, viewer BIGINT)
    RETURNS TABLE (patient BIGINT, units TEXT[], break_glass BOOLEAN) LANGUAGE plpgsql STABLE AS $$
DECLARE
    found BIGINT;
BEGIN
    CASE resource_type
        WHEN 'Patient' THEN SELECT p.id INTO found FROM patients p WHERE p.fhir_id = key;
        WHEN 'Encounter' THEN SELECT o.patient_id INTO found FROM encounters o WHERE o.fhir_id = key;
        WHEN 'Condition' THEN SELECT o.patient_id INTO found FROM conditions o WHERE o.fhir_id = key;
        WHEN 'Observation' THEN SELECT o.patient_id INTO found FROM observations o WHERE o.fhir_id = key;
        WHEN 'MedicationRequest' THEN SELECT o.patient_id INTO found FROM medication_requests o WHERE o.fhir_id = key;
        WHEN 'Procedure' THEN SELECT o.patient_id INTO found FROM procedures o WHERE o.fhir_id = key;
        WHEN 'Alert' THEN
            IF key ~ '^[0-9]{1,18}$' THEN
                SELECT a.patient_id INTO found FROM alerts a WHERE a.id = key::BIGINT;
            END IF;
        WHEN 'RiskAssessment' THEN
            IF key ~ '^[0-9]{1,18}$' THEN
                SELECT s.patient_id INTO found FROM scores s WHERE s.id = key::BIGINT;
            END IF;
        ELSE found := NULL;
    END CASE;
    IF found IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT p.id,
               ARRAY(SELECT DISTINCT x.code FROM (
                        SELECT u.code FROM patient_unit_assignments a JOIN care_units u ON u.id = a.unit_id
                         WHERE a.patient_id = p.id
                        UNION ALL
                        (SELECT e.unit FROM encounters e WHERE e.patient_id = p.id AND e.unit IS NOT NULL
                          ORDER BY e.period_start DESC NULLS LAST LIMIT 1)) x ORDER BY x.code),
               EXISTS (SELECT 1 FROM break_glass_grants g
                        WHERE g.user_id = viewer AND g.patient_id = p.id AND g.expires_at > now())
          FROM patients p WHERE p.id = found AND p.version > 0;
END
$$;

DELETE FROM alert_feedback WHERE source = 'cds-hooks';
ALTER TABLE alert_feedback DROP CONSTRAINT alert_feedback_subject;
ALTER TABLE alert_feedback DROP COLUMN card_uuid;
ALTER TABLE alert_feedback ALTER COLUMN alert_id SET NOT NULL;
DROP TABLE cds_cards;
ALTER TABLE api_clients DROP COLUMN cds_issuer;
