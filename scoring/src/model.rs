//! The learned models and their calibration, pure: fitted from feature rows and labels, applied
//! to one feature vector, serialized with serde (versioned by [`MODEL_FORMAT`]).
//!
//! - **Logistic regression** (smartcore, L-BFGS, L2): inputs standardized with the training means
//!   and deviations; classes balanced by fitting on every positive and an even share of the
//!   negatives (smartcore takes no sample weights). Probabilities are computed from the coefficients, not from
//!   smartcore's class labels. Explanation of a score: coefficient × standardized deviation from
//!   the training mean, per feature.
//! - **Gradient boosting** (forust-ml, log loss, classes balanced with sample weights; see
//!   ARCHITECTURE.md for why not perpetual). Explanation: the trees' per-feature contributions to
//!   the log-odds (average node values along the path, as XGBoost's `approx_contribs`).
//!
//! Both learn on balanced classes, so their raw scores are not probabilities: a calibrator
//! (Platt scaling or isotonic regression, see `calibration`) fitted on a later time slice than the
//! training data maps them to probabilities of the real population.

use forust_ml::gradientbooster::ContributionsMethod;
use forust_ml::objective::ObjectiveType;
use forust_ml::{GradientBooster, Matrix};
use serde::{Deserialize, Serialize};
use smartcore::linalg::basic::arrays::Array;
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::linear::logistic_regression::{LogisticRegression, LogisticRegressionParameters};

pub use crate::calibration::{Calibrator, Platt};

/// Bumped when the serialized form changes; a stored model of another format is refused.
pub const MODEL_FORMAT: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    LogisticRegression,
    GradientBoosting,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LogisticRegression => "logistic_regression",
            Self::GradientBoosting => "gradient_boosting",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("no training examples of both classes")]
    OneClass,
    #[error("training failed: {0}")]
    Training(String),
    #[error("the model was stored in format {0}, this build reads format {MODEL_FORMAT}")]
    Format(u32),
    #[error("the model cannot be read: {0}")]
    Unreadable(String),
}

/// Means and standard deviations of the training rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    pub mean: Vec<f64>,
    pub sd: Vec<f64>,
}

impl Standardizer {
    pub fn fit(rows: &[Vec<f64>]) -> Self {
        let width = rows.first().map(Vec::len).unwrap_or(0);
        let n = rows.len().max(1) as f64;
        let mean: Vec<f64> = (0..width).map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / n).collect();
        let sd = (0..width)
            .map(|j| {
                let var = rows.iter().map(|r| (r[j] - mean[j]).powi(2)).sum::<f64>() / n;
                // A constant feature carries nothing: leave it at zero rather than divide by zero.
                if var > 1e-12 { var.sqrt() } else { 1.0 }
            })
            .collect();
        Self { mean, sd }
    }

    pub fn apply(&self, row: &[f64]) -> Vec<f64> {
        row.iter().zip(self.mean.iter().zip(&self.sd)).map(|(x, (m, s))| (x - m) / s).collect()
    }
}

#[derive(Serialize, Deserialize)]
pub enum Learner {
    Logistic { standardizer: Standardizer, intercept: f64, coefficients: Vec<f64> },
    Boosted { booster: Box<GradientBooster> },
}

impl std::fmt::Debug for Learner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Logistic { intercept, coefficients, .. } => {
                f.debug_struct("Logistic").field("intercept", intercept).field("coefficients", coefficients).finish()
            }
            Self::Boosted { .. } => f.write_str("Boosted"),
        }
    }
}

/// A trained, calibrated model.
#[derive(Debug, Serialize, Deserialize)]
pub struct Model {
    pub format: u32,
    pub algorithm: Algorithm,
    pub feature_version: i32,
    pub names: Vec<String>,
    pub learner: Learner,
    pub calibration: Calibrator,
}

