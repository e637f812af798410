//! Training and evaluation, pure: examples from histories, a split by time, hyperparameters chosen
//! and calibration fitted on a later slice than the fit, and a report on the period after the
//! cutoff beside LACE and HOSPITAL on the same events.
//!
//! Time split: examples whose outcome was known before the cutoff (index + 30 days <= cutoff)
//! train; of those, the earliest three quarters fit the learner and the latest quarter chooses the
//! hyperparameters and fits the calibration. Examples indexed at or after the cutoff are the test.
//! So no model ever sees an outcome from after the time it would have been trained at.

use std::time::Instant;

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::baselines;
use crate::calibration::{self, Calibration, calibration_intervals};
use crate::drift::Reference;
use crate::fairness::{self, subgroups};
pub use crate::fairness::{Subgroup, age_band};
use crate::features::{self, FEATURE_VERSION, Index};
use crate::history::History;
use crate::labels;
pub use crate::labels::horizon;
use crate::metrics::{self, AtThreshold, Auroc, Decile};
use crate::model::{Algorithm, Model, ModelError, Platt};
pub use crate::report::{Report, SUBGROUP_AUROC_GAP, Tuning};
use crate::tuning;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Admission,
    Readmission,
}

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admission => "admission",
            Self::Readmission => "readmission",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "admission" => Some(Self::Admission),
            "readmission" => Some(Self::Readmission),
            _ => None,
        }
    }
}

/// One index event with its features, outcome and baselines.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub patient_id: i64,
    pub patient_fhir_id: String,
    /// The index stay, for readmission.
    pub encounter_fhir_id: Option<String>,
    pub index_time: DateTime<Utc>,
    pub label: bool,
    pub features: Vec<f64>,
    pub lace: Option<u32>,
    pub hospital: Option<u32>,
    pub charlson: u32,
    pub sex: Option<String>,
    pub age: Option<f64>,
    pub race: Option<String>,
}

/// The first instant of each month from `from` up to `to`.
pub fn month_starts(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let (mut year, mut month) = (from.year(), from.month());
    while let Some(t) = Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0).single() {
        if t > to {
            break;
        }
        if t >= from {
            out.push(t);
        }
        (year, month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    }
    out
}

/// The examples of one patient: each readmission index event with a known outcome, or the
/// patient at each of `times` when eligible and the outcome is known.
pub fn examples(history: &History, target: Target, data_end: DateTime<Utc>, times: &[DateTime<Utc>]) -> Vec<Example> {
    let base = |index_time: DateTime<Utc>, label: bool, features: Vec<f64>| Example {
        patient_id: history.patient_id,
        patient_fhir_id: history.fhir_id.clone(),
        encounter_fhir_id: None,
        index_time,
        label,
        features,
        lace: None,
        hospital: None,
        charlson: 0,
        sex: history.sex.clone(),
        age: history.age_at(index_time),
        race: history.race.clone(),
    };
    match target {
        Target::Readmission => labels::readmission_events(history, data_end)
            .into_iter()
            .map(|(stay, label)| {
                let index = Index::Readmission { stay };
                Example {
                    encounter_fhir_id: Some(stay.fhir_id.clone()),
                    lace: Some(baselines::lace(history, stay)),
                    hospital: Some(baselines::hospital(history, stay)),
                    charlson: baselines::charlson_at_discharge(history, stay),
                    ..base(index.time(), label, features::compute(history, &index).values)
                }
            })
            .collect(),
        Target::Admission => times
            .iter()
            .filter_map(|at| {
                let label = labels::admission_label(history, *at, data_end)?;
                let computed = features::compute(history, &Index::Admission { at: *at });
                let charlson = computed.get("charlson_index").unwrap_or(0.0) as u32;
                Some(Example { charlson, ..base(*at, label, computed.values) })
            })
            .collect(),
    }
}

/// Settings of a training run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub target: Target,
    /// The learners tried; the one time-ordered cross-validation judges best is kept.
    pub learners: Vec<Algorithm>,
    /// Train on outcomes known before this; test on events from it on.
    pub cutoff: DateTime<Utc>,
    /// The alerting threshold the report evaluates.
    pub threshold: f64,
    pub threads: Option<usize>,
}

/// Discrimination and calibration of one set of predictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub events: usize,
    pub positives: usize,
    pub auroc: Option<(f64, f64, f64)>,
    pub auprc: Option<f64>,
    pub brier: f64,
    pub calibration_intercept: f64,
    pub calibration_slope: f64,
    /// 95 % intervals of the two (reports before they were kept have none).
    #[serde(default)]
    pub calibration_intercept_interval: Option<(f64, f64)>,
    #[serde(default)]
    pub calibration_slope_interval: Option<(f64, f64)>,
}

