//! Threshold rules: one per target for every unit, and optionally one per target and unit, which
//! then wins. Every change is a new version that the database copies into the rule's history with
//! who made it, when and why.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use vigil_scoring::training::Target;
use vigil_store::schema::{alert_rule_history, alert_rules, care_units};

use diesel::dsl::Eq;

use super::tier::{ThresholdError, Thresholds, Tier};
use crate::auth::users::UnitCode;

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error(transparent)]
    Invalid(#[from] ThresholdError),
    #[error("no care unit with code {0}")]
    NoSuchUnit(String),
    #[error("a rule for {target} in {scope} exists already (rule {id}); change it with `vigil alert rule set {id}`")]
    Exists { target: &'static str, scope: String, id: i64 },
    #[error("no alert rule {0}")]
    NotFound(i64),
    #[error("say why the rule changes (a reason of 1 to 500 characters)")]
    Reason,
    #[error("no scores of an active {0} model to take a share of: activate a model and score first")]
    NoScores(&'static str),
    #[error("database: {0}")]
    Database(#[from] diesel::result::Error),
}

/// A rule as it stands.
#[derive(Debug, Clone, Serialize)]
pub struct Rule {
    pub id: i64,
    pub target: Target,
    /// The unit's code; None for every unit.
    pub unit: Option<String>,
    pub thresholds: Thresholds,
    pub enabled: bool,
    pub version: i32,
    pub changed_by: String,
    pub changed_at: DateTime<Utc>,
    pub reason: String,
}

/// One version of a rule.
#[derive(Debug, Clone, Serialize, Queryable)]
pub struct RuleVersion {
    pub version: i32,
    pub info: Option<f64>,
    pub warning: Option<f64>,
    pub critical: Option<f64>,
    pub hysteresis: f64,
    pub enabled: bool,
    pub changed_by: String,
    pub changed_at: DateTime<Utc>,
    pub reason: String,
}

type RuleRow =
    (i64, String, Option<String>, Option<f64>, Option<f64>, Option<f64>, f64, bool, i32, String, DateTime<Utc>, String);

fn rule_of(row: RuleRow) -> Option<Rule> {
    let (id, target, unit, info, warning, critical, hysteresis, enabled, version, changed_by, changed_at, reason) = row;
    // The database holds what these checks hold; a row that fails them was not written by Vigil.
    let thresholds = Thresholds::new(info, warning, critical, hysteresis).ok()?;
    Some(Rule {
        id,
        target: Target::parse(&target)?,
        unit,
        thresholds,
        enabled,
        version,
        changed_by,
        changed_at,
        reason,
    })
}

macro_rules! rule_columns {
    () => {
        (
            alert_rules::id,
            alert_rules::target,
            care_units::code.nullable(),
            alert_rules::info,
            alert_rules::warning,
            alert_rules::critical,
            alert_rules::hysteresis,
            alert_rules::enabled,
            alert_rules::version,
            alert_rules::changed_by,
            alert_rules::changed_at,
            alert_rules::reason,
        )
    };
}

/// The enabled rule that holds for `target` for a patient of `units`: a unit's own first, else
/// the one for every unit.
pub fn holding<'a>(rules: &'a [Rule], target: &str, units: &[String]) -> Option<&'a Rule> {
    let enabled = |r: &&Rule| r.enabled && r.target.as_str() == target;
    rules
        .iter()
        .filter(enabled)
        .find(|r| r.unit.as_ref().is_some_and(|u| units.contains(u)))
        .or_else(|| rules.iter().filter(enabled).find(|r| r.unit.is_none()))
}

/// Every rule, by target and then unit (the rule for every unit first).
pub fn list(conn: &mut PgConnection) -> Result<Vec<Rule>, RuleError> {
    let rows: Vec<RuleRow> = alert_rules::table
        .left_join(care_units::table)
        .order((alert_rules::target, care_units::code.nullable().asc().nulls_first()))
        .select(rule_columns!())
        .load(conn)?;
    Ok(rows.into_iter().filter_map(rule_of).collect())
}

pub fn get(conn: &mut PgConnection, id: i64) -> Result<Rule, RuleError> {
    let row: Option<RuleRow> = alert_rules::table
        .left_join(care_units::table)
        .filter(alert_rules::id.eq(id))
        .select(rule_columns!())
        .first(conn)
        .optional()?;
    row.and_then(rule_of).ok_or(RuleError::NotFound(id))
}

/// Every version of rule `id`, oldest first.
pub fn history(conn: &mut PgConnection, id: i64) -> Result<Vec<RuleVersion>, RuleError> {
    get(conn, id)?;
    Ok(alert_rule_history::table
        .filter(alert_rule_history::rule_id.eq(id))
        .order(alert_rule_history::version)
        .select((
            alert_rule_history::version,
            alert_rule_history::info,
            alert_rule_history::warning,
            alert_rule_history::critical,
            alert_rule_history::hysteresis,
            alert_rule_history::enabled,
            alert_rule_history::changed_by,
            alert_rule_history::changed_at,
            alert_rule_history::reason,
        ))
        .load(conn)?)
}

fn reason(raw: &str) -> Result<&str, RuleError> {
    let reason = raw.trim();
    if (1..=500).contains(&reason.chars().count()) { Ok(reason) } else { Err(RuleError::Reason) }
}

type Version<'a> = (
    Eq<alert_rules::info, Option<f64>>,
    Eq<alert_rules::warning, Option<f64>>,
    Eq<alert_rules::critical, Option<f64>>,
    Eq<alert_rules::hysteresis, f64>,
    Eq<alert_rules::changed_by, &'a str>,
    Eq<alert_rules::reason, &'a str>,
);

