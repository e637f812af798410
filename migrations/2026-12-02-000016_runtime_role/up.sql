-- Two roles. Whoever applies the migrations (`vigil migrate`, the owner role) owns every table;
-- `vigil serve`, `vigil worker` and the other commands connect as a login role that is a member of
-- vigil_runtime, which gets only what the application needs: rows to read and write, and on the
-- audit log only INSERT and SELECT. Without ownership it can neither drop nor disable the triggers
-- that keep the log append-only, nor alter, truncate or delete from it.
--
-- vigil_runtime is created here when the migrating role may create roles; otherwise create it
-- first (CREATE ROLE vigil_runtime NOLOGIN) and grant it to the application's login role.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'vigil_runtime') THEN
        CREATE ROLE vigil_runtime NOLOGIN;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO vigil_runtime;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO vigil_runtime;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO vigil_runtime;
REVOKE UPDATE, DELETE ON audit_log FROM vigil_runtime;
-- The migration bookkeeping is read (readiness), never written, by the application.
REVOKE INSERT, UPDATE, DELETE ON __diesel_schema_migrations FROM vigil_runtime;

-- A bulk load refreshes the planner's statistics as the tables grow, which only their owner may
-- do: this function does it with the owner's rights, and nothing else.
CREATE FUNCTION analyze_records() RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    ANALYZE raw_resources, patients, encounters, conditions, observations, medication_requests, procedures;
END
$$;
REVOKE EXECUTE ON FUNCTION analyze_records() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION analyze_records() TO vigil_runtime;

-- Tables and sequences later migrations create get the same rows-only grants.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO vigil_runtime;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO vigil_runtime;
