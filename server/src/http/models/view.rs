//! The model registry as every surface reads and changes it: the JSON API and the portal's model
//! pages call these, through the guard, audited alike (a change names what was done).

use diesel::prelude::*;
use serde_json::Value;
use vigil_scoring::monitoring::stored::{self, Found, Stored};
use vigil_scoring::promotion::{self, store::Recorded};
use vigil_scoring::registry::{self, Entry, RegistryError, StatusChange};
use vigil_scoring::training::{Report, Target};
use vigil_store::schema::model_monitoring;

use crate::alerts::feedback::{UsefulRate, useful_rates};
use crate::auth::policy::Action;
use crate::http::access::{Access, Guard};
use crate::http::surface::{Rejection, Surface};

pub const MODELS: Access = Access { action: Action::ManageModels, resource_type: "Model", data_category: "models" };

/// What may be done to a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Activate,
    Shadow,
    Retire,
    /// The active model gives way to the one active before it.
    Rollback,
}

impl Change {
    pub const ALL: [Self; 4] = [Self::Activate, Self::Shadow, Self::Retire, Self::Rollback];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Activate => "activate",
            Self::Shadow => "shadow",
            Self::Retire => "retire",
            Self::Rollback => "rollback",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == raw)
    }

    /// The changes a model of this status and kind may undergo.
    pub fn available(entry: &Entry) -> Vec<Self> {
        if registry::BASELINES.contains(&entry.algorithm.as_str()) {
            return Vec::new();
        }
        match entry.status.as_str() {
            "active" => vec![Self::Rollback],
            "shadow" => vec![Self::Activate, Self::Retire],
            "retired" => vec![Self::Activate, Self::Shadow],
            _ => vec![Self::Activate, Self::Shadow, Self::Retire],
        }
    }
}

/// A model with its training report (formulas have none) and its status history.
#[derive(Debug)]
pub struct Detail {
    pub entry: Entry,
    pub report: Option<Report>,
    pub history: Vec<StatusChange>,
    /// The version active for the model's target now, if any.
    pub active: Option<String>,
    /// How clinicians judged its alerts, per unit and tier.
    pub feedback: Vec<UsefulRate>,
}

/// A registry failure that is the caller's to hear of: None for no such model, the refusal's
/// words, or the database's fault.
fn outcome<T>(result: Result<T, RegistryError>) -> diesel::QueryResult<Option<Result<T, String>>> {
    match result {
        Ok(value) => Ok(Some(Ok(value))),
        Err(RegistryError::NotFound(_)) => Ok(None),
        Err(RegistryError::Refused(message)) => Ok(Some(Err(message))),
        Err(RegistryError::Database(e)) => Err(e),
    }
}

/// Every model, by target and age.
pub async fn list<S: Surface>(guard: &Guard<S>) -> Result<Vec<Entry>, Rejection<S>> {
    guard.system(MODELS, None, |conn| registry::list(conn).map(Some)).await
}

/// One model; 404 when there is none of that version.
pub async fn detail<S: Surface>(guard: &Guard<S>, version: String) -> Result<Detail, Rejection<S>> {
    guard
        .system(MODELS, Some(version.clone()), move |conn| {
            let found = outcome((|| {
                let entry = registry::show(conn, &version)?;
                let history = registry::status_history(conn, &version)?;
                let active = Target::parse(&entry.target)
                    .map(|t| registry::active(conn, t))
                    .transpose()?
                    .flatten()
                    .map(|(e, _)| e.version);
                let feedback = useful_rates(conn, Some(&version))?;
                Ok(Detail { report: report_of(&entry.metrics), entry, history, active, feedback })
            })())?;
            Ok(found.and_then(Result::ok))
        })
        .await
}

/// A model's monitoring: its weekly figures (all units, or one), the units it has figures for,
/// what monitoring found and the promotion decisions about it.
#[derive(Debug)]
pub struct Monitoring {
    pub entry: Entry,
    pub unit: Option<String>,
    pub weeks: Vec<Stored>,
    pub units: Vec<String>,
    pub findings: Vec<Found>,
    pub decisions: Vec<Recorded>,
}

pub async fn monitoring<S: Surface>(
    guard: &Guard<S>,
    version: String,
    unit: Option<String>,
) -> Result<Monitoring, Rejection<S>> {
    guard
        .system(MODELS, Some(version.clone()), move |conn| {
            let found = outcome((|| {
                let entry = registry::show(conn, &version)?;
                let weeks = stored::series(conn, entry.id, unit.as_deref())?;
                let units = model_monitoring::table
                    .filter(model_monitoring::model_id.eq(entry.id).and(model_monitoring::unit.is_not_null()))
                    .select(model_monitoring::unit.assume_not_null())
                    .distinct()
                    .order(model_monitoring::unit.assume_not_null())
                    .load(conn)?;
                let findings = stored::findings(conn, entry.id)?;
                let decisions = promotion::store::decisions(conn, entry.id)?;
                Ok(Monitoring { entry, unit, weeks, units, findings, decisions })
            })())?;
            Ok(found.and_then(Result::ok))
        })
        .await
}

fn report_of(metrics: &Value) -> Option<Report> {
    serde_json::from_value(metrics.clone()).ok()
}

/// Applies `change` to model `version` as the caller; the model that is active or changed
/// afterwards, or why not (a refusal is for the caller to read: a baseline, the active model, no
/// earlier model to roll back to, a calibration outside the bound without an override).
pub async fn change<S: Surface>(
    guard: &Guard<S>,
    version: String,
    change: Change,
    override_reason: Option<String>,
) -> Result<Result<Entry, String>, Rejection<S>> {
    let by = guard.principal().actor();
    let note = Some(change.as_str().to_owned());
    guard
        .system_noted(MODELS, Some(version.clone()), note, move |conn| {
            outcome(match change {
                Change::Activate => registry::activate(conn, &version, &by, override_reason.as_deref()),
                Change::Shadow => registry::shadow(conn, &version, &by),
                Change::Retire => registry::retire(conn, &version, &by),
                Change::Rollback => registry::show(conn, &version).and_then(|entry| {
                    if entry.status != "active" {
                        return Err(RegistryError::Refused(format!(
                            "{version} is {}: only the active model is rolled back",
                            entry.status
                        )));
                    }
                    let target = Target::parse(&entry.target)
                        .ok_or_else(|| RegistryError::Refused(format!("{version} has no known target")))?;
                    registry::rollback(conn, target, &by)
                }),
            })
        })
        .await
}
