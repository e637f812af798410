//! Monitoring: for each active and shadow model, per week of index times and per unit, how its
//! scores fared once their outcomes matured (discrimination, calibration, accuracy, the alerting
//! threshold's PPV and sensitivity), what they were expected to do before that (`estimate`), the
//! burden on the ward (alerts per 100 patient-days) and what clinicians said (useful rate), and how
//! far the population drifted from the training window (`drift`). This module is the pure part:
//! a [`Window`] collects one week's scores of one unit (or all) and makes its [`Figures`]; `job`
//! reads the scores and stores the figures.

pub mod job;
pub mod stored;

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::drift::{MIN_VALUES, Reference, SIGNIFICANT};
use crate::estimate::{Estimate, estimate};
use crate::metrics;

/// One score as monitoring reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub patient_id: i64,
    /// The day of the index time (days since 1970-01-01), for patient-days.
    pub day: i64,
    pub probability: Option<f64>,
    pub points: Option<i32>,
    pub outcome: Option<bool>,
    pub features: Vec<f64>,
}

/// A week's figures for a model (and a unit).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub scores: usize,
    pub matured: usize,
    pub events: usize,
    /// AUROC of the matured scores, with DeLong's 95 % interval.
    pub auroc: Option<(f64, f64, f64)>,
    pub calibration_intercept: Option<f64>,
    pub calibration_slope: Option<f64>,
    pub brier: Option<f64>,
    /// At the model's alerting threshold, on the matured scores.
    pub ppv: Option<f64>,
    pub sensitivity: Option<f64>,
    /// Expected from the probabilities of every score of the week, matured or not.
    pub estimated: Option<Estimate>,
    pub patient_days: usize,
    pub alerts: usize,
    pub alerts_per_100_patient_days: Option<f64>,
    /// Clinicians' answers about the week's alerts, and the share that said useful.
    pub answers: usize,
    pub useful_rate: Option<f64>,
    pub psi_prediction: Option<f64>,
    /// Each feature's PSI, the largest first.
    pub psi_features: Vec<(String, f64)>,
}

impl Figures {
    /// The features (and the prediction) whose drift is significant.
    pub fn drifted(&self) -> Vec<(String, f64)> {
        let prediction = self.psi_prediction.filter(|p| *p > SIGNIFICANT).map(|p| ("prediction".to_owned(), p));
        prediction.into_iter().chain(self.psi_features.iter().filter(|(_, p)| *p > SIGNIFICANT).cloned()).collect()
    }
}

/// What a week's alerts and clinicians' answers were.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Burden {
    pub alerts: usize,
    pub answers: usize,
    pub useful: usize,
}

/// One week's scores of one unit (or all units), collected as they are read: memory holds the
/// predictions and outcomes, not the feature vectors, which are counted into the reference's bins.
#[derive(Debug, Clone)]
pub struct Window {
    values: Vec<f64>,
    probabilities: Vec<f64>,
    outcomes: Vec<Option<bool>>,
    patient_days: HashSet<(i64, i64)>,
    feature_counts: Vec<Vec<u64>>,
    prediction_counts: Vec<u64>,
}

impl Window {
    pub fn new(reference: Option<&Reference>) -> Self {
        Self {
            values: Vec::new(),
            probabilities: Vec::new(),
            outcomes: Vec::new(),
            patient_days: HashSet::new(),
            feature_counts: reference
                .map_or_else(Vec::new, |r| r.features.iter().map(|(_, bins)| vec![0; bins.shares.len()]).collect()),
            prediction_counts: reference.map_or_else(Vec::new, |r| vec![0; r.prediction.shares.len()]),
        }
    }

