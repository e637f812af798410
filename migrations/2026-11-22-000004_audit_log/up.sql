-- The audit trail: one row per read or write of patient data (and per security event), by
-- anyone or anything. Append-only and hash-chained: each row's hash covers its content and the
-- previous row's hash, so `vigil audit verify` finds any row changed or removed afterwards.
CREATE TABLE audit_log (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              TIMESTAMPTZ NOT NULL,
    -- "user:<username>", "client:<client_id>", "service:<name>", "cli:<os user>", or "anonymous".
    actor           TEXT NOT NULL,
    actor_role      TEXT NOT NULL,
    action          TEXT NOT NULL,
    resource_type   TEXT,
    resource_id     TEXT,
    patient_id      BIGINT,
    data_category   TEXT,
    outcome         TEXT NOT NULL CHECK (outcome IN ('success', 'denied', 'failure')),
    source_address  TEXT,
    request_id      TEXT,
    break_glass     BOOLEAN NOT NULL DEFAULT FALSE,
    detail          TEXT,
    prev_hash       BYTEA NOT NULL CHECK (octet_length(prev_hash) = 32),
    hash            BYTEA NOT NULL CHECK (octet_length(hash) = 32)
);
CREATE INDEX audit_log_at_idx ON audit_log (at);
CREATE INDEX audit_log_patient_idx ON audit_log (patient_id, at) WHERE patient_id IS NOT NULL;
CREATE INDEX audit_log_break_glass_idx ON audit_log (at) WHERE break_glass;

-- Rows can be added, never changed or removed, whatever the role (grants do not bind a
-- superuser or the table's owner; a trigger does, unless deliberately disabled, and then the
-- hash chain tells).
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'permission denied for table audit_log: the audit log is append-only'
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
