//! The model registry in Postgres: registering trained models and the baselines, listing them,
//! and their lifecycle (candidate, shadow, active, retired), every status change recorded with
//! who made it. At most one model per target is active (a unique index says so).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde_json::Value;
use vigil_store::schema::{model_status_changes, models};

use crate::features::FEATURE_VERSION;
use crate::model::Model;
use crate::report::CALIBRATION_SLOPE_BAND;
use crate::training::{Report, Target};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("no model {0}")]
    NotFound(String),
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

/// A registry entry (without its artifact).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = models, check_for_backend(diesel::pg::Pg))]
pub struct Entry {
    pub id: i64,
    pub version: String,
    pub target: String,
    pub algorithm: String,
    pub feature_version: i32,
    pub trained_from: Option<DateTime<Utc>>,
    pub trained_until: Option<DateTime<Utc>>,
    pub training_examples: i32,
    pub training_positives: i32,
    pub metrics: Value,
    pub threshold: f64,
    pub status: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

impl Entry {
    /// The AUROC its training report gives on the test period (None for a formula).
    pub fn test_auroc(&self) -> Option<f64> {
        self.metrics["model"]["auroc"][0].as_f64()
    }
}

/// The baselines, registered once per database as shadow models of the readmission target.
pub const BASELINES: [&str; 3] = ["lace", "hospital", "charlson"];

fn next_version(conn: &mut PgConnection, target: &str) -> QueryResult<String> {
    // Serializes registrations, so two trainings never take the same number.
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext('vigil.models'))").execute(conn)?;
    let count: i64 = models::table.filter(models::target.eq(target)).count().get_result(conn)?;
    Ok(format!("{target}-{}", count + 1))
}

fn record(conn: &mut PgConnection, model: i64, from: Option<&str>, to: &str, by: &str, note: &str) -> QueryResult<()> {
    diesel::insert_into(model_status_changes::table)
        .values((
            model_status_changes::model_id.eq(model),
            model_status_changes::from_status.eq(from),
            model_status_changes::to_status.eq(to),
            model_status_changes::changed_by.eq(by),
            model_status_changes::note.eq(note),
        ))
        .execute(conn)?;
    Ok(())
}

/// Registers a trained model as a candidate; returns its version.
pub fn register(conn: &mut PgConnection, model: &Model, report: &Report, by: &str) -> Result<String, RegistryError> {
    let metrics = serde_json::to_value(report).unwrap_or(Value::Null);
    Ok(conn.transaction(|conn| {
        let version = next_version(conn, report.target.as_str())?;
        let id: i64 = diesel::insert_into(models::table)
            .values((
                models::version.eq(&version),
                models::target.eq(report.target.as_str()),
                models::algorithm.eq(model.algorithm.as_str()),
                models::feature_version.eq(model.feature_version),
                models::trained_from.eq(report.training_from),
                models::trained_until.eq(report.cutoff),
                models::training_examples.eq(report.training_examples as i32),
                models::training_positives.eq(report.training_positives as i32),
                models::metrics.eq(&metrics),
                models::threshold.eq(report.threshold),
                models::artifact.eq(model.to_json()),
                models::created_by.eq(by),
            ))
            .returning(models::id)
            .get_result(conn)?;
        record(conn, id, None, "candidate", by, "trained")?;
        Ok::<_, diesel::result::Error>(version)
    })?)
}

/// Registers LACE, HOSPITAL and Charlson for readmission, once; returns their ids by name.
pub fn ensure_baselines(conn: &mut PgConnection, by: &str) -> QueryResult<Vec<(String, i64)>> {
    conn.transaction(|conn| {
        let mut ids = Vec::new();
        for name in BASELINES {
            let found: Option<i64> = models::table
                .filter(models::target.eq("readmission").and(models::algorithm.eq(name)))
                .select(models::id)
                .first(conn)
                .optional()?;
            let id = match found {
                Some(id) => id,
                None => {
                    let version = next_version(conn, "readmission")?;
                    // Thresholds at the published high-risk cut-offs, as probabilities are not
                    // what these scores give: LACE >= 10 of 19, HOSPITAL >= 7 of 13, Charlson >= 5.
                    let threshold = match name {
                        "lace" => 10.0 / 19.0,
                        "hospital" => 7.0 / 13.0,
                        _ => 5.0 / 33.0,
                    };
                    let id: i64 = diesel::insert_into(models::table)
                        .values((
                            models::version.eq(&version),
                            models::target.eq("readmission"),
                            models::algorithm.eq(name),
                            models::feature_version.eq(FEATURE_VERSION),
                            models::threshold.eq(threshold),
                            models::status.eq("shadow"),
                            models::created_by.eq(by),
                        ))
                        .returning(models::id)
                        .get_result(conn)?;
                    record(conn, id, None, "shadow", by, "baseline")?;
                    id
                }
            };
            ids.push((name.to_owned(), id));
        }
        Ok(ids)
    })
}

