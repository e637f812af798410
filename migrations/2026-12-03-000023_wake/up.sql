-- Wakes background consumers when work arrives (store/src/wake.rs): a notification without
-- payload, sent when the writing transaction commits, on a channel named by the trigger. Postgres
-- folds repeats within one transaction into one notification.
CREATE FUNCTION wake() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_ARGV[0], '');
    RETURN NULL;
END
$$;

CREATE TRIGGER patient_changes_wake AFTER INSERT ON patient_changes
    FOR EACH STATEMENT EXECUTE FUNCTION wake('vigil_changes');
CREATE TRIGGER outbox_wake AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION wake('vigil_outbox');
-- A dead letter put back by `vigil outbox retry`.
CREATE TRIGGER outbox_messages_wake AFTER UPDATE OF status ON outbox_messages
    FOR EACH ROW WHEN (NEW.status = 'pending' AND OLD.status <> 'pending')
    EXECUTE FUNCTION wake('vigil_outbox');