/// The weight that balances the classes: negatives per positive.
fn balance(labels: &[bool]) -> Result<f64, ModelError> {
    let positives = labels.iter().filter(|l| **l).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return Err(ModelError::OneClass);
    }
    Ok(negatives as f64 / positives as f64)
}

/// At most this many negatives per positive are fitted on by logistic regression.
pub const NEGATIVES_PER_POSITIVE: usize = 3;

/// Which rows a class-balanced fit keeps: every positive and every k-th negative, so that at most
/// [`NEGATIVES_PER_POSITIVE`] remain per positive (the same rows for the same data).
pub fn balanced(labels: &[bool]) -> Vec<bool> {
    let positives = labels.iter().filter(|l| **l).count().max(1);
    let keep_every = (labels.len().saturating_sub(positives) / (NEGATIVES_PER_POSITIVE * positives)).max(1);
    let mut negatives = 0_usize;
    labels
        .iter()
        .map(|label| {
            if *label {
                return true;
            }
            negatives += 1;
            negatives.is_multiple_of(keep_every)
        })
        .collect()
}

/// Fits a logistic regression with L2 penalty `alpha` on standardized rows, the classes balanced
/// by keeping every positive and an even share of the negatives (every k-th, so that it is the
/// same for the same data): the fit then costs little whatever the prevalence, and the
/// calibration fitted afterwards restores the real probabilities.
pub fn fit_logistic_regression(rows: &[Vec<f64>], labels: &[bool], alpha: f64) -> Result<Learner, ModelError> {
    fit_logistic_regression_emphasized(rows, labels, alpha, &[])
}

/// As [`fit_logistic_regression`], with each standardized column `j` multiplied by `emphasis[j]`
/// (1 where the slice ends) before the fit and the coefficient multiplied back after it: the L2
/// penalty on column `j` is then divided by `emphasis[j]`², so that with much penalty the model
/// shrinks toward the emphasized columns alone (a column of emphasis 0 is left out).
pub fn fit_logistic_regression_emphasized(
    rows: &[Vec<f64>],
    labels: &[bool],
    alpha: f64,
    emphasis: &[f64],
) -> Result<Learner, ModelError> {
    balance(labels)?;
    let standardizer = Standardizer::fit(rows);
    let mut x: Vec<Vec<f64>> = Vec::new();
    let mut y: Vec<i32> = Vec::new();
    for ((row, label), kept) in rows.iter().zip(labels).zip(balanced(labels)) {
        if !kept {
            continue;
        }
        let mut z = standardizer.apply(row);
        for (value, e) in z.iter_mut().zip(emphasis) {
            *value *= e;
        }
        x.push(z);
        y.push(i32::from(*label));
    }
    let matrix = DenseMatrix::from_2d_vec(&x).map_err(|e| ModelError::Training(e.to_string()))?;
    let parameters = LogisticRegressionParameters::default().with_alpha(alpha);
    let fitted = LogisticRegression::fit(&matrix, &y, parameters).map_err(|e| ModelError::Training(e.to_string()))?;
    let coefficients: Vec<f64> = (0..standardizer.mean.len())
        .map(|j| *fitted.coefficients().get((0, j)) * emphasis.get(j).copied().unwrap_or(1.0))
        .collect();
    let intercept = *fitted.intercept().get((0, 0));
    Ok(Learner::Logistic { standardizer, intercept, coefficients })
}

/// Column-major storage, as forust-ml reads it.
fn column_major(rows: &[Vec<f64>]) -> Vec<f64> {
    let width = rows.first().map(Vec::len).unwrap_or(0);
    let mut data = Vec::with_capacity(rows.len() * width);
    for j in 0..width {
        data.extend(rows.iter().map(|r| r[j]));
    }
    data
}

/// The settings of gradient boosting that are tuned.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Boosting {
    pub iterations: usize,
    pub learning_rate: f32,
    pub max_depth: usize,
}

