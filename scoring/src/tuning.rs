//! Choosing the learner and its hyperparameters by time-ordered cross-validation inside the
//! training window, pure.
//!
//! A small hospital has a few hundred events a year: one later slice is too few to tell ten
//! settings apart, and the test period must never choose. So the training window (its examples
//! in time order) is cut into `FOLDS + 2` blocks of as many examples; fold `k` fits on every block
//! before block `k + 2` and is judged on that block (an expanding window, as the model is used:
//! trained on the past, scoring what follows). Each candidate's figure is its AUROC over the
//! folds, weighted by their positives. The candidates run from the most to the least constrained
//! and a later one must beat an earlier one by [`MARGIN`], so that equal figures keep the simpler
//! model.
//!
//! For logistic regression the candidates also *start from the clinical scores*: LACE's and
//! HOSPITAL's points are emphasized (their penalty divided) or are the only inputs, so that with
//! few events the chosen model shrinks toward the published scores rather than toward nothing.

use serde::{Deserialize, Serialize};

use crate::metrics;
use crate::model::{
    Algorithm, Boosting, Learner, ModelError, balanced, fit_gradient_boosting, fit_logistic_regression_emphasized,
};

/// Folds of the time-ordered cross-validation.
pub const FOLDS: usize = 3;
/// How much better (weighted AUROC) a less constrained candidate must do to be chosen.
pub const MARGIN: f64 = 0.002;
/// The features that are the clinical scores' points.
pub const CLINICAL: [&str; 2] = ["lace_points", "hospital_points"];

/// How a logistic regression treats the clinical scores' points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Start {
    /// Every input penalized alike.
    Plain,
    /// The points' penalty divided by the factor squared.
    Clinical(f64),
    /// The points alone: a recalibrated clinical score.
    ClinicalOnly,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Spec {
    Logistic { alpha: f64, start: Start },
    Boosted(Boosting),
}

/// One learner with one setting of its hyperparameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub algorithm: Algorithm,
    pub spec: Spec,
}

impl Candidate {
    /// The setting as the report names it.
    pub fn name(&self) -> String {
        match self.spec {
            Spec::Logistic { alpha, start } => match start {
                Start::Plain => format!("alpha={alpha}"),
                Start::Clinical(factor) => format!("alpha={alpha} clinical points x{factor}"),
                Start::ClinicalOnly => format!("alpha={alpha} clinical points only"),
            },
            Spec::Boosted(Boosting { iterations, learning_rate, max_depth }) => {
                format!("iterations={iterations} learning_rate={learning_rate} max_depth={max_depth}")
            }
        }
    }

    pub fn fit(
        &self,
        names: &[&str],
        rows: &[Vec<f64>],
        labels: &[bool],
        threads: Option<usize>,
    ) -> Result<Learner, ModelError> {
        match self.spec {
            Spec::Logistic { alpha, start } => {
                let emphasis: Vec<f64> = match start {
                    Start::Plain => Vec::new(),
                    Start::Clinical(factor) => {
                        names.iter().map(|n| if CLINICAL.contains(n) { factor } else { 1.0 }).collect()
                    }
                    Start::ClinicalOnly => names.iter().map(|n| if CLINICAL.contains(n) { 1.0 } else { 0.0 }).collect(),
                };
                fit_logistic_regression_emphasized(rows, labels, alpha, &emphasis)
            }
            Spec::Boosted(settings) => fit_gradient_boosting(rows, labels, settings, threads),
        }
    }
}

/// The candidates of `learners`, most constrained first. The clinical starts are offered only
/// where the clinical points vary (readmission).
pub fn candidates(learners: &[Algorithm], names: &[&str], rows: &[Vec<f64>]) -> Vec<Candidate> {
    let clinical_varies = names
        .iter()
        .enumerate()
        .any(|(j, n)| CLINICAL.contains(n) && rows.first().is_some_and(|first| rows.iter().any(|r| r[j] != first[j])));
    let mut out = Vec::new();
    for &algorithm in learners {
        match algorithm {
            Algorithm::LogisticRegression => {
                for alpha in [1000.0, 100.0, 10.0, 1.0] {
                    let mut starts = vec![Start::Plain];
                    if clinical_varies {
                        starts = vec![Start::ClinicalOnly, Start::Clinical(4.0), Start::Plain];
                    }
                    out.extend(
                        starts.into_iter().map(|start| Candidate { algorithm, spec: Spec::Logistic { alpha, start } }),
                    );
                }
            }
            Algorithm::GradientBoosting => {
                for (iterations, learning_rate, max_depth) in
                    [(100, 0.05, 2), (100, 0.1, 3), (200, 0.1, 3), (100, 0.1, 5)]
                {
                    let spec = Spec::Boosted(Boosting { iterations, learning_rate, max_depth });
                    out.push(Candidate { algorithm, spec });
                }
            }
        }
    }
    out
}

/// A candidate's figures over the folds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tried {
    pub algorithm: Algorithm,
    pub setting: String,
    /// AUROC on each fold's later block (`None` where it could not be computed).
    pub folds: Vec<Option<f64>>,
    /// Over the folds, weighted by their positives.
    pub auroc: Option<f64>,
}