pub fn evaluate(p: &[f64], y: &[bool]) -> Evaluation {
    let Calibration { intercept, intercept_interval, slope, slope_interval } = calibration_intervals(p, y);
    Evaluation {
        events: y.len(),
        positives: y.iter().filter(|l| **l).count(),
        auroc: metrics::auroc(p, y).map(|Auroc { value, low, high }| (value, low, high)),
        auprc: metrics::auprc(p, y),
        brier: metrics::brier(p, y),
        calibration_intercept: intercept,
        calibration_slope: slope,
        calibration_intercept_interval: intercept_interval,
        calibration_slope_interval: slope_interval,
    }
}

impl Evaluation {
    /// One line of a report.
    pub fn line(&self, name: &str) -> String {
        let auroc = self.auroc.map(|(v, lo, hi)| format!("{v:.3} [{lo:.3}, {hi:.3}]")).unwrap_or_else(|| "n/a".into());
        let interval = |i: Option<(f64, f64)>, sign: bool| match i {
            Some((lo, hi)) if sign => format!(" [{lo:+.2}, {hi:+.2}]"),
            Some((lo, hi)) => format!(" [{lo:.2}, {hi:.2}]"),
            None => String::new(),
        };
        format!(
            "  {name:<22} AUROC {auroc:<22} AUPRC {:<6} Brier {:.4}  calibration intercept {:+.2}{} slope {:.2}{}",
            self.auprc.map(|a| format!("{a:.3}")).unwrap_or_else(|| "n/a".into()),
            self.brier,
            self.calibration_intercept,
            interval(self.calibration_intercept_interval, true),
            self.calibration_slope,
            interval(self.calibration_slope_interval, false)
        )
    }
}

