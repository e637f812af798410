DROP TRIGGER models_wake_lists ON models;
DROP TRIGGER break_glass_grants_wake_lists ON break_glass_grants;
DROP TRIGGER care_units_wake_lists ON care_units;
DROP TRIGGER patients_wake_lists ON patients;
DROP TRIGGER encounters_wake_lists ON encounters;
DROP TRIGGER patient_unit_assignments_wake_lists ON patient_unit_assignments;
DROP TRIGGER alerts_wake_lists ON alerts;
