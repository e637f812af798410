//! What the engine and the sweep write besides the alert itself: its history (`alert_events`)
//! and the outbox notices of a change, with their recipients chosen in SQL.

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Interval, Nullable, Text};
use vigil_store::schema::alert_events;

use super::engine::Timing;
use super::episode::Status;
use super::tier::Tier;

const ACTOR: &str = "service:alerts";

#[allow(clippy::too_many_arguments)]
pub fn event(
    conn: &mut PgConnection,
    alert: i64,
    action: &str,
    from: Option<&str>,
    to: Status,
    tier: &str,
    probability: f64,
    score: i64,
    reason: &str,
) -> QueryResult<()> {
    diesel::insert_into(alert_events::table)
        .values((
            alert_events::alert_id.eq(alert),
            alert_events::actor.eq(ACTOR),
            alert_events::action.eq(action),
            alert_events::from_status.eq(from),
            alert_events::to_status.eq(to.as_str()),
            alert_events::tier.eq(tier),
            alert_events::probability.eq(probability),
            alert_events::score_id.eq(score),
            alert_events::reason.eq((!reason.is_empty()).then_some(reason)),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Writes a notice of `kind` about alert `alert` (shown under `unit`) to everyone who should hear
/// of it, if their preferences take `tier` by email: the active clinicians with an email address
/// of any of the patient's units (the unit of their latest stay and the units they are assigned
/// to: whoever may see them), and whoever holds an unexpired break-glass grant for the patient.
/// Returns how many.
pub fn notify(
    conn: &mut PgConnection,
    timing: Timing,
    alert: i64,
    patient: i64,
    kind: &str,
    tier: Tier,
    unit: Option<&str>,
) -> QueryResult<usize> {
    diesel::sql_query(
        "WITH units AS (SELECT unnest(patient_units($5)) AS code)
         INSERT INTO outbox (user_id, alert_id, kind, tier, unit, deliver_after)
         SELECT u.id, $1, $2, $3, $4, notice_due(u.id, $3, $6, $7)
           FROM users u
          WHERE u.disabled_at IS NULL AND u.email IS NOT NULL AND u.role = 'clinician'
            AND (EXISTS (SELECT 1 FROM user_units uu JOIN care_units c ON c.id = uu.unit_id
                          WHERE uu.user_id = u.id AND c.code IN (SELECT code FROM units))
                 OR EXISTS (SELECT 1 FROM break_glass_grants g
                             WHERE g.user_id = u.id AND g.patient_id = $5 AND g.expires_at > now()))
            AND $3 = ANY (COALESCE((SELECT p.email_tiers FROM notification_preferences p WHERE p.user_id = u.id),
                                   ARRAY['warning', 'critical']))",
    )
    .bind::<BigInt, _>(alert)
    .bind::<Text, _>(kind)
    .bind::<Text, _>(tier.as_str())
    .bind::<Nullable<Text>, _>(unit)
    .bind::<BigInt, _>(patient)
    .bind::<Interval, _>(interval(timing.group_wait))
    .bind::<Interval, _>(interval(timing.digest))
    .execute(conn)
}

/// A duration as a Postgres interval.
pub fn interval(d: Duration) -> diesel::pg::data_types::PgInterval {
    diesel::pg::data_types::PgInterval::from_microseconds(i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}