/// The columns a new version of a rule writes.
fn version<'a>(thresholds: &Thresholds, by: &'a str, why: &'a str) -> Version<'a> {
    (
        alert_rules::info.eq(thresholds.get(Tier::Info)),
        alert_rules::warning.eq(thresholds.get(Tier::Warning)),
        alert_rules::critical.eq(thresholds.get(Tier::Critical)),
        alert_rules::hysteresis.eq(thresholds.hysteresis()),
        alert_rules::changed_by.eq(by),
        alert_rules::reason.eq(why),
    )
}

/// Adds the rule for `target` in `unit` (None: every unit).
pub fn add(
    conn: &mut PgConnection,
    target: Target,
    unit: Option<&UnitCode>,
    thresholds: Thresholds,
    by: &str,
    why: &str,
) -> Result<Rule, RuleError> {
    let why = reason(why)?;
    conn.transaction(|conn| {
        let unit_id = match unit {
            None => None,
            Some(code) => Some(
                care_units::table
                    .filter(care_units::code.eq(code.as_str()))
                    .select(care_units::id)
                    .first::<i64>(conn)
                    .optional()?
                    .ok_or_else(|| RuleError::NoSuchUnit(code.as_str().to_owned()))?,
            ),
        };
        // The unique index backs this up against a concurrent add.
        let existing = alert_rules::table
            .filter(alert_rules::target.eq(target.as_str()))
            .select((alert_rules::id, alert_rules::unit_id))
            .load::<(i64, Option<i64>)>(conn)?
            .into_iter()
            .find_map(|(id, scope)| (scope == unit_id).then_some(id));
        if let Some(id) = existing {
            let scope = unit.map_or_else(|| "every unit".to_owned(), |u| format!("unit {}", u.as_str()));
            return Err(RuleError::Exists { target: target.as_str(), scope, id });
        }
        let id: i64 = diesel::insert_into(alert_rules::table)
            .values((
                alert_rules::target.eq(target.as_str()),
                alert_rules::unit_id.eq(unit_id),
                version(&thresholds, by, why),
            ))
            .returning(alert_rules::id)
            .get_result(conn)?;
        get(conn, id)
    })
}

/// Gives rule `id` new thresholds (a new version).
pub fn set(conn: &mut PgConnection, id: i64, thresholds: Thresholds, by: &str, why: &str) -> Result<Rule, RuleError> {
    let why = reason(why)?;
    let changed = diesel::update(alert_rules::table.find(id)).set(version(&thresholds, by, why)).execute(conn)?;
    if changed == 0 {
        return Err(RuleError::NotFound(id));
    }
    get(conn, id)
}

/// Turns rule `id` off (no new alerts from it; open ones stay) or on again (a new version).
pub fn set_enabled(conn: &mut PgConnection, id: i64, enabled: bool, by: &str, why: &str) -> Result<Rule, RuleError> {
    let why = reason(why)?;
    let changed = diesel::update(alert_rules::table.find(id))
        .set((alert_rules::enabled.eq(enabled), alert_rules::changed_by.eq(by), alert_rules::reason.eq(why)))
        .execute(conn)?;
    if changed == 0 {
        return Err(RuleError::NotFound(id));
    }
    get(conn, id)
}

/// The probability above which the highest `share` of the active `target` model's scores of its
/// latest run lie.
pub fn probability_at_share(conn: &mut PgConnection, target: Target, share: f64) -> Result<f64, RuleError> {
    #[derive(QueryableByName)]
    struct At {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Double>)]
        probability: Option<f64>,
    }
    let at: At = diesel::sql_query(
        "WITH active AS (SELECT id FROM models WHERE target = $1 AND status = 'active'),
              latest AS (SELECT max(s.run_id) AS run FROM scores s JOIN active a ON a.id = s.model_id)
         SELECT percentile_disc(1 - $2) WITHIN GROUP (ORDER BY s.probability) AS probability
           FROM scores s JOIN active a ON a.id = s.model_id JOIN latest l ON l.run = s.run_id
          WHERE s.probability IS NOT NULL",
    )
    .bind::<diesel::sql_types::Text, _>(target.as_str())
    .bind::<diesel::sql_types::Double, _>(share)
    .get_result(conn)?;
    at.probability.ok_or(RuleError::NoScores(target.as_str()))
}

/// The rule for `target` in `unit` made to say this (PUT): changed as one new version if it
/// exists, added otherwise.
pub fn put(
    conn: &mut PgConnection,
    target: Target,
    unit: Option<&UnitCode>,
    thresholds: Thresholds,
    enabled: bool,
    by: &str,
    why: &str,
) -> Result<Rule, RuleError> {
    conn.transaction(|conn| {
        let existing =
            list(conn)?.into_iter().find(|r| r.target == target && r.unit.as_deref() == unit.map(UnitCode::as_str));
        match existing {
            None => {
                let added = add(conn, target, unit, thresholds, by, why)?;
                if enabled { Ok(added) } else { set_enabled(conn, added.id, false, by, why) }
            }
            Some(rule) => {
                diesel::update(alert_rules::table.find(rule.id))
                    .set((version(&thresholds, by, reason(why)?), alert_rules::enabled.eq(enabled)))
                    .execute(conn)?;
                get(conn, rule.id)
            }
        }
    })
}
