-- Alerts: threshold rules (versioned), alerts with one row per patient, target and episode, every
-- change of an alert in its history, and the outbox of notifications written in the same
-- transaction as the change that causes them. Grants come from the default privileges of
-- migration 16.

-- Where people are emailed, and who is called when a critical alert is not acknowledged.
-- CR and LF never enter a header: names and addresses are refused with them.
ALTER TABLE users ADD COLUMN email TEXT
    CHECK (email ~ '^[^@\s<>()\[\],;:"]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$' AND length(email) <= 254);
ALTER TABLE users ADD CONSTRAINT users_display_name_line CHECK (display_name !~ '[\r\n]');
ALTER TABLE user_units ADD COLUMN escalation_contact BOOLEAN NOT NULL DEFAULT false;

-- How long a critical alert may stay unacknowledged in a unit before its escalation contacts are
-- told, and how often again after that.
ALTER TABLE care_units
    ADD COLUMN escalate_after_secs INTEGER NOT NULL DEFAULT 1800 CHECK (escalate_after_secs BETWEEN 1 AND 604800),
    ADD COLUMN escalate_repeat_secs INTEGER NOT NULL DEFAULT 3600 CHECK (escalate_repeat_secs BETWEEN 1 AND 604800);

-- A rule per target, for every unit (unit_id NULL) or one unit (which then wins). A tier without a
-- threshold is not used; at least one is set, and the set ones rise with the tier.
CREATE TABLE alert_rules (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    target      TEXT NOT NULL CHECK (target IN ('admission', 'readmission')),
    unit_id     BIGINT REFERENCES care_units (id),
    info        DOUBLE PRECISION CHECK (info > 0 AND info < 1),
    warning     DOUBLE PRECISION CHECK (warning > 0 AND warning < 1),
    critical    DOUBLE PRECISION CHECK (critical > 0 AND critical < 1),
    hysteresis  DOUBLE PRECISION NOT NULL CHECK (hysteresis >= 0 AND hysteresis < 0.5),
    enabled     BOOLEAN NOT NULL DEFAULT true,
    version     INTEGER NOT NULL DEFAULT 1,
    changed_by  TEXT NOT NULL,
    changed_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    reason      TEXT NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    CONSTRAINT alert_rules_some_tier CHECK (COALESCE(info, warning, critical) IS NOT NULL),
    CONSTRAINT alert_rules_tiers_rise CHECK (
        (info IS NULL OR warning IS NULL OR info < warning)
        AND (warning IS NULL OR critical IS NULL OR warning < critical)
        AND (info IS NULL OR critical IS NULL OR info < critical)),
    CONSTRAINT alert_rules_hysteresis_below_lowest CHECK (hysteresis < COALESCE(info, warning, critical))
);
CREATE UNIQUE INDEX alert_rules_one_per_scope ON alert_rules (target, unit_id) NULLS NOT DISTINCT;

-- Every version of every rule, written by the database itself.
CREATE TABLE alert_rule_history (
    rule_id     BIGINT NOT NULL REFERENCES alert_rules (id),
    version     INTEGER NOT NULL,
    info        DOUBLE PRECISION,
    warning     DOUBLE PRECISION,
    critical    DOUBLE PRECISION,
    hysteresis  DOUBLE PRECISION NOT NULL,
    enabled     BOOLEAN NOT NULL,
    changed_by  TEXT NOT NULL,
    changed_at  TIMESTAMPTZ NOT NULL,
    reason      TEXT NOT NULL,
    PRIMARY KEY (rule_id, version)
);

