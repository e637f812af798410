-- CDS Hooks: EHRs that call Vigil's services, the cards Vigil returned, and what clinicians did
-- with them.

-- A CDS client is an API client that also signs CDS Hooks requests: `cds_issuer` is the `iss` of
-- its JWTs, verified with the JWKS registered for it.
ALTER TABLE api_clients ADD COLUMN cds_issuer TEXT UNIQUE CHECK (length(cds_issuer) BETWEEN 1 AND 255);

-- Every card returned, so that feedback about it (by its uuid) finds the score, model and patient
-- it was about, and only the client it went to can answer it.
CREATE TABLE cds_cards (
    uuid        UUID PRIMARY KEY,
    service     TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    patient_id  BIGINT NOT NULL REFERENCES patients (id),
    score_id    BIGINT REFERENCES scores (id),
    model_id    BIGINT REFERENCES models (id),
    tier        TEXT,
    unit        TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX cds_cards_patient_idx ON cds_cards (patient_id, created_at);

-- Feedback from CDS Hooks is about a card, not an alert.
ALTER TABLE alert_feedback ALTER COLUMN alert_id DROP NOT NULL;
ALTER TABLE alert_feedback ADD COLUMN card_uuid UUID REFERENCES cds_cards (uuid);
ALTER TABLE alert_feedback ADD CONSTRAINT alert_feedback_subject
    CHECK (CASE WHEN source = 'cds-hooks' THEN card_uuid IS NOT NULL ELSE alert_id IS NOT NULL END);

-- Feedback about a card is decided and audited on the patient the card was about.
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
        WHEN 'CdsCard' THEN
            IF key ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
                SELECT c.patient_id INTO found FROM cds_cards c WHERE c.uuid = key::UUID;
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