/// The folds of `labels` (in time order) as (fit end, validation end) indices; a fold without
/// `min_per_class` events of each outcome on either side is left out.
pub fn folds(labels: &[bool], min_per_class: usize) -> Vec<(usize, usize)> {
    let n = labels.len();
    let blocks = FOLDS + 2;
    let enough = |part: &[bool]| {
        let positives = part.iter().filter(|l| **l).count();
        positives >= min_per_class && part.len() - positives >= min_per_class
    };
    (0..FOLDS)
        .map(|k| ((k + 2) * n / blocks, (k + 3) * n / blocks))
        .filter(|&(fit, end)| enough(&labels[..fit]) && enough(&labels[fit..end]))
        .collect()
}

/// Cross-validates each candidate on `folds`; `baselines` are other scores of the same rows (the
/// clinical points) judged on the same blocks for the report.
pub fn cross_validate(
    candidates: &[Candidate],
    names: &[&str],
    rows: &[Vec<f64>],
    labels: &[bool],
    folds: &[(usize, usize)],
    threads: Option<usize>,
) -> Result<Vec<Tried>, ModelError> {
    candidates
        .iter()
        .map(|candidate| {
            let mut per_fold = Vec::new();
            for &(fit, end) in folds {
                let (x, y) = thinned(&rows[..fit], &labels[..fit]);
                let learner = candidate.fit(names, &x, &y, threads)?;
                per_fold.push(metrics::auroc(&learner.raw(&rows[fit..end]), &labels[fit..end]).map(|a| a.value));
            }
            Ok(Tried {
                algorithm: candidate.algorithm,
                setting: candidate.name(),
                auroc: weighted(&per_fold, labels, folds),
                folds: per_fold,
            })
        })
        .collect()
}

/// The rows [`balanced`] keeps: the learners balance the classes anyway, and a fold then costs
/// in proportion to the events, not to the patient-months of a large population.
fn thinned(rows: &[Vec<f64>], labels: &[bool]) -> (Vec<Vec<f64>>, Vec<bool>) {
    rows.iter()
        .zip(labels)
        .zip(balanced(labels))
        .filter(|(_, kept)| *kept)
        .map(|((row, label), _)| (row.clone(), *label))
        .unzip()
}

/// The AUROC of fixed scores (a clinical score's points) on the same folds, weighted alike.
pub fn fixed_auroc(scores: &[f64], labels: &[bool], folds: &[(usize, usize)]) -> Option<f64> {
    let per_fold: Vec<Option<f64>> =
        folds.iter().map(|&(fit, end)| metrics::auroc(&scores[fit..end], &labels[fit..end]).map(|a| a.value)).collect();
    weighted(&per_fold, labels, folds)
}

fn weighted(per_fold: &[Option<f64>], labels: &[bool], folds: &[(usize, usize)]) -> Option<f64> {
    let (mut sum, mut weight) = (0.0, 0.0);
    for (auroc, &(fit, end)) in per_fold.iter().zip(folds) {
        if let Some(auroc) = auroc {
            let positives = labels[fit..end].iter().filter(|l| **l).count() as f64;
            sum += auroc * positives;
            weight += positives;
        }
    }
    (weight > 0.0).then(|| sum / weight)
}

/// The index of the chosen candidate: the first whose figure no later one beats by [`MARGIN`].
pub fn choose(tried: &[Tried]) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, t) in tried.iter().enumerate() {
        let Some(auroc) = t.auroc else { continue };
        if best.is_none_or(|(_, b)| auroc > b + MARGIN) {
            best = Some((i, auroc));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_expand_in_time_and_skip_one_sided_blocks() {
        let labels: Vec<bool> = (0..100).map(|i| i % 5 == 0).collect();
        assert_eq!(folds(&labels, 2), [(40, 60), (60, 80), (80, 100)]);
        let mut late: Vec<bool> = vec![false; 40];
        late.extend((0..60).map(|i| i % 2 == 0));
        assert_eq!(folds(&late, 2), [(60, 80), (80, 100)], "the first fold fits on no positive");
    }

    #[test]
    fn equal_figures_keep_the_more_constrained_candidate() {
        let tried = |auroc: &[f64]| -> Vec<Tried> {
            auroc
                .iter()
                .map(|a| Tried {
                    algorithm: Algorithm::LogisticRegression,
                    setting: String::new(),
                    folds: vec![],
                    auroc: Some(*a),
                })
                .collect()
        };
        assert_eq!(choose(&tried(&[0.70, 0.701, 0.69])), Some(0));
        assert_eq!(choose(&tried(&[0.70, 0.701, 0.71])), Some(2));
        assert_eq!(choose(&[]), None);
    }

    #[test]
    fn clinical_starts_only_where_the_points_vary() {
        let names = ["age", "lace_points", "hospital_points"];
        let varying = vec![vec![50.0, 3.0, 1.0], vec![60.0, 9.0, 4.0]];
        let flat = vec![vec![50.0, 0.0, 0.0], vec![60.0, 0.0, 0.0]];
        let lr = [Algorithm::LogisticRegression];
        assert_eq!(candidates(&lr, &names, &varying).len(), 12);
        assert_eq!(candidates(&lr, &names, &flat).len(), 4);
        let both = candidates(&[Algorithm::LogisticRegression, Algorithm::GradientBoosting], &names, &flat);
        assert_eq!(both.len(), 8);
        assert_eq!(both[0].name(), "alpha=1000");
    }
}