-- An update bumps the version (BEFORE, on the row); every version, the first included, is copied
-- into the history (AFTER, when the row's id exists).
CREATE FUNCTION alert_rules_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.target <> OLD.target OR NEW.unit_id IS DISTINCT FROM OLD.unit_id THEN
        RAISE EXCEPTION 'a rule''s target and unit do not change; add a rule instead' USING ERRCODE = 'check_violation';
    END IF;
    NEW.version := OLD.version + 1;
    NEW.changed_at := now();
    RETURN NEW;
END
$$;
CREATE TRIGGER alert_rules_bump BEFORE UPDATE ON alert_rules FOR EACH ROW EXECUTE FUNCTION alert_rules_bump();
CREATE FUNCTION alert_rules_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO alert_rule_history VALUES (NEW.id, NEW.version, NEW.info, NEW.warning, NEW.critical,
        NEW.hysteresis, NEW.enabled, NEW.changed_by, NEW.changed_at, NEW.reason);
    RETURN NULL;
END
$$;
CREATE TRIGGER alert_rules_keep AFTER INSERT OR UPDATE ON alert_rules FOR EACH ROW EXECUTE FUNCTION alert_rules_keep();

-- One alert per patient, target and episode. The episode of a readmission alert is the discharge
-- scored; of an admission alert, the stretch above the rule's lowest tier (named by the score that
-- opened it). An episode is live until it ends (ended_at): the score fell below the lowest tier
-- less the hysteresis, the readmission window closed, the patient was admitted or died.
CREATE TABLE alerts (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id      BIGINT NOT NULL REFERENCES patients (id),
    target          TEXT NOT NULL CHECK (target IN ('admission', 'readmission')),
    episode         TEXT NOT NULL,
    unit            TEXT,
    rule_id         BIGINT NOT NULL REFERENCES alert_rules (id),
    rule_version    INTEGER NOT NULL,
    model_id        BIGINT NOT NULL REFERENCES models (id),
    score_id        BIGINT NOT NULL REFERENCES scores (id),
    probability     DOUBLE PRECISION NOT NULL CHECK (probability >= 0 AND probability <= 1),
    factors         JSONB NOT NULL DEFAULT '[]',
    tier            TEXT NOT NULL CHECK (tier IN ('info', 'warning', 'critical')),
    -- The highest tier recipients were told of: a later score notifies again only above it.
    notified_tier   TEXT NOT NULL CHECK (notified_tier IN ('info', 'warning', 'critical')),
    status          TEXT NOT NULL DEFAULT 'open'
                    CHECK (status IN ('open', 'acknowledged', 'snoozed', 'dismissed', 'resolved')),
    snoozed_until   TIMESTAMPTZ,
    -- Since when the alert has been critical (escalation counts from here), and its escalations.
    critical_since  TIMESTAMPTZ,
    escalated_at    TIMESTAMPTZ,
    escalations     INTEGER NOT NULL DEFAULT 0,
    opened_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    ended_at        TIMESTAMPTZ,
    CONSTRAINT alerts_snooze_has_end CHECK ((status = 'snoozed') = (snoozed_until IS NOT NULL)),
    CONSTRAINT alerts_resolved_ended CHECK ((status = 'resolved') = (ended_at IS NOT NULL))
);
CREATE UNIQUE INDEX alerts_episode_key ON alerts (patient_id, target, episode);
CREATE UNIQUE INDEX alerts_one_live ON alerts (patient_id, target) WHERE ended_at IS NULL;
CREATE INDEX alerts_live_idx ON alerts (unit, status) WHERE ended_at IS NULL;
CREATE INDEX alerts_snoozed_idx ON alerts (snoozed_until) WHERE status = 'snoozed';
CREATE INDEX alerts_critical_idx ON alerts (critical_since) WHERE status = 'open' AND tier = 'critical';

-- The lifecycle, enforced here whatever the caller: open → acknowledged → resolved, snoozed (and
-- back to open), dismissed; reopen from acknowledged, snoozed or dismissed; resolved is final.
CREATE FUNCTION alert_transition_allowed(old_status TEXT, new_status TEXT) RETURNS BOOLEAN
    LANGUAGE sql IMMUTABLE AS $$
    SELECT old_status = new_status OR (old_status, new_status) IN (
        ('open', 'acknowledged'), ('open', 'snoozed'), ('open', 'dismissed'), ('open', 'resolved'),
        ('acknowledged', 'snoozed'), ('acknowledged', 'dismissed'), ('acknowledged', 'resolved'),
        ('acknowledged', 'open'),
        ('snoozed', 'open'), ('snoozed', 'acknowledged'), ('snoozed', 'dismissed'), ('snoozed', 'resolved'),
        ('dismissed', 'open'), ('dismissed', 'resolved'))
$$;
CREATE FUNCTION alerts_lifecycle() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT alert_transition_allowed(OLD.status, NEW.status) THEN
        RAISE EXCEPTION 'alert % is %: it cannot become %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'alerts_lifecycle';
    END IF;
    IF NEW.patient_id <> OLD.patient_id OR NEW.target <> OLD.target OR NEW.episode <> OLD.episode THEN
        RAISE EXCEPTION 'an alert''s patient, target and episode do not change' USING ERRCODE = 'check_violation';
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END
$$;
CREATE TRIGGER alerts_lifecycle BEFORE UPDATE ON alerts FOR EACH ROW EXECUTE FUNCTION alerts_lifecycle();

-- Every change of every alert: who (a user, or the engine), when, what and why.
CREATE TABLE alert_events (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id     BIGINT NOT NULL REFERENCES alerts (id),
    at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL CHECK (action IN ('opened', 'updated', 'tier-raised', 'tier-lowered', 'acknowledged',
                 'snoozed', 'dismissed', 'reopened', 'snooze-ended', 'resolved', 'escalated')),
    from_status  TEXT,
    to_status    TEXT NOT NULL,
    tier         TEXT NOT NULL,
    probability  DOUBLE PRECISION NOT NULL,
    score_id     BIGINT REFERENCES scores (id),
    reason       TEXT,
    note         TEXT CHECK (length(note) <= 2000)
);
CREATE INDEX alert_events_alert_idx ON alert_events (alert_id, id);

