DROP INDEX patients_birth_date_idx;
DROP INDEX patients_family_name_idx;
DROP INDEX patients_identifiers_idx;
