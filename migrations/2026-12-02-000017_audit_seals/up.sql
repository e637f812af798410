-- The audit chain moves out of audit_log into audit_seals, so that appending a row no longer
-- serializes every writer behind one lock: requests insert their rows concurrently (sharing
-- Postgres' group commit), and one sealer at a time (an advisory lock) links the rows not yet
-- sealed into the chain, in sequence order, within a second. A seal's hash is the same as the
-- chain's was: SHA-256 over the previous seal's hash and the row's length-prefixed fields, so the
-- existing chain carries over unchanged, position for row. Tamper evidence covers every sealed row;
-- `vigil audit verify` reports the unsealed tail.
CREATE TABLE audit_seals (
    -- The chain's order: 1, 2, 3, ... without gaps. A row committed late is sealed late.
    position    BIGINT PRIMARY KEY CHECK (position > 0),
    seq         BIGINT NOT NULL CONSTRAINT audit_seals_seq_key UNIQUE REFERENCES audit_log (seq),
    prev_hash   BYTEA NOT NULL CHECK (octet_length(prev_hash) = 32),
    hash        BYTEA NOT NULL CHECK (octet_length(hash) = 32),
    sealed_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO audit_seals (position, seq, prev_hash, hash)
    SELECT row_number() OVER (ORDER BY seq), seq, prev_hash, hash FROM audit_log;
ALTER TABLE audit_log DROP COLUMN prev_hash, DROP COLUMN hash;

CREATE TRIGGER audit_seals_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_seals
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_seals_no_truncate BEFORE TRUNCATE ON audit_seals
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- Like the log: the runtime role seals and reads, nothing else.
REVOKE UPDATE, DELETE ON audit_seals FROM vigil_runtime;
GRANT SELECT, INSERT ON audit_seals TO vigil_runtime;