-- What each user wants by email: which tiers, at once or in a digest, and hours without email
-- (critical alerts come through them). No row: warning and critical, at once, no quiet hours.
CREATE TABLE notification_preferences (
    user_id         BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    email_tiers     TEXT[] NOT NULL DEFAULT '{warning,critical}'
                    CHECK (email_tiers <@ ARRAY['info', 'warning', 'critical']),
    delivery        TEXT NOT NULL DEFAULT 'immediate' CHECK (delivery IN ('immediate', 'digest')),
    quiet_start     TIME,
    quiet_end       TIME,
    time_zone       TEXT NOT NULL DEFAULT 'UTC',
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT notification_preferences_quiet_pair CHECK ((quiet_start IS NULL) = (quiet_end IS NULL))
);

-- The outbox: one row per recipient per notice, written in the transaction of the alert change
-- that causes it. A relay groups a recipient's due notices into one message (outbox_messages)
-- and sends that.
CREATE TABLE outbox_messages (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id          BIGINT NOT NULL REFERENCES users (id),
    recipient        TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- A relay that claimed the message holds it until then; after, another may (it crashed).
    leased_until     TIMESTAMPTZ,
    last_error       TEXT,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at          TIMESTAMPTZ,
    CONSTRAINT outbox_messages_sent CHECK ((status = 'sent') = (sent_at IS NOT NULL))
);
CREATE INDEX outbox_messages_due_idx ON outbox_messages (next_attempt_at) WHERE status = 'pending';

CREATE TABLE outbox (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       BIGINT NOT NULL REFERENCES users (id),
    alert_id      BIGINT NOT NULL REFERENCES alerts (id),
    kind          TEXT NOT NULL CHECK (kind IN ('alert', 'tier-raised', 'reopened', 'escalation')),
    tier          TEXT NOT NULL CHECK (tier IN ('info', 'warning', 'critical')),
    unit          TEXT,
    -- When the notice may go: after the group wait, a digest's time, or the end of quiet hours.
    deliver_after TIMESTAMPTZ NOT NULL,
    message_id    BIGINT REFERENCES outbox_messages (id),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX outbox_unsent_idx ON outbox (user_id, deliver_after) WHERE message_id IS NULL;
CREATE INDEX outbox_message_idx ON outbox (message_id);

-- The score consumer's position (the last score id evaluated) lives in feed_positions, as
-- consumer 'alerts'.

-- The unit an alert belongs to: the unit of the patient's current or latest encounter, else the
-- first unit they are assigned to explicitly.
CREATE FUNCTION patient_unit(patient BIGINT) RETURNS TEXT LANGUAGE sql STABLE AS $$
    SELECT COALESCE(
        (SELECT e.unit FROM encounters e WHERE e.patient_id = patient AND e.unit IS NOT NULL
          ORDER BY e.period_start DESC NULLS LAST LIMIT 1),
        (SELECT u.code FROM patient_unit_assignments a JOIN care_units u ON u.id = a.unit_id
          WHERE a.patient_id = patient ORDER BY u.code LIMIT 1))
$$;

-- When a notice of `tier` to user `viewer` may go: after the group wait (or the digest interval
-- for who asked for digests), moved to the end of the user's quiet hours unless it is critical.
CREATE FUNCTION notice_due(viewer BIGINT, tier TEXT, group_wait INTERVAL, digest INTERVAL)
    RETURNS TIMESTAMPTZ LANGUAGE plpgsql STABLE AS $$
DECLARE
    p notification_preferences;
    due TIMESTAMPTZ;
    local_due TIMESTAMP;
    t TIME;
    quiet BOOLEAN;
    quiet_over TIMESTAMP;
BEGIN
    SELECT * INTO p FROM notification_preferences WHERE user_id = viewer;
    due := now() + CASE WHEN p.delivery = 'digest' THEN digest ELSE group_wait END;
    IF tier = 'critical' OR p.quiet_start IS NULL THEN
        RETURN due;
    END IF;
    local_due := due AT TIME ZONE p.time_zone;
    t := local_due::TIME;
    quiet := CASE WHEN p.quiet_start < p.quiet_end THEN t >= p.quiet_start AND t < p.quiet_end
                  ELSE t >= p.quiet_start OR t < p.quiet_end END;
    IF NOT quiet THEN
        RETURN due;
    END IF;
    quiet_over := local_due::DATE + p.quiet_end;
    IF quiet_over <= local_due THEN
        quiet_over := quiet_over + INTERVAL '1 day';
    END IF;
    RETURN quiet_over AT TIME ZONE p.time_zone;
END
$$;
