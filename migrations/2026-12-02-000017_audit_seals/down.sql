-- Only a fully sealed log can go back: the chain columns of an unsealed row cannot be made in SQL.
DO $$
BEGIN
    IF EXISTS (SELECT FROM audit_log a WHERE NOT EXISTS (SELECT FROM audit_seals s WHERE s.seq = a.seq)) THEN
        RAISE EXCEPTION 'audit_log has rows not sealed yet: run vigil audit seal first';
    END IF;
END
$$;
ALTER TABLE audit_log ADD COLUMN prev_hash BYTEA, ADD COLUMN hash BYTEA;
ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_or_delete;
UPDATE audit_log a SET prev_hash = s.prev_hash, hash = s.hash FROM audit_seals s WHERE s.seq = a.seq;
ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update_or_delete;
ALTER TABLE audit_log ALTER COLUMN prev_hash SET NOT NULL, ALTER COLUMN hash SET NOT NULL;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_prev_hash_check CHECK (octet_length(prev_hash) = 32);
ALTER TABLE audit_log ADD CONSTRAINT audit_log_hash_check CHECK (octet_length(hash) = 32);
DROP TABLE audit_seals;
