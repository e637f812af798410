//! What time does to alerts, run by `vigil worker` every few seconds: snoozes that ran out reopen
//! (and tell again); episodes that ended without a new score end (the readmission window closed,
//! the patient was admitted, or died); critical alerts nobody acknowledged in time go to their
//! unit's escalation contacts, once, then again after the unit's repeat interval. Each change, its
//! event and its notices commit together; rows are taken with `SKIP LOCKED`, so any number of
//! workers may sweep.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use super::Tier;
use super::engine::Timing;
use super::episode::Status;
use super::record;

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Swept {
    pub reopened: usize,
    pub ended: usize,
    pub escalated: usize,
}

#[derive(QueryableByName)]
struct Due {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    patient_id: i64,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Text)]
    tier: String,
    #[diesel(sql_type = Nullable<Text>)]
    unit: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Double)]
    probability: f64,
    #[diesel(sql_type = BigInt)]
    score_id: i64,
    #[diesel(sql_type = Text)]
    why: String,
}

const DUE_COLUMNS: &str = "a.id, a.patient_id, a.status, a.tier, a.unit, a.probability, a.score_id";

/// Changes `alert` with `update` (its id is $1) and records the event.
fn change(conn: &mut PgConnection, alert: &Due, update: &str, action: &str, to: Status) -> QueryResult<()> {
    diesel::sql_query(update).bind::<BigInt, _>(alert.id).execute(conn)?;
    record::event(
        conn,
        alert.id,
        action,
        Some(&alert.status),
        to,
        &alert.tier,
        alert.probability,
        alert.score_id,
        &alert.why,
    )
}

pub fn sweep(conn: &mut PgConnection, timing: Timing) -> QueryResult<Swept> {
    Ok(Swept { reopened: reopen_snoozed(conn, timing)?, ended: end_episodes(conn)?, escalated: escalate(conn)? })
}

fn reopen_snoozed(conn: &mut PgConnection, timing: Timing) -> QueryResult<usize> {
    conn.transaction(|conn| {
        let due: Vec<Due> = diesel::sql_query(format!(
            "SELECT {DUE_COLUMNS}, 'the snooze ended' AS why FROM alerts a
              WHERE a.status = 'snoozed' AND a.snoozed_until <= now() FOR UPDATE SKIP LOCKED"
        ))
        .load(conn)?;
        for alert in &due {
            change(
                conn,
                alert,
                "UPDATE alerts SET status = 'open', snoozed_until = NULL WHERE id = $1",
                "snooze-ended",
                Status::Open,
            )?;
            // Still live, so still above the lowest tier: the people of the unit hear of it again.
            let tier = Tier::parse(&alert.tier).unwrap_or(Tier::Warning);
            record::notify(conn, timing, alert.id, alert.patient_id, "reopened", tier, alert.unit.as_deref())?;
        }
        Ok(due.len())
    })
}

fn end_episodes(conn: &mut PgConnection) -> QueryResult<usize> {
    conn.transaction(|conn| {
        // A readmission alert's episode is its discharge; an inpatient stay that starts after an
        // alert opened is the admission it warned of (or a readmission: either way, it is over).
        let due: Vec<Due> = diesel::sql_query(format!(
            "SELECT {DUE_COLUMNS},
                    CASE WHEN p.deceased THEN 'the patient died'
                         WHEN admitted.id IS NOT NULL THEN 'the patient was admitted'
                         ELSE 'the readmission window closed' END AS why
               FROM alerts a
               JOIN patients p ON p.id = a.patient_id
               LEFT JOIN encounters discharge ON a.target = 'readmission' AND discharge.fhir_id = a.episode
               LEFT JOIN LATERAL (SELECT e.id FROM encounters e
                                   WHERE e.patient_id = a.patient_id AND e.class_code IN ('IMP', 'ACUTE', 'NONAC')
                                     AND e.period_start > a.opened_at
                                     AND (discharge.id IS NULL OR e.id <> discharge.id) LIMIT 1) admitted ON true
              WHERE a.ended_at IS NULL
                AND (p.deceased OR admitted.id IS NOT NULL
                     OR discharge.period_end + interval '30 days' < now())
              FOR UPDATE OF a SKIP LOCKED"
        ))
        .load(conn)?;
        for alert in &due {
            change(
                conn,
                alert,
                "UPDATE alerts SET status = 'resolved', ended_at = now(), snoozed_until = NULL WHERE id = $1",
                "resolved",
                Status::Resolved,
            )?;
        }
        Ok(due.len())
    })
}

fn escalate(conn: &mut PgConnection) -> QueryResult<usize> {
    conn.transaction(|conn| {
        let due: Vec<Due> = diesel::sql_query(format!(
            "SELECT {DUE_COLUMNS}, 'not acknowledged in time' AS why
               FROM alerts a JOIN care_units u ON u.code = a.unit
              WHERE a.status = 'open' AND a.tier = 'critical' AND a.ended_at IS NULL
                AND a.critical_since + make_interval(secs => u.escalate_after_secs) <= now()
                AND (a.escalated_at IS NULL OR a.escalated_at + make_interval(secs => u.escalate_repeat_secs) <= now())
              FOR UPDATE OF a SKIP LOCKED"
        ))
        .load(conn)?;
        for alert in &due {
            change(
                conn,
                alert,
                "UPDATE alerts SET escalated_at = now(), escalations = escalations + 1 WHERE id = $1",
                "escalated",
                Status::Open,
            )?;
            // Escalation contacts hear at once, whatever their preferences: it is critical.
            diesel::sql_query(
                "INSERT INTO outbox (user_id, alert_id, kind, tier, unit, deliver_after)
                 SELECT uu.user_id, $1, 'escalation', 'critical', $2, now()
                   FROM user_units uu JOIN care_units c ON c.id = uu.unit_id JOIN users u ON u.id = uu.user_id
                  WHERE c.code = $2 AND uu.escalation_contact AND u.disabled_at IS NULL AND u.email IS NOT NULL",
            )
            .bind::<BigInt, _>(alert.id)
            .bind::<Nullable<Text>, _>(alert.unit.as_deref())
            .execute(conn)?;
        }
        Ok(due.len())
    })
}
