//! What a run applies: the models in use (active and shadow, each with its scorer) and the scores
//! of one patient at a time (pure).

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde_json::Value;
use vigil_store::schema::models;

use super::RunError;
use crate::baselines;
use crate::explain;
use crate::features::{self, FEATURE_VERSION, Index};
use crate::history::{Encounter, History};
use crate::labels;
use crate::model::Model;
use crate::training::Target;

/// How a model scores.
#[derive(Debug)]
pub enum Scorer {
    Learned(Box<Model>),
    Lace,
    Hospital,
    Charlson,
}

/// A model in use: active or shadow.
#[derive(Debug)]
pub struct InUse {
    pub model_id: i64,
    pub version: String,
    pub target: Target,
    pub active: bool,
    pub scorer: Scorer,
}

/// The active and shadow models. A learned model of another feature version is refused: its
/// inputs would mean something else.
pub fn models_in_use(conn: &mut PgConnection) -> Result<Vec<InUse>, RunError> {
    scorers(conn, models::table.filter(models::status.eq_any(["active", "shadow"])).into_boxed())
}

/// The models a run started with, whatever their status now.
pub(super) fn models_of_run(conn: &mut PgConnection, ids: &[i64]) -> Result<Vec<InUse>, RunError> {
    scorers(conn, models::table.filter(models::id.eq_any(ids)).into_boxed())
}

fn scorers(conn: &mut PgConnection, query: models::BoxedQuery<'_, diesel::pg::Pg>) -> Result<Vec<InUse>, RunError> {
    type Row = (i64, String, String, String, String, i32, Option<Value>);
    let rows: Vec<Row> = query
        .order(models::id)
        .select((
            models::id,
            models::version,
            models::target,
            models::algorithm,
            models::status,
            models::feature_version,
            models::artifact,
        ))
        .load(conn)?;
    rows.into_iter()
        .filter_map(|(model_id, version, target, algorithm, status, feature_version, artifact)| {
            let target = Target::parse(&target)?;
            let scorer = match (algorithm.as_str(), artifact) {
                ("lace", _) => Scorer::Lace,
                ("hospital", _) => Scorer::Hospital,
                ("charlson", _) => Scorer::Charlson,
                (_, Some(artifact)) if feature_version == FEATURE_VERSION => match Model::from_json(&artifact) {
                    Ok(model) => Scorer::Learned(Box::new(model)),
                    Err(source) => return Some(Err(RunError::Model { version, source })),
                },
                _ => return None,
            };
            Some(Ok(InUse { model_id, version, target, active: status == "active", scorer }))
        })
        .collect()
}

/// A score before it belongs to a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    pub model_id: i64,
    pub patient_id: i64,
    pub encounter_fhir_id: Option<String>,
    pub as_of: DateTime<Utc>,
    pub probability: Option<f64>,
    pub points: Option<i32>,
    pub features: Vec<f64>,
    pub factors: Vec<explain::Factor>,
}

/// The discharge a patient is at risk of readmission after at `as_of`: their last stay, finished
/// alive within the 30 days before.
pub fn recent_discharge(history: &History, as_of: DateTime<Utc>) -> Option<&Encounter> {
    history
        .stays()
        .filter(|s| s.end.is_some_and(|end| end <= as_of && end > as_of - Duration::days(labels::HORIZON_DAYS)))
        .filter(|s| labels::is_readmission_index(history, s))
        .max_by_key(|s| s.end)
}

/// Every score of one patient at `as_of` (pure).
pub fn score(history: &History, as_of: DateTime<Utc>, models: &[InUse]) -> Vec<Score> {
    let mut out = Vec::new();
    let admission = labels::admission_eligible(history, as_of).then(|| {
        let index = Index::Admission { at: as_of };
        (index, features::compute(history, &index))
    });
    let readmission = recent_discharge(history, as_of).map(|stay| {
        let index = Index::Readmission { stay };
        (stay, index, features::compute(history, &index))
    });
    for model in models {
        let (computed, encounter, index_time) = match (model.target, &admission, &readmission) {
            (Target::Admission, Some((index, f)), _) => (f, None, index.time()),
            (Target::Readmission, _, Some((stay, index, f))) => (f, Some(*stay), index.time()),
            _ => continue,
        };
        let (probability, points, factors) = match (&model.scorer, encounter) {
            (Scorer::Learned(m), _) => {
                let p = m.probabilities(std::slice::from_ref(&computed.values)).first().copied();
                (p, None, explain::factors(m, computed))
            }
            (Scorer::Lace, Some(stay)) => (None, Some(baselines::lace(history, stay) as i32), Vec::new()),
            (Scorer::Hospital, Some(stay)) => (None, Some(baselines::hospital(history, stay) as i32), Vec::new()),
            (Scorer::Charlson, Some(stay)) => {
                (None, Some(baselines::charlson_at_discharge(history, stay) as i32), Vec::new())
            }
            _ => continue,
        };
        out.push(Score {
            model_id: model.model_id,
            patient_id: history.patient_id,
            encounter_fhir_id: encounter.map(|e| e.fhir_id.clone()),
            as_of: index_time,
            probability,
            points,
            features: computed.values.clone(),
            factors,
        });
    }
    out
}
