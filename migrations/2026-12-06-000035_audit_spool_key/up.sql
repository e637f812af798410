-- Audit rows a server kept on its own disk while the primary was out of reach (reads it served from
-- a replica) are appended once the primary is back, each with the key the server gave it when it
-- kept it: a spool replayed twice (the server stopped between the commit and emptying the spool)
-- then adds nothing the second time. Rows appended directly have no key, and the index skips them.
ALTER TABLE audit_log ADD COLUMN spool_key UUID;
CREATE UNIQUE INDEX audit_log_spool_key_idx ON audit_log (spool_key) WHERE spool_key IS NOT NULL;
