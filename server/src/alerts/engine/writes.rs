//! The alert rows the engine writes when a score opens an alert or changes one beyond its latest
//! score (tier, notified tier, the time it became critical), with their history and notices.

use diesel::prelude::*;
use vigil_store::schema::{alerts, scores};

use super::{EngineError, Evaluated, LiveRow, Stored, Timing};
use crate::alerts::episode::Status;
use crate::alerts::record::{event, notify};
use crate::alerts::rules::Rule;
use crate::alerts::tier::Tier;

/// A score's factors, read where they are written: most scores only move an alert's probability.
#[diesel::dsl::auto_type]
fn factors_of(score: i64) -> _ {
    scores::table.find(score).select(scores::factors).single_value().assume_not_null()
}

#[allow(clippy::too_many_arguments)]
pub(super) fn open(
    conn: &mut PgConnection,
    timing: Timing,
    score: &Stored,
    probability: f64,
    tier: Tier,
    rule: &Rule,
    episode: &str,
    unit: Option<String>,
    done: &mut Evaluated,
) -> Result<Option<LiveRow>, EngineError> {
    let critical_since = (tier == Tier::Critical).then(chrono::Utc::now);
    // One alert per episode, ever: a readmission episode that ended is not opened again.
    let id: Option<i64> = diesel::insert_into(alerts::table)
        .values((
            alerts::patient_id.eq(score.patient_id),
            alerts::target.eq(&score.target),
            alerts::episode.eq(episode),
            alerts::unit.eq(&unit),
            alerts::rule_id.eq(rule.id),
            alerts::rule_version.eq(rule.version),
            alerts::model_id.eq(score.model_id),
            alerts::score_id.eq(score.id),
            alerts::probability.eq(probability),
            alerts::factors.eq(factors_of(score.id)),
            alerts::tier.eq(tier.as_str()),
            alerts::notified_tier.eq(tier.as_str()),
            alerts::critical_since.eq(critical_since),
        ))
        .on_conflict_do_nothing()
        .returning(alerts::id)
        .get_result(conn)
        .optional()?;
    let Some(id) = id else { return Ok(None) };
    event(conn, id, "opened", None, Status::Open, tier.as_str(), probability, score.id, "")?;
    done.opened += 1;
    done.notices += notify(conn, timing, id, score.patient_id, "alert", tier, unit.as_deref())?;
    Ok(Some(LiveRow {
        id,
        patient_id: score.patient_id,
        target: score.target.clone(),
        episode: episode.to_owned(),
        unit,
        rule_id: rule.id,
        tier: tier.as_str().to_owned(),
        notified_tier: tier.as_str().to_owned(),
        status: Status::Open.as_str().to_owned(),
    }))
}

#[allow(clippy::too_many_arguments)]
pub(super) fn update(
    conn: &mut PgConnection,
    timing: Timing,
    row: &mut LiveRow,
    score: &Stored,
    probability: f64,
    tier: Tier,
    notify_now: bool,
    done: &mut Evaluated,
) -> Result<(), EngineError> {
    let before = Tier::parse(&row.tier);
    let notified = if notify_now { tier.as_str().to_owned() } else { row.notified_tier.clone() };
    let critical_since = match (before, tier) {
        (Some(Tier::Critical), Tier::Critical) => None,
        (_, Tier::Critical) => Some(Some(chrono::Utc::now())),
        _ => Some(None),
    };
    let target = alerts::table.find(row.id);
    let values = (
        alerts::probability.eq(probability),
        alerts::score_id.eq(score.id),
        alerts::model_id.eq(score.model_id),
        alerts::factors.eq(factors_of(score.id)),
        alerts::tier.eq(tier.as_str()),
        alerts::notified_tier.eq(&notified),
    );
    match critical_since {
        None => diesel::update(target).set(values).execute(conn)?,
        Some(since) => diesel::update(target).set((values, alerts::critical_since.eq(since))).execute(conn)?,
    };
    let status = Status::parse(&row.status).unwrap_or(Status::Open);
    if before != Some(tier) {
        let action = if before.is_some_and(|b| tier > b) { "tier-raised" } else { "tier-lowered" };
        event(conn, row.id, action, Some(&row.status), status, tier.as_str(), probability, score.id, "")?;
    }
    if notify_now {
        done.notices += notify(conn, timing, row.id, score.patient_id, "tier-raised", tier, row.unit.as_deref())?;
    }
    row.tier = tier.as_str().to_owned();
    row.notified_tier = notified;
    done.updated += 1;
    Ok(())
}