pub fn list(conn: &mut PgConnection) -> QueryResult<Vec<Entry>> {
    models::table.order((models::target, models::id)).select(Entry::as_select()).load(conn)
}

pub fn show(conn: &mut PgConnection, version: &str) -> Result<Entry, RegistryError> {
    models::table
        .filter(models::version.eq(version))
        .select(Entry::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| RegistryError::NotFound(version.to_owned()))
}

/// One change of a model's status: who, when, from what to what, and why.
#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = model_status_changes, check_for_backend(diesel::pg::Pg))]
pub struct StatusChange {
    #[serde(rename = "from")]
    pub from_status: Option<String>,
    #[serde(rename = "to")]
    pub to_status: String,
    #[serde(rename = "by")]
    pub changed_by: String,
    #[serde(rename = "at")]
    pub changed_at: DateTime<Utc>,
    pub note: Option<String>,
}

/// Every status change of the model `version`, oldest first.
pub fn status_history(conn: &mut PgConnection, version: &str) -> Result<Vec<StatusChange>, RegistryError> {
    let entry = show(conn, version)?;
    Ok(model_status_changes::table
        .filter(model_status_changes::model_id.eq(entry.id))
        .order(model_status_changes::id)
        .select(StatusChange::as_select())
        .load(conn)?)
}

/// The active model of a target, with its artifact.
pub fn active(conn: &mut PgConnection, target: Target) -> QueryResult<Option<(Entry, Value)>> {
    let found: Option<(Entry, Option<Value>)> = models::table
        .filter(models::target.eq(target.as_str()).and(models::status.eq("active")))
        .select((Entry::as_select(), models::artifact))
        .first(conn)
        .optional()?;
    Ok(found.and_then(|(entry, artifact)| artifact.map(|a| (entry, a))))
}

/// A model with its artifact, by version.
pub fn artifact(conn: &mut PgConnection, version: &str) -> Result<(Entry, Value), RegistryError> {
    let (entry, artifact): (Entry, Option<Value>) = models::table
        .filter(models::version.eq(version))
        .select((Entry::as_select(), models::artifact))
        .first(conn)
        .optional()?
        .ok_or_else(|| RegistryError::NotFound(version.to_owned()))?;
    let artifact = artifact.ok_or_else(|| RegistryError::Refused(format!("{version} is a baseline formula")))?;
    Ok((entry, artifact))
}

fn set_status(conn: &mut PgConnection, entry: &Entry, to: &str, by: &str, note: &str) -> QueryResult<()> {
    diesel::update(models::table.find(entry.id)).set(models::status.eq(to)).execute(conn)?;
    record(conn, entry.id, Some(&entry.status), to, by, note)
}

/// A learned model that can score with this build: not a baseline, features of this version.
fn scorable(conn: &mut PgConnection, version: &str) -> Result<Entry, RegistryError> {
    let entry = show(conn, version)?;
    if BASELINES.contains(&entry.algorithm.as_str()) {
        return Err(RegistryError::Refused(format!("{version} is a baseline; it scores as a shadow model")));
    }
    if entry.feature_version != FEATURE_VERSION {
        return Err(RegistryError::Refused(format!(
            "{version} was trained on features of version {}, this build computes version {FEATURE_VERSION}",
            entry.feature_version
        )));
    }
    Ok(entry)
}

fn lock(conn: &mut PgConnection) -> QueryResult<usize> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext('vigil.models'))").execute(conn)
}

/// Whether a model's probabilities may be trusted enough to alert on: its calibration slope on
/// its test period within [`CALIBRATION_SLOPE_BAND`]; outside it, only with a reason recorded.
/// The note the status change keeps, or why not.
fn approval(entry: &Entry, override_reason: Option<&str>) -> Result<String, RegistryError> {
    // Read from the stored figures themselves, so that no report of another shape slips past.
    let slope = entry.metrics["model"]["calibration_slope"].as_f64().unwrap_or(f64::NAN);
    let (low, high) = CALIBRATION_SLOPE_BAND;
    if (low..=high).contains(&slope) {
        return Ok("activated".into());
    }
    let measured = if slope.is_finite() { format!("is {slope:.2}") } else { "could not be measured".to_owned() };
    match override_reason.map(str::trim).filter(|r| !r.is_empty()) {
        Some(reason) => {
            Ok(format!("activated with calibration slope {slope:.2} outside {low}–{high}; override: {reason}"))
        }
        None => Err(RegistryError::Refused(format!(
            "{}'s calibration slope on its test period {measured}, not within {low}–{high}: its probabilities \
             would mislead whoever reads them. Retrain, or give the reason it may score anyway (recorded) as an override",
            entry.version
        ))),
    }
}

