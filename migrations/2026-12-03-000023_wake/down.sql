DROP TRIGGER outbox_messages_wake ON outbox_messages;
DROP TRIGGER outbox_wake ON outbox;
DROP TRIGGER patient_changes_wake ON patient_changes;
DROP FUNCTION wake();
