-- Multi-factor sign-in with TOTP (RFC 6238): a user's secret once enrolment is confirmed, the one
-- offered while it is not, and the last time step accepted (a code is accepted once); recovery
-- codes stored as SHA-256 (they are random, 50 bits each), each used once.
ALTER TABLE users ADD COLUMN totp_secret BYTEA;
ALTER TABLE users ADD COLUMN totp_pending BYTEA;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT;

CREATE TABLE user_recovery_codes (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash   BYTEA NOT NULL CHECK (octet_length(code_hash) = 32),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    used_at     TIMESTAMPTZ,
    CONSTRAINT user_recovery_codes_code_key UNIQUE (user_id, code_hash)
);

-- A portal session is signed in fully only once every factor is given: 'mfa' awaits the code,
-- 'enroll' may do nothing but enrol (a role that requires MFA, without it yet).
ALTER TABLE sessions ADD COLUMN stage TEXT NOT NULL DEFAULT 'full' CHECK (stage IN ('full', 'mfa', 'enroll'));
