-- Who may use Vigil and what they may see: users and their roles, care units, unit membership,
-- patients' explicit unit assignments, portal sessions, sign-in throttling, SMART Backend
-- Services clients, and break-glass grants.

CREATE TABLE care_units (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The code encounters carry as their unit (encounters.unit).
    code        TEXT NOT NULL CONSTRAINT care_units_code_key UNIQUE CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    name        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username            TEXT NOT NULL CONSTRAINT users_username_key UNIQUE
                        CHECK (username ~ '^[a-z0-9][a-z0-9_.@-]{1,63}$'),
    display_name        TEXT NOT NULL,
    role                TEXT NOT NULL CHECK (role IN ('clinician', 'informatics', 'admin', 'integration')),
    -- argon2id PHC string.
    password_hash       TEXT NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    disabled_at         TIMESTAMPTZ,
    -- Set after 100 failed sign-ins in a row; cleared by setting a new password.
    locked_at           TIMESTAMPTZ,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    password_changed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE user_units (
    user_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    unit_id  BIGINT NOT NULL REFERENCES care_units (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, unit_id)
);
CREATE INDEX user_units_unit_idx ON user_units (unit_id);

-- A patient's unit is their current or last encounter's unit, or one assigned here explicitly.
CREATE TABLE patient_unit_assignments (
    patient_id   BIGINT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    unit_id      BIGINT NOT NULL REFERENCES care_units (id) ON DELETE CASCADE,
    assigned_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (patient_id, unit_id)
);
CREATE INDEX patient_unit_assignments_unit_idx ON patient_unit_assignments (unit_id);

-- Portal sessions. The cookie holds a random secret; only its SHA-256 is stored.
CREATE TABLE sessions (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    secret_hash   BYTEA NOT NULL CONSTRAINT sessions_secret_hash_key UNIQUE CHECK (octet_length(secret_hash) = 32),
    user_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token    TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at    TIMESTAMPTZ NOT NULL,
    ended_at      TIMESTAMPTZ
);
CREATE INDEX sessions_user_idx ON sessions (user_id) WHERE ended_at IS NULL;

-- Failed sign-ins in a row, per account name (known or not, so throttling says nothing about
-- which accounts exist) and per source address.
CREATE TABLE sign_in_failures (
    key              TEXT PRIMARY KEY CHECK (key ~ '^(account|address):'),
    failures         INTEGER NOT NULL CHECK (failures > 0),
    last_failure_at  TIMESTAMPTZ NOT NULL
);

-- SMART Backend Services clients: systems that sign their own assertions with a key from the
-- JWKS registered here.
CREATE TABLE api_clients (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id    TEXT NOT NULL CONSTRAINT api_clients_client_id_key UNIQUE,
    name         TEXT NOT NULL,
    jwks         JSONB NOT NULL CHECK (jsonb_typeof(jwks -> 'keys') = 'array'),
    scopes       TEXT NOT NULL,
    disabled_at  TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Every client assertion's jti, kept until the assertion expires: a jti is never accepted twice.
CREATE TABLE client_assertion_jtis (
    client_id   TEXT NOT NULL,
    jti         TEXT NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX client_assertion_jtis_expires_idx ON client_assertion_jtis (expires_at);

-- A clinician's access to a patient outside their units, given a reason; it expires, and admins
-- review it.
CREATE TABLE break_glass_grants (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id),
    patient_id   BIGINT NOT NULL REFERENCES patients (id),
    reason       TEXT NOT NULL CHECK (length(btrim(reason)) >= 10),
    granted_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ NOT NULL,
    reviewed_at  TIMESTAMPTZ,
    reviewed_by  BIGINT REFERENCES users (id),
    review_note  TEXT,
    CONSTRAINT break_glass_grants_expiry_check CHECK (expires_at > granted_at),
    CONSTRAINT break_glass_grants_review_check CHECK ((reviewed_at IS NULL) = (reviewed_by IS NULL))
);
CREATE INDEX break_glass_grants_active_idx ON break_glass_grants (user_id, patient_id, expires_at);
CREATE INDEX break_glass_grants_unreviewed_idx ON break_glass_grants (granted_at) WHERE reviewed_at IS NULL;