/// Discrimination of a baseline's points (no probabilities: AUROC and AUPRC only).
pub fn discrimination(points: &[f64], y: &[bool]) -> (Option<(f64, f64, f64)>, Option<f64>) {
    (metrics::auroc(points, y).map(|Auroc { value, low, high }| (value, low, high)), metrics::auprc(points, y))
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{0}")]
    Model(#[from] ModelError),
    #[error("too few examples: {0}")]
    TooFew(String),
}

/// Each index event is followed by 30 days at risk.
pub(crate) fn patient_days(events: usize) -> f64 {
    events as f64 * labels::HORIZON_DAYS as f64
}

/// A baseline's figures: discrimination from its points; Brier and calibration from the points
/// mapped to probabilities by a logistic fit on the tuning slice (the published scores give no
/// probabilities of their own).
fn baseline(points: impl Fn(&Example) -> Option<u32>, tune: &[&Example], test: &[&Example]) -> Option<Evaluation> {
    let tune_x: Vec<f64> = tune.iter().map(|e| points(e).map(f64::from)).collect::<Option<_>>()?;
    let tune_y: Vec<bool> = tune.iter().map(|e| e.label).collect();
    let scaling = Platt::fit(&tune_x, &tune_y);
    let x: Vec<f64> = test.iter().map(|e| points(e).map(f64::from)).collect::<Option<_>>()?;
    let p: Vec<f64> = x.iter().map(|x| scaling.apply(*x)).collect();
    let y: Vec<bool> = test.iter().map(|e| e.label).collect();
    Some(Evaluation {
        auroc: metrics::auroc(&x, &y).map(|Auroc { value, low, high }| (value, low, high)),
        auprc: metrics::auprc(&x, &y),
        ..evaluate(&p, &y)
    })
}

/// The AUROC of `p` less that of a baseline's points on the same events (paired DeLong).
fn difference(p: &[f64], points: impl Fn(&Example) -> Option<u32>, test: &[&Example]) -> Option<(f64, f64, f64)> {
    let x: Vec<f64> = test.iter().map(|e| points(e).map(f64::from)).collect::<Option<_>>()?;
    let y: Vec<bool> = test.iter().map(|e| e.label).collect();
    metrics::auroc_difference(p, &x, &y).map(|Auroc { value, low, high }| (value, low, high))
}

/// Events of each outcome every slice needs at the least.
pub const MIN_PER_CLASS: usize = 2;

/// Trains, tunes, calibrates and evaluates a model on `examples`.
pub fn train(examples: &[Example], settings: &Settings) -> Result<(Model, Report), TrainError> {
    let mut known: Vec<&Example> = examples.iter().filter(|e| e.index_time + horizon() <= settings.cutoff).collect();
    known.sort_by_key(|e| (e.index_time, e.patient_id));
    let test: Vec<&Example> = examples.iter().filter(|e| e.index_time >= settings.cutoff).collect();
    let split = known.len() * 3 / 4;
    let (fit, tune) = known.split_at(split);
    // A model needs both outcomes in every slice; few of either make wide intervals, which the
    // report shows rather than hides.
    for (name, part) in [("fitting", fit), ("calibration", tune), ("test", &test[..])] {
        let positives = part.iter().filter(|e| e.label).count();
        if positives < MIN_PER_CLASS || part.len() - positives < MIN_PER_CLASS {
            return Err(TrainError::TooFew(format!(
                "the {name} slice has {} events, {positives} positive; move --until or load more data",
                part.len()
            )));
        }
    }
    let rows = |part: &[&Example]| part.iter().map(|e| e.features.clone()).collect::<Vec<_>>();
    let outcomes = |part: &[&Example]| part.iter().map(|e| e.label).collect::<Vec<_>>();

    let started = Instant::now();
    let names = features::names();
    let (known_x, known_y) = (rows(&known), outcomes(&known));
    let (fit_x, tune_x) = known_x.split_at(split);
    let (fit_y, tune_y) = known_y.split_at(split);
    let candidates = tuning::candidates(&settings.learners, &names, &known_x);
    let mut folds = tuning::folds(&known_y, MIN_PER_CLASS);
    if folds.is_empty() {
        // Too few events to cut the window further: the calibration slice judges alone.
        folds = vec![(split, known.len())];
    }
    let tried = tuning::cross_validate(&candidates, &names, &known_x, &known_y, &folds, settings.threads)?;
    let chosen = tuning::choose(&tried).ok_or_else(|| TrainError::TooFew("no candidate could be judged".into()))?;
    let candidate = &candidates[chosen];
    let learner = candidate.fit(&names, fit_x, fit_y, settings.threads)?;
    let points = |p: fn(&Example) -> Option<u32>| -> Option<f64> {
        let x: Vec<f64> = known.iter().map(|e| p(e).map(f64::from)).collect::<Option<_>>()?;
        tuning::fixed_auroc(&x, &known_y, &folds)
    };
    let (tune_raw, test_x) = (learner.raw(tune_x), rows(&test));
    let test_raw = learner.raw(&test_x);
    let (calibration, calibrated_by) = calibration::choose(&tune_raw, tune_y);
    let tuning = Tuning {
        calibration: Some(calibrated_by),
        folds: folds.len(),
        chosen,
        tried,
        lace: points(|e| e.lace),
        hospital: points(|e| e.hospital),
    };
    let hyperparameters = candidate.name();
    let training_seconds = started.elapsed().as_secs_f64();
    let model = Model::new(candidate.algorithm, FEATURE_VERSION, &names, learner, calibration);

    let test_y = outcomes(&test);
    let p = model.probabilities(&test_x);
    let groups = subgroups(&test, &p, settings.threshold);
    let trained = fairness::Trained {
        candidate,
        names: &names,
        threads: settings.threads,
        fit,
        tune,
        test: &test,
        tune_raw: &tune_raw,
        test_raw: &test_raw,
        test_p: &p,
    };
    let remedies = fairness::remedies(&trained, &groups)?;
    let at: AtThreshold = metrics::at_threshold(&p, &test_y, settings.threshold, patient_days(test.len()));
    let readmission = settings.target == Target::Readmission;
    let report = Report {
        target: settings.target,
        algorithm: candidate.algorithm,
        cutoff: settings.cutoff,
        training_examples: known.len(),
        training_positives: known.iter().filter(|e| e.label).count(),
        training_from: known.first().map(|e| e.index_time),
        hyperparameters,
        tuning: Some(tuning),
        training_seconds,
        model: evaluate(&p, &test_y),
        lace: readmission.then(|| baseline(|e| e.lace, tune, &test)).flatten(),
        hospital: readmission.then(|| baseline(|e| e.hospital, tune, &test)).flatten(),
        over_lace: readmission.then(|| difference(&p, |e| e.lace, &test)).flatten(),
        over_hospital: readmission.then(|| difference(&p, |e| e.hospital, &test)).flatten(),
        deciles: metrics::deciles(&p, &test_y)
            .into_iter()
            .map(|Decile { count, mean_predicted, observed }| (count, mean_predicted, observed))
            .collect(),
        threshold: settings.threshold,
        at_threshold: (at.alerts, at.sensitivity, at.ppv, at.alerts_per_100_patient_days, at.evaluated_per_case),
        subgroups: groups,
        remedies,
        thresholds: metrics::threshold_table(&p, &test_y, patient_days(test.len()), settings.threshold),
        excluded_by_feedback: 0,
        // The training window's newest quarter (the calibration slice): the population the model
        // was readied on, past the window's start where records have no history yet.
        reference: Some(Reference::of(&names, tune_x, &model.probabilities(tune_x))),
    };
    Ok((model, report))
}

/// The default cutoff: the newest data less 30 days (the outcomes not yet known) less the test
/// period.
pub fn default_cutoff(data_end: DateTime<Utc>, test_days: i64) -> DateTime<Utc> {
    data_end - horizon() - Duration::days(test_days)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_start_on_the_first() {
        let from = Utc.with_ymd_and_hms(2025, 11, 15, 0, 0, 0).single().expect("t");
        let to = Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).single().expect("t");
        let months: Vec<String> = month_starts(from, to).iter().map(|t| t.format("%Y-%m-%d").to_string()).collect();
        assert_eq!(months, ["2025-12-01", "2026-01-01", "2026-02-01"]);
    }
}
