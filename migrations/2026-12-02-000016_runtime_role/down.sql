ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM vigil_runtime;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM vigil_runtime;
DROP FUNCTION analyze_records();
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM vigil_runtime;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM vigil_runtime;
REVOKE USAGE ON SCHEMA public FROM vigil_runtime;
-- The role itself is cluster-wide and may serve other databases: it stays.
