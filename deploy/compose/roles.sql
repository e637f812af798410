-- Vigil's roles on the compose Postgres (run once, when its volume is new): the owner applies
-- migrations and owns the tables; the application logs in as a member of vigil_runtime, which may
-- only insert into and read the audit trail. Passwords are for this local stack only.
CREATE ROLE vigil_owner LOGIN PASSWORD 'owner-local-only';
CREATE DATABASE vigil OWNER vigil_owner;
CREATE ROLE vigil_runtime NOLOGIN;
CREATE ROLE vigil_app LOGIN PASSWORD 'app-local-only' IN ROLE vigil_runtime;