    pub fn add(&mut self, score: &Scored, reference: Option<&Reference>) {
        let Some(value) = score.probability.or(score.points.map(f64::from)) else { return };
        self.values.push(value);
        if let Some(p) = score.probability {
            self.probabilities.push(p);
        }
        self.outcomes.push(score.outcome);
        self.patient_days.insert((score.patient_id, score.day));
        if let Some(reference) = reference {
            for ((counts, (_, bins)), value) in
                self.feature_counts.iter_mut().zip(&reference.features).zip(&score.features)
            {
                counts[bins.bin(*value)] += 1;
            }
            if let Some(p) = score.probability {
                self.prediction_counts[reference.prediction.bin(p)] += 1;
            }
        }
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The week's figures; `threshold` is the model's alerting threshold (for a model with
    /// probabilities).
    pub fn figures(&self, threshold: f64, reference: Option<&Reference>, burden: Burden) -> Figures {
        let matured: Vec<usize> = (0..self.values.len()).filter(|i| self.outcomes[*i].is_some()).collect();
        let value: Vec<f64> = matured.iter().map(|i| self.values[*i]).collect();
        let y: Vec<bool> = matured.iter().map(|i| self.outcomes[*i] == Some(true)).collect();
        let events = y.iter().filter(|y| **y).count();
        let both = events >= 2 && y.len() - events >= 2;
        let probabilities = self.probabilities.len() == self.values.len() && !self.values.is_empty();
        let (intercept, slope) =
            if both && probabilities { metrics::calibration(&value, &y) } else { (f64::NAN, f64::NAN) };
        let at = (probabilities && !y.is_empty()).then(|| metrics::at_threshold(&value, &y, threshold, 1.0));
        let patient_days = self.patient_days.len();
        // Too few scores make PSI a measure of the sample's size (see `drift::MIN_VALUES`).
        let reference = reference.filter(|_| self.values.len() >= MIN_VALUES);
        let mut psi_features: Vec<(String, f64)> = reference
            .map(|r| {
                r.features
                    .iter()
                    .zip(&self.feature_counts)
                    .filter_map(|((name, bins), counts)| bins.psi(counts).map(|psi| (name.clone(), psi)))
                    .collect()
            })
            .unwrap_or_default();
        psi_features.sort_by(|a, b| b.1.total_cmp(&a.1));
        Figures {
            scores: self.values.len(),
            matured: y.len(),
            events,
            auroc: metrics::auroc(&value, &y).map(|a| (a.value, a.low, a.high)),
            calibration_intercept: intercept.is_finite().then_some(intercept),
            calibration_slope: slope.is_finite().then_some(slope),
            brier: (probabilities && !y.is_empty()).then(|| metrics::brier(&value, &y)),
            ppv: at.filter(|a| a.alerts > 0).map(|a| a.ppv),
            sensitivity: at.filter(|_| events > 0).map(|a| a.sensitivity),
            estimated: if probabilities { estimate(&self.probabilities, threshold) } else { None },
            patient_days,
            alerts: burden.alerts,
            alerts_per_100_patient_days: (patient_days > 0).then(|| 100.0 * burden.alerts as f64 / patient_days as f64),
            answers: burden.answers,
            useful_rate: (burden.answers > 0).then(|| burden.useful as f64 / burden.answers as f64),
            psi_prediction: reference.and_then(|r| r.prediction.psi(&self.prediction_counts)),
            psi_features,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn scored(rng: &mut rand_chacha::ChaCha8Rng, lab_shift: f64) -> Scored {
        let lab = rng.random_range(0.0..1.0) + lab_shift;
        let p = (0.05 + 0.3 * lab).clamp(0.01, 0.99);
        Scored {
            patient_id: rng.random_range(0..1000),
            day: rng.random_range(0..7),
            probability: Some(p),
            points: None,
            outcome: Some(rng.random_bool(p)),
            features: vec![lab, rng.random_range(0.0..1.0)],
        }
    }

    fn reference(rng: &mut rand_chacha::ChaCha8Rng) -> Reference {
        let rows: Vec<Scored> = (0..2000).map(|_| scored(rng, 0.0)).collect();
        let features: Vec<Vec<f64>> = rows.iter().map(|r| r.features.clone()).collect();
        let p: Vec<f64> = rows.iter().filter_map(|r| r.probability).collect();
        Reference::of(&["lab", "noise"], &features, &p)
    }

    #[test]
    fn a_week_like_the_training_window_is_stable_and_calibrated() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let reference = reference(&mut rng);
        let mut window = Window::new(Some(&reference));
        for _ in 0..3000 {
            window.add(&scored(&mut rng, 0.0), Some(&reference));
        }
        let f = window.figures(0.25, Some(&reference), Burden { alerts: 30, answers: 10, useful: 4 });
        assert_eq!((f.scores, f.matured), (3000, 3000));
        assert!(f.drifted().is_empty(), "{:?}", f.psi_features);
        let slope = f.calibration_slope.expect("slope");
        assert!((0.8..1.2).contains(&slope), "{slope}");
        let (auroc, estimated) = (f.auroc.expect("auroc").0, f.estimated.and_then(|e| e.auroc).expect("estimate"));
        assert!((auroc - estimated).abs() < 0.03, "matured {auroc}, estimated {estimated}");
        assert_eq!(f.useful_rate, Some(0.4));
        assert!(f.patient_days <= 7000 && f.alerts_per_100_patient_days.is_some());
    }

    #[test]
    fn a_shifted_lab_is_named_as_the_drifted_feature() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let reference = reference(&mut rng);
        let mut window = Window::new(Some(&reference));
        for _ in 0..3000 {
            window.add(&scored(&mut rng, 0.5), Some(&reference));
        }
        let f = window.figures(0.25, Some(&reference), Burden::default());
        let drifted: Vec<String> = f.drifted().into_iter().map(|(name, _)| name).collect();
        assert_eq!(drifted, ["prediction", "lab"], "{:?}", f.psi_features);
        assert_eq!(f.useful_rate, None, "no answers, no rate");
    }

    #[test]
    fn open_outcomes_count_in_the_estimate_only_and_a_small_week_gets_no_psi() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let reference = reference(&mut rng);
        let mut window = Window::new(Some(&reference));
        for i in 0..10 {
            let outcome = (i < 6).then_some(i % 2 == 0);
            let features = vec![0.5, 0.5];
            let s =
                Scored { patient_id: i, day: 0, probability: Some(0.1 * i as f64), points: None, outcome, features };
            window.add(&s, Some(&reference));
        }
        let f = window.figures(0.5, Some(&reference), Burden::default());
        assert_eq!((f.scores, f.matured, f.events), (10, 6, 3));
        assert!(f.estimated.is_some());
        assert!(f.psi_features.is_empty() && f.psi_prediction.is_none(), "ten scores are too few for PSI");
    }
}
