-- Servers remember the alert lists they read (the worklist, GET /api/alerts: see
-- server/src/http/alerts/remembered.rs) and forget them all when anything a list shows or decides
-- visibility by changes: an alert; a patient's unit assignments, stays (their latest unit) or
-- names; a unit; a break-glass grant (a new one; an expiring one cannot change a list that was
-- remembered, as lists with break-glass rows are never remembered); a model's version. The
-- notification is sent when the changing transaction commits (see the wake migration).
CREATE TRIGGER alerts_wake_lists AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON alerts
    FOR EACH STATEMENT EXECUTE FUNCTION wake('vigil_alert_lists');
CREATE TRIGGER patient_unit_assignments_wake_lists AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON patient_unit_assignments
    FOR EACH STATEMENT EXECUTE FUNCTION wake('vigil_alert_lists');
CREATE TRIGGER encounters_wake_lists AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON encounters
    FOR EACH STATEMENT EXECUTE FUNCTION wake('vigil_alert_lists');
CREATE TRIGGER patients_wake_lists AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON patients
    FOR EACH STATEMENT EXECUTE FUNCTION wake('vigil_alert_lists');
CREATE TRIGGER care_units_wake_lists AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON care_units
    FOR EACH STATEMENT EXECUTE FUNCTION wake('vigil_alert_lists');
CREATE TRIGGER break_glass_grants_wake_lists AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON break_glass_grants
    FOR EACH STATEMENT EXECUTE FUNCTION wake('vigil_alert_lists');
CREATE TRIGGER models_wake_lists AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON models
    FOR EACH STATEMENT EXECUTE FUNCTION wake('vigil_alert_lists');
