-- Servers remember the resources they served by id with the access facts of their patient (see
-- server/src/http/access/remembered_reads.rs) and forget them all when anything either depends on
-- changes: a stored version; the row that ties a resource to its patient; a patient's unit
-- assignments or stays (their latest unit); a unit. Statement triggers, so that a load of many rows
-- sends one notification, when its transaction commits (see the wake migration).
CREATE TRIGGER raw_resources_wake_reads AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON raw_resources
    FOR EACH STATEMENT EXECUTE FUNCTION wake('vigil_reads');
CREATE TRIGGER patients_wake_reads AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON patients
    FOR EACH STATEMENT EXECUTE FUNCTION wake('vigil_reads');
CREATE TRIGGER encounters_wake_reads AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON encounters
    FOR EACH STATEMENT EXECUTE FUNCTION wake('vigil_reads');
CREATE TRIGGER conditions_wake_reads AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON conditions
    FOR EACH STATEMENT EXECUTE FUNCTION wake('vigil_reads');
CREATE TRIGGER observations_wake_reads AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON observations
    FOR EACH STATEMENT EXECUTE FUNCTION wake('vigil_reads');
CREATE TRIGGER medication_requests_wake_reads AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON medication_requests
    FOR EACH STATEMENT EXECUTE FUNCTION wake('vigil_reads');
CREATE TRIGGER procedures_wake_reads AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON procedures
    FOR EACH STATEMENT EXECUTE FUNCTION wake('vigil_reads');
CREATE TRIGGER patient_unit_assignments_wake_reads AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON patient_unit_assignments
    FOR EACH STATEMENT EXECUTE FUNCTION wake('vigil_reads');
CREATE TRIGGER care_units_wake_reads AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON care_units
    FOR EACH STATEMENT EXECUTE FUNCTION wake('vigil_reads');
