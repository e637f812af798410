-- Servers remember the users and API clients that bearer tokens name (server/src/auth/known.rs)
-- and forget them all when any of them changes: an account disabled, a password or role changed, a
-- unit membership or code changed, a client disabled. The notification is sent when the changing
-- transaction commits (see the wake migration).
CREATE TRIGGER users_wake_principals AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION wake('vigil_principals');
CREATE TRIGGER user_units_wake_principals AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON user_units
    FOR EACH STATEMENT EXECUTE FUNCTION wake('vigil_principals');
CREATE TRIGGER care_units_wake_principals AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON care_units
    FOR EACH STATEMENT EXECUTE FUNCTION wake('vigil_principals');
CREATE TRIGGER api_clients_wake_principals AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON api_clients
    FOR EACH STATEMENT EXECUTE FUNCTION wake('vigil_principals');
