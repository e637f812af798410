ALTER TABLE users ADD COLUMN locked_at TIMESTAMPTZ;
DELETE FROM sign_in_failures WHERE key LIKE 'pair:%';
ALTER TABLE sign_in_failures DROP COLUMN last_attempt_counted;
ALTER TABLE sign_in_failures DROP CONSTRAINT sign_in_failures_key_check;
ALTER TABLE sign_in_failures ADD CONSTRAINT sign_in_failures_key_check CHECK (key ~ '^(account|address):');
DROP FUNCTION sign_in_delay(INTEGER, INTEGER);
