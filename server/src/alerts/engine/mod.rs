//! The alert engine: a consumer of stored scores, in score id order, with an exactly-once
//! position. Each chunk of scores, the alert changes they cause, their history and the outbox
//! notices for them are written in one transaction with the position, so a killed worker neither
//! loses nor repeats an evaluation. Score ids commit in order (scores are written only under the
//! scoring runners' lock, one chunk transaction after another), so no score commits behind the
//! position.

use std::collections::HashMap;
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, Text};
use vigil_store::schema::{alerts, feed_positions, models, scores};

mod writes;

use self::writes::{open, update};
use super::episode::{self, Decision, Ended, Live, Status};
use super::record::event;
use super::rules::{self, Rule, RuleError};
use super::tier::Tier;

/// The consumer's name in `feed_positions`, whose `seq` is the last score id evaluated.
pub const CONSUMER: &str = "alerts";

/// When notices may go: after the group wait (immediate delivery) or the digest interval.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub group_wait: Duration,
    pub digest: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self { group_wait: Duration::from_secs(30), digest: Duration::from_secs(3600) }
    }
}

/// What one evaluation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evaluated {
    pub scores: usize,
    pub opened: usize,
    pub updated: usize,
    pub ended: usize,
    pub notices: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("database: {0}")]
    Database(#[from] diesel::result::Error),
    #[error(transparent)]
    Rules(#[from] RuleError),
}

/// A score as the engine sees it.
#[derive(Debug, Queryable)]
struct Stored {
    id: i64,
    patient_id: i64,
    model_id: i64,
    target: String,
    encounter_fhir_id: Option<String>,
    probability: Option<f64>,
    model_status: String,
}

#[derive(Debug, Clone, Queryable)]
struct LiveRow {
    id: i64,
    patient_id: i64,
    target: String,
    episode: String,
    unit: Option<String>,
    rule_id: i64,
    tier: String,
    notified_tier: String,
    status: String,
}

#[derive(QueryableByName)]
struct UnitOf {
    #[diesel(sql_type = BigInt)]
    patient: i64,
    #[diesel(sql_type = Nullable<Text>)]
    unit: Option<String>,
}

/// Evaluates up to `limit` scores after the position. None when there was nothing to do or
/// another evaluator holds the position (it is doing the work).
pub fn evaluate(conn: &mut PgConnection, timing: Timing, limit: i64) -> Result<Option<Evaluated>, EngineError> {
    diesel::insert_into(feed_positions::table)
        .values((feed_positions::consumer.eq(CONSUMER), feed_positions::seq.eq(0_i64)))
        .on_conflict_do_nothing()
        .execute(conn)?;
    conn.transaction(|conn| {
        let position: Option<i64> = feed_positions::table
            .find(CONSUMER)
            .select(feed_positions::seq)
            .for_update()
            .skip_locked()
            .first(conn)
            .optional()?;
        let Some(position) = position else { return Ok(None) };
        // The window of the next `limit` scores; of those, only the active models' are read.
        #[derive(QueryableByName)]
        struct Window {
            #[diesel(sql_type = Nullable<BigInt>)]
            last: Option<i64>,
            #[diesel(sql_type = BigInt)]
            scores: i64,
        }
        let window: Window = diesel::sql_query(
            "SELECT max(id) AS last, count(*) AS scores
               FROM (SELECT id FROM scores WHERE id > $1 ORDER BY id LIMIT $2) w",
        )
        .bind::<BigInt, _>(position)
        .bind::<BigInt, _>(limit)
        .get_result(conn)?;
        let Some(last) = window.last else { return Ok(None) };
        let batch: Vec<Stored> = scores::table
            .inner_join(models::table)
            .filter(scores::id.gt(position).and(scores::id.le(last)))
            .filter(models::status.eq("active"))
            .order(scores::id)
            .select((
                scores::id,
                scores::patient_id,
                scores::model_id,
                models::target,
                scores::encounter_fhir_id,
                scores::probability,
                models::status,
            ))
            .load(conn)?;
        let mut state = State::load(conn, &batch)?;
        let mut done = Evaluated { scores: usize::try_from(window.scores).unwrap_or(0), ..Evaluated::default() };
        // Only the active model of a target alerts; shadow models and the baselines are scored for
        // comparison.
        for score in &batch {
            if let Some(probability) = score.probability {
                state.apply(conn, timing, score, probability, &mut done)?;
            }
        }
        state.flush(conn)?;
        diesel::update(feed_positions::table.find(CONSUMER))
            .set((feed_positions::seq.eq(last), feed_positions::updated_at.eq(diesel::dsl::now)))
            .execute(conn)?;
        Ok(Some(done))
    })
}

/// Evaluates every score not evaluated yet.
pub fn evaluate_all(conn: &mut PgConnection, timing: Timing) -> Result<Evaluated, EngineError> {
    let mut total = Evaluated::default();
    while let Some(done) = evaluate(conn, timing, 5_000)? {
        total.scores += done.scores;
        total.opened += done.opened;
        total.updated += done.updated;
        total.ended += done.ended;
        total.notices += done.notices;
    }
    Ok(total)
}

/// The live alerts, units and rules a chunk of scores needs, kept current as it is applied.
struct State {
    live: HashMap<(i64, String), LiveRow>,
    units: HashMap<i64, Option<String>>,
    rules: Vec<Rule>,
    /// Updates that change only an alert's latest score (no tier, status or notice), by alert,
    /// written together at the end of the chunk: most of a nightly run's work.
    quiet: HashMap<i64, Quiet>,
}

/// An alert's latest score, to be written (with the score's factors, copied in the database).
struct Quiet {
    probability: f64,
    score_id: i64,
    model_id: i64,
}

impl State {
    fn load(conn: &mut PgConnection, batch: &[Stored]) -> Result<Self, EngineError> {
        let mut patients: Vec<i64> = batch.iter().map(|s| s.patient_id).collect();
        patients.sort_unstable();
        patients.dedup();
        let live: Vec<LiveRow> = alerts::table
            .filter(alerts::patient_id.eq_any(&patients).and(alerts::ended_at.is_null()))
            .select((
                alerts::id,
                alerts::patient_id,
                alerts::target,
                alerts::episode,
                alerts::unit,
                alerts::rule_id,
                alerts::tier,
                alerts::notified_tier,
                alerts::status,
            ))
            .load(conn)?;
        let live: HashMap<(i64, String), LiveRow> =
            live.into_iter().map(|a| ((a.patient_id, a.target.clone()), a)).collect();
        let rules = rules::list(conn)?;
        // A unit chooses the rule of an alert to open, so only the patients who may get one need
        // theirs: those with an alert open and those at or above some rule's lowest threshold.
        let lowest = |target: &str| {
            rules
                .iter()
                .filter(|r| r.enabled && r.target.as_str() == target)
                .map(|r| r.thresholds.lowest())
                .fold(f64::INFINITY, f64::min)
        };
        let mut needing: Vec<i64> = batch
            .iter()
            .filter(|s| s.model_status == "active")
            .filter(|s| {
                live.contains_key(&(s.patient_id, s.target.clone()))
                    || s.probability.is_some_and(|p| p >= lowest(&s.target))
            })
            .map(|s| s.patient_id)
            .collect();
        needing.sort_unstable();
        needing.dedup();
        let units: Vec<UnitOf> = if needing.is_empty() {
            Vec::new()
        } else {
            diesel::sql_query("SELECT p AS patient, patient_unit(p) AS unit FROM unnest($1::BIGINT[]) AS p")
                .bind::<Array<BigInt>, _>(&needing)
                .load(conn)?
        };
        Ok(Self { live, units: units.into_iter().map(|u| (u.patient, u.unit)).collect(), rules, quiet: HashMap::new() })
    }

    /// The enabled rule for `target` in `unit`: the unit's own, else the one for every unit.
    fn rule_for(&self, target: &str, unit: Option<&str>) -> Option<&Rule> {
        let enabled = |r: &&Rule| r.enabled && r.target.as_str() == target;
        self.rules
            .iter()
            .filter(enabled)
            .find(|r| unit.is_some() && r.unit.as_deref() == unit)
            .or_else(|| self.rules.iter().filter(enabled).find(|r| r.unit.is_none()))
    }

    fn apply(
        &mut self,
        conn: &mut PgConnection,
        timing: Timing,
        score: &Stored,
        probability: f64,
        done: &mut Evaluated,
    ) -> Result<(), EngineError> {
        let key = (score.patient_id, score.target.clone());
        let unit = self.units.get(&score.patient_id).cloned().flatten();
        let rule = self.rule_for(&score.target, unit.as_deref()).cloned();
        let live = match self.live.get(&key) {
            None => None,
            Some(row) => {
                // The alert keeps the rule it was opened under, even if it was disabled since.
                let thresholds = self.rules.iter().find(|r| r.id == row.rule_id).map(|r| r.thresholds);
                match (thresholds, Tier::parse(&row.tier), Tier::parse(&row.notified_tier), Status::parse(&row.status))
                {
                    (Some(thresholds), Some(tier), Some(notified), Some(status)) => {
                        Some(Live { episode: row.episode.clone(), tier, notified, status, thresholds })
                    }
                    _ => None,
                }
            }
        };
        let decision = episode::decide(
            live.as_ref(),
            score.encounter_fhir_id.as_deref(),
            probability,
            rule.as_ref().map(|r| &r.thresholds),
        );
        let opening = match decision {
            Decision::Nothing => None,
            Decision::Open { tier } => Some(tier),
            Decision::Update { tier, notify } => {
                if let Some(row) = self.live.get_mut(&key) {
                    if !notify && Tier::parse(&row.tier) == Some(tier) {
                        let latest = Quiet { probability, score_id: score.id, model_id: score.model_id };
                        self.quiet.insert(row.id, latest);
                        done.updated += 1;
                    } else {
                        // Written now, with everything the quiet update would have written.
                        self.quiet.remove(&row.id);
                        update(conn, timing, row, score, probability, tier, notify, done)?;
                    }
                }
                None
            }
            Decision::End(ended) => {
                self.end(conn, &key, score, probability, ended, done)?;
                None
            }
            Decision::Replace { ended, tier } => {
                self.end(conn, &key, score, probability, ended, done)?;
                Some(tier)
            }
        };
        if let (Some(tier), Some(rule)) = (opening, rule) {
            let episode = score.encounter_fhir_id.clone().unwrap_or_else(|| format!("from-score-{}", score.id));
            if let Some(row) = open(conn, timing, score, probability, tier, &rule, &episode, unit, done)? {
                self.live.insert(key, row);
            }
        }
        Ok(())
    }

    /// Writes the quiet updates in one statement.
    fn flush(&mut self, conn: &mut PgConnection) -> QueryResult<()> {
        if self.quiet.is_empty() {
            return Ok(());
        }
        let mut ids = Vec::with_capacity(self.quiet.len());
        let (mut probabilities, mut scores, mut models) = (Vec::new(), Vec::new(), Vec::new());
        for (id, q) in self.quiet.drain() {
            ids.push(id);
            probabilities.push(q.probability);
            scores.push(q.score_id);
            models.push(q.model_id);
        }
        diesel::sql_query(
            "UPDATE alerts a SET probability = u.probability, score_id = u.score_id, model_id = u.model_id,
                    factors = s.factors
               FROM unnest($1::BIGINT[], $2::FLOAT8[], $3::BIGINT[], $4::BIGINT[])
                    AS u (id, probability, score_id, model_id)
               JOIN scores s ON s.id = u.score_id
              WHERE a.id = u.id",
        )
        .bind::<Array<BigInt>, _>(&ids)
        .bind::<Array<diesel::sql_types::Double>, _>(&probabilities)
        .bind::<Array<BigInt>, _>(&scores)
        .bind::<Array<BigInt>, _>(&models)
        .execute(conn)
        .map(|_| ())
    }

    fn end(
        &mut self,
        conn: &mut PgConnection,
        key: &(i64, String),
        score: &Stored,
        probability: f64,
        ended: Ended,
        done: &mut Evaluated,
    ) -> Result<(), EngineError> {
        if let Some(row) = self.live.remove(key) {
            self.quiet.remove(&row.id);
            diesel::update(alerts::table.find(row.id))
                .set((
                    alerts::status.eq(Status::Resolved.as_str()),
                    alerts::ended_at.eq(diesel::dsl::now),
                    alerts::snoozed_until.eq(None::<chrono::DateTime<chrono::Utc>>),
                    alerts::probability.eq(probability),
                    alerts::score_id.eq(score.id),
                ))
                .execute(conn)?;
            event(
                conn,
                row.id,
                "resolved",
                Some(&row.status),
                Status::Resolved,
                &row.tier,
                probability,
                score.id,
                ended.reason(),
            )?;
            done.ended += 1;
        }
        Ok(())
    }
}
