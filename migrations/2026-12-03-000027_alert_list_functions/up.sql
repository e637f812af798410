-- Alert lists (the worklist, GET /api/alerts) as functions, so that each pooled connection plans
-- them once: plpgsql keeps a statement's plan for the session, where a query sent as text is
-- planned on every request (about as long as it takes to run). The SQL functions below are inlined
-- into the plpgsql ones; a live-only list passes `true` as a constant, so its plan reads only live
-- alerts through their partial indexes.

-- A patient's latest stay with a unit, found by one index probe (patient_units() and the lists).
CREATE INDEX encounters_latest_unit_idx ON encounters (patient_id, period_start DESC NULLS LAST) WHERE unit IS NOT NULL;

-- The alerts a viewer may see (viewer_units NULL: every unit), optionally of one unit, with whether
-- the viewer sees each only through a break-glass grant.
CREATE FUNCTION visible_alerts(live_only BOOLEAN, viewer_units TEXT[], in_unit TEXT, viewer BIGINT)
RETURNS TABLE (alert_id BIGINT, flagged BOOLEAN) LANGUAGE sql STABLE AS $$
    SELECT a.id, (viewer_units IS NOT NULL AND NOT (pu.units && viewer_units))
      FROM alerts a
      CROSS JOIN LATERAL (SELECT array_remove(
            ARRAY(SELECT c.code FROM patient_unit_assignments pa JOIN care_units c ON c.id = pa.unit_id
                   WHERE pa.patient_id = a.patient_id)
            || (SELECT e.unit FROM encounters e WHERE e.patient_id = a.patient_id AND e.unit IS NOT NULL
                 ORDER BY e.period_start DESC NULLS LAST LIMIT 1), NULL) AS units OFFSET 0) pu
     WHERE (a.ended_at IS NULL OR NOT live_only)
       AND (in_unit IS NULL OR a.unit = in_unit OR in_unit = ANY (pu.units))
       AND (viewer_units IS NULL OR pu.units && viewer_units
            OR EXISTS (SELECT 1 FROM break_glass_grants g
                        WHERE g.user_id = viewer AND g.patient_id = a.patient_id AND g.expires_at > now()))
$$;

-- An alert as a list shows it: with what recognises its patient, the score before its latest.
CREATE TYPE alert_listing AS (id BIGINT, patient_id BIGINT, patient TEXT, family_name TEXT, given_names TEXT,
    birth_date DATE, sex TEXT, mrn TEXT, target TEXT, unit TEXT, tier TEXT, status TEXT, probability DOUBLE PRECISION,
    previous DOUBLE PRECISION, model_version TEXT, factors JSONB, opened_at TIMESTAMPTZ, updated_at TIMESTAMPTZ,
    snoozed_until TIMESTAMPTZ, ended_at TIMESTAMPTZ, flagged BOOLEAN);

-- A page of them: newest first, or (urgency) critical first and then by probability.
CREATE FUNCTION listed_alerts(live_only BOOLEAN, viewer_units TEXT[], before BIGINT, in_unit TEXT, for_target TEXT,
                              at_tier TEXT, in_status TEXT, viewer BIGINT, urgency BOOLEAN, lim BIGINT, skip BIGINT)
RETURNS SETOF alert_listing LANGUAGE sql STABLE AS $$
    SELECT a.id, a.patient_id, p.fhir_id, p.family_name, p.given_names, p.birth_date, p.sex, p.mrn, a.target,
           a.unit, a.tier, a.status, a.probability,
           (SELECT s.probability FROM scores s
             WHERE s.patient_id = a.patient_id AND s.model_id = a.model_id AND s.id < a.score_id
             ORDER BY s.id DESC LIMIT 1),
           m.version, a.factors, a.opened_at, a.updated_at, a.snoozed_until, a.ended_at, v.flagged
      FROM visible_alerts(live_only, viewer_units, in_unit, viewer) v
      JOIN alerts a ON a.id = v.alert_id
      JOIN patients p ON p.id = a.patient_id
      JOIN models m ON m.id = a.model_id
     WHERE a.id < before
       AND (for_target IS NULL OR a.target = for_target)
       AND (at_tier IS NULL OR a.tier = at_tier)
       AND (in_status IN ('live', 'all') OR a.status = in_status)
     ORDER BY CASE WHEN urgency THEN CASE a.tier WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END ELSE 0 END,
              CASE WHEN urgency THEN a.probability ELSE 0 END DESC, a.id DESC
     LIMIT lim OFFSET skip
$$;

-- How many per tier, under every filter but the tier's.
CREATE FUNCTION counted_alerts(live_only BOOLEAN, viewer_units TEXT[], before BIGINT, in_unit TEXT, for_target TEXT,
                               in_status TEXT, viewer BIGINT)
RETURNS TABLE (tier TEXT, n BIGINT) LANGUAGE sql STABLE AS $$
    SELECT a.tier, count(*)
      FROM visible_alerts(live_only, viewer_units, in_unit, viewer) v JOIN alerts a ON a.id = v.alert_id
     WHERE a.id < before
       AND (for_target IS NULL OR a.target = for_target)
       AND (in_status IN ('live', 'all') OR a.status = in_status)
     GROUP BY a.tier
$$;

-- What the server calls: plans kept per connection, live lists planned for live alerts only.
CREATE FUNCTION alert_list(viewer_units TEXT[], before BIGINT, in_unit TEXT, for_target TEXT, at_tier TEXT,
                           in_status TEXT, viewer BIGINT, urgency BOOLEAN, lim BIGINT, skip BIGINT)
RETURNS SETOF alert_listing LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    IF in_status = 'live' THEN
        RETURN QUERY SELECT * FROM listed_alerts(true, viewer_units, before, in_unit, for_target, at_tier, in_status,
                                                 viewer, urgency, lim, skip);
    ELSE
        RETURN QUERY SELECT * FROM listed_alerts(false, viewer_units, before, in_unit, for_target, at_tier, in_status,
                                                 viewer, urgency, lim, skip);
    END IF;
END $$;

CREATE FUNCTION alert_counts(viewer_units TEXT[], before BIGINT, in_unit TEXT, for_target TEXT, in_status TEXT,
                             viewer BIGINT)
RETURNS TABLE (tier TEXT, n BIGINT) LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
BEGIN
    IF in_status = 'live' THEN
        RETURN QUERY SELECT * FROM counted_alerts(true, viewer_units, before, in_unit, for_target, in_status, viewer);
    ELSE
        RETURN QUERY SELECT * FROM counted_alerts(false, viewer_units, before, in_unit, for_target, in_status, viewer);
    END IF;
END $$;
