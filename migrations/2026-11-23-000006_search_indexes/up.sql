-- Indexes for FHIR search on patients: identifier (system and value, or value alone) by JSONB
-- containment, and name by case-insensitive prefix of the family name.
CREATE INDEX patients_identifiers_idx ON patients USING GIN (identifiers jsonb_path_ops);
CREATE INDEX patients_family_name_idx ON patients (lower(family_name) text_pattern_ops);
CREATE INDEX patients_birth_date_idx ON patients (birth_date);