/// Makes a learned model its target's active model; the one active before is retired. A model
/// outside the calibration bound needs `override_reason`.
pub fn activate(
    conn: &mut PgConnection,
    version: &str,
    by: &str,
    override_reason: Option<&str>,
) -> Result<Entry, RegistryError> {
    conn.transaction(|conn| {
        lock(conn)?;
        let entry = scorable(conn, version)?;
        if entry.status == "active" {
            return Ok(entry);
        }
        let note = approval(&entry, override_reason)?;
        let current: Option<Entry> = models::table
            .filter(models::target.eq(&entry.target).and(models::status.eq("active")))
            .select(Entry::as_select())
            .first(conn)
            .optional()?;
        if let Some(current) = current {
            set_status(conn, &current, "retired", by, &format!("replaced by {version}"))?;
        }
        set_status(conn, &entry, "active", by, &note)?;
        Ok(Entry { status: "active".into(), ..entry })
    })
}

/// Puts a learned model in shadow: every scoring run scores with it beside the active model, so
/// that a challenger is judged on the same patients before it is promoted. Its scores alert no one.
pub fn shadow(conn: &mut PgConnection, version: &str, by: &str) -> Result<Entry, RegistryError> {
    set_aside(conn, version, "shadow", by, scorable)
}

/// Retires a learned model: it scores no more.
pub fn retire(conn: &mut PgConnection, version: &str, by: &str) -> Result<Entry, RegistryError> {
    set_aside(conn, version, "retired", by, |conn, version| {
        let entry = show(conn, version)?;
        if BASELINES.contains(&entry.algorithm.as_str()) {
            return Err(RegistryError::Refused(format!("{version} is a baseline; baselines always score")));
        }
        Ok(entry)
    })
}

/// Moves a model that `check` accepts to a status other than active; the active model stays
/// until another is activated or it is rolled back, so a target is never left without one.
fn set_aside(
    conn: &mut PgConnection,
    version: &str,
    to: &str,
    by: &str,
    check: fn(&mut PgConnection, &str) -> Result<Entry, RegistryError>,
) -> Result<Entry, RegistryError> {
    conn.transaction(|conn| {
        lock(conn)?;
        let entry = check(conn, version)?;
        if entry.status == to {
            return Ok(entry);
        }
        if entry.status == "active" {
            return Err(RegistryError::Refused(format!(
                "{version} is the active model; activate another or roll back first"
            )));
        }
        set_status(conn, &entry, to, by, to)?;
        Ok(Entry { status: to.to_owned(), ..entry })
    })
}

/// Re-activates the model that was active before the current one of `target`; returns it.
pub fn rollback(conn: &mut PgConnection, target: Target, by: &str) -> Result<Entry, RegistryError> {
    conn.transaction(|conn| {
        lock(conn)?;
        let current: Entry = models::table
            .filter(models::target.eq(target.as_str()).and(models::status.eq("active")))
            .select(Entry::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| RegistryError::Refused(format!("no {} model is active", target.as_str())))?;
        #[derive(QueryableByName)]
        struct Previous {
            #[diesel(sql_type = Text)]
            version: String,
        }
        let previous: Option<Previous> = diesel::sql_query(
            "SELECT m.version FROM model_status_changes c JOIN models m ON m.id = c.model_id \
             WHERE c.to_status = 'active' AND m.target = $1 AND m.id <> $2 \
             ORDER BY c.changed_at DESC, c.id DESC LIMIT 1",
        )
        .bind::<Text, _>(target.as_str())
        .bind::<BigInt, _>(current.id)
        .get_result(conn)
        .optional()?;
        let previous = previous
            .ok_or_else(|| RegistryError::Refused(format!("no earlier {} model was active", target.as_str())))?;
        let previous = show(conn, &previous.version)?;
        set_status(conn, &current, "retired", by, &format!("rolled back to {}", previous.version))?;
        set_status(conn, &previous, "active", by, &format!("rollback from {}", current.version))?;
        Ok(Entry { status: "active".into(), ..previous })
    })
}