/// Fits gradient-boosted trees, classes balanced by weight.
pub fn fit_gradient_boosting(
    rows: &[Vec<f64>],
    labels: &[bool],
    settings: Boosting,
    threads: Option<usize>,
) -> Result<Learner, ModelError> {
    let weight = balance(labels)?;
    let data = column_major(rows);
    let width = rows.first().map(Vec::len).unwrap_or(0);
    let matrix = Matrix::new(&data, rows.len(), width);
    let y: Vec<f64> = labels.iter().map(|l| if *l { 1.0 } else { 0.0 }).collect();
    let weights: Vec<f64> = labels.iter().map(|l| if *l { weight } else { 1.0 }).collect();
    let mut booster = GradientBooster::default()
        .set_objective_type(ObjectiveType::LogLoss)
        .set_iterations(settings.iterations)
        .set_learning_rate(settings.learning_rate)
        .set_max_depth(settings.max_depth)
        .set_num_threads(threads)
        .set_seed(1);
    booster.fit(&matrix, &y, &weights, None).map_err(|e| ModelError::Training(e.to_string()))?;
    Ok(Learner::Boosted { booster: Box::new(booster) })
}

impl Learner {
    /// The raw score (log-odds on the balanced classes) of each row.
    pub fn raw(&self, rows: &[Vec<f64>]) -> Vec<f64> {
        match self {
            Self::Logistic { standardizer, intercept, coefficients } => rows
                .iter()
                .map(|row| {
                    let z = standardizer.apply(row);
                    intercept + z.iter().zip(coefficients).map(|(x, c)| x * c).sum::<f64>()
                })
                .collect(),
            Self::Boosted { booster } => {
                let data = column_major(rows);
                let width = rows.first().map(Vec::len).unwrap_or(0);
                booster.predict(&Matrix::new(&data, rows.len(), width), false)
            }
        }
    }

    /// Each feature's contribution to the raw score of one row.
    pub fn contributions(&self, row: &[f64]) -> Vec<f64> {
        match self {
            Self::Logistic { standardizer, coefficients, .. } => {
                standardizer.apply(row).iter().zip(coefficients).map(|(z, c)| z * c).collect()
            }
            Self::Boosted { booster } => {
                let matrix = Matrix::new(row, 1, row.len());
                // One value per feature, then the bias.
                let mut values = booster.predict_contributions(&matrix, ContributionsMethod::Average, false);
                values.truncate(row.len());
                values
            }
        }
    }
}

impl Model {
    pub fn new(
        algorithm: Algorithm,
        feature_version: i32,
        names: &[&str],
        learner: Learner,
        calibration: Calibrator,
    ) -> Self {
        Self {
            format: MODEL_FORMAT,
            algorithm,
            feature_version,
            names: names.iter().map(|n| n.to_string()).collect(),
            learner,
            calibration,
        }
    }

    /// Calibrated probabilities of each row.
    pub fn probabilities(&self, rows: &[Vec<f64>]) -> Vec<f64> {
        self.learner.raw(rows).into_iter().map(|r| self.calibration.apply(r)).collect()
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    pub fn from_json(value: &serde_json::Value) -> Result<Self, ModelError> {
        let format = value.get("format").and_then(serde_json::Value::as_u64).unwrap_or(0) as u32;
        if format != MODEL_FORMAT {
            return Err(ModelError::Format(format));
        }
        serde_json::from_value(value.clone()).map_err(|e| ModelError::Unreadable(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// y depends on x0 (strongly) and x1 (weakly), not on x2; 20 % positives.
    fn data(n: usize, seed: u64) -> (Vec<Vec<f64>>, Vec<bool>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut rows = Vec::new();
        let mut labels = Vec::new();
        for _ in 0..n {
            let x: Vec<f64> = (0..3).map(|_| rng.random::<f64>() * 2.0 - 1.0).collect();
            let p = crate::calibration::sigmoid(-1.8 + 2.5 * x[0] + 0.8 * x[1]);
            rows.push(x);
            labels.push(rng.random::<f64>() < p);
        }
        (rows, labels)
    }

    #[test]
    fn both_learners_rank_and_calibrate() {
        let (train, train_y) = data(4000, 1);
        let (later, later_y) = data(2000, 2);
        let (test, test_y) = data(2000, 3);
        let names = ["x0", "x1", "x2"];
        for (algorithm, learner) in [
            (Algorithm::LogisticRegression, fit_logistic_regression(&train, &train_y, 0.0).expect("fit")),
            (
                Algorithm::GradientBoosting,
                fit_gradient_boosting(
                    &train,
                    &train_y,
                    Boosting { iterations: 100, learning_rate: 0.1, max_depth: 3 },
                    Some(1),
                )
                .expect("fit"),
            ),
        ] {
            let calibration = Calibrator::Platt(Platt::fit(&learner.raw(&later), &later_y));
            let model = Model::new(algorithm, 1, &names, learner, calibration);
            let p = model.probabilities(&test);
            let auc = crate::metrics::auroc(&p, &test_y).expect("auroc").value;
            assert!(auc > 0.75, "{algorithm:?} AUROC {auc}");
            let (intercept, slope) = crate::metrics::calibration(&p, &test_y);
            assert!(intercept.abs() < 0.2 && (0.8..1.25).contains(&slope), "{algorithm:?} {intercept} {slope}");
            let mean_p = p.iter().sum::<f64>() / p.len() as f64;
            let rate = test_y.iter().filter(|y| **y).count() as f64 / test_y.len() as f64;
            assert!((mean_p - rate).abs() < 0.03, "{algorithm:?}: calibrated to the real rate, not the balanced one");

            let restored = Model::from_json(&model.to_json()).expect("round trip");
            assert_eq!(restored.probabilities(&test[..5]), p[..5].to_vec());
        }
    }

    #[test]
    fn logistic_contributions_name_what_drives_a_score() {
        let (train, train_y) = data(4000, 1);
        let learner = fit_logistic_regression(&train, &train_y, 0.0).expect("fit");
        let contributions = learner.contributions(&[0.9, 0.0, 0.0]);
        assert!(contributions[0] > 0.5, "a high x0 pushes the score up: {contributions:?}");
        assert!(contributions[2].abs() < 0.2, "x2 carries nothing: {contributions:?}");
        let sum: f64 = contributions.iter().sum();
        let Learner::Logistic { intercept, .. } = &learner else { panic!("logistic") };
        assert!((learner.raw(&[vec![0.9, 0.0, 0.0]])[0] - (intercept + sum)).abs() < 1e-9);
    }

    #[test]
    fn emphasis_shrinks_toward_the_emphasized_columns() {
        let (train, train_y) = data(4000, 1);
        let coefficients = |emphasis: &[f64]| {
            let learner = fit_logistic_regression_emphasized(&train, &train_y, 5000.0, emphasis).expect("fit");
            let Learner::Logistic { coefficients, .. } = learner else { panic!("logistic") };
            coefficients
        };
        let plain = coefficients(&[]);
        let emphasized = coefficients(&[1.0, 10.0]);
        assert!(emphasized[1] / emphasized[0] > 2.0 * plain[1] / plain[0], "{plain:?} {emphasized:?}");
        let alone = coefficients(&[0.0, 1.0, 0.0]);
        assert!(alone[0] == 0.0 && alone[2] == 0.0 && alone[1] > 0.0, "{alone:?}");
    }

    #[test]
    fn one_class_is_refused_and_other_formats_are_not_read() {
        assert!(matches!(fit_logistic_regression(&[vec![1.0]], &[true], 0.0), Err(ModelError::OneClass)));
        assert!(matches!(Model::from_json(&serde_json::json!({ "format": 99 })), Err(ModelError::Format(99))));
    }
}
