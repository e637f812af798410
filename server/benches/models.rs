//! `make bench` (models): training time, rows per second and test AUROC of each learner on the
//! same admission examples (200,000 by default, `VIGIL_BENCH_EXAMPLES`), from a `vigil synth`
//! population loaded through ingestion: smartcore logistic regression, forust-ml gradient
//! boosting, and smartcore's random forest, which gives class labels only (its AUROC is that of
//! its labels: the mean of sensitivity and specificity).

#![allow(clippy::print_stdout, clippy::expect_used)]

use std::time::Instant;

use smartcore::ensemble::random_forest_classifier::{RandomForestClassifier, RandomForestClassifierParameters};
use smartcore::linalg::basic::matrix::DenseMatrix;
use vigil_scoring::metrics::auroc;
use vigil_scoring::model::{Boosting, fit_gradient_boosting, fit_logistic_regression};
use vigil_store::testing::TestDb;

mod support;
use support::admission_examples;

fn report(name: &str, rows: usize, seconds: f64, auc: f64) {
    println!("  {name:<34} {seconds:>8.1} s  {:>9.0} rows/s  test AUROC {auc:.3}", rows as f64 / seconds);
}

fn main() {
    let wanted: usize = std::env::var("VIGIL_BENCH_EXAMPLES").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    // A patient gives about 30 eligible patient-months: enough patients for the examples asked plus
    // a test set of a quarter as many.
    let patients = (wanted as u64 * 5 / 4 / 30).max(500);
    let db = TestDb::migrated();
    let mut conn = db.connect();
    let (_, mut examples) = admission_examples(&mut conn, patients, 11);
    examples.sort_by_key(|e| (e.index_time, e.patient_id));
    let train_n = wanted.min(examples.len() * 4 / 5);
    let (train, test) = examples.split_at(train_n);
    let x: Vec<Vec<f64>> = train.iter().map(|e| e.features.clone()).collect();
    let y: Vec<bool> = train.iter().map(|e| e.label).collect();
    let tx: Vec<Vec<f64>> = test.iter().map(|e| e.features.clone()).collect();
    let ty: Vec<bool> = test.iter().map(|e| e.label).collect();
    println!(
        "models: {} training examples ({} positive), {} test examples, {} features, from {patients} synthetic patients",
        x.len(),
        y.iter().filter(|l| **l).count(),
        tx.len(),
        x.first().map(Vec::len).unwrap_or(0)
    );

    let started = Instant::now();
    let lr = fit_logistic_regression(&x, &y, 10.0).expect("logistic regression");
    let seconds = started.elapsed().as_secs_f64();
    report(
        "logistic regression (smartcore)",
        x.len(),
        seconds,
        auroc(&lr.raw(&tx), &ty).map(|a| a.value).unwrap_or(0.0),
    );

    let started = Instant::now();
    let settings = Boosting { iterations: 100, learning_rate: 0.1, max_depth: 3 };
    let gbm = fit_gradient_boosting(&x, &y, settings, None).expect("gradient boosting");
    let seconds = started.elapsed().as_secs_f64();
    report(
        "gradient boosting (forust-ml)",
        x.len(),
        seconds,
        auroc(&gbm.raw(&tx), &ty).map(|a| a.value).unwrap_or(0.0),
    );

    // The forest on every training row (its speed), then on balanced classes (every positive and
    // as many negatives) for its AUROC: on the raw imbalance its labels are all negative.
    let forest = |rows: &[Vec<f64>], labels: &[i32]| {
        let started = Instant::now();
        let matrix = DenseMatrix::from_2d_vec(&rows.to_vec()).expect("matrix");
        let parameters = RandomForestClassifierParameters::default().with_n_trees(100).with_max_depth(8).with_seed(1);
        let fitted = RandomForestClassifier::fit(&matrix, &labels.to_vec(), parameters).expect("random forest");
        (fitted, started.elapsed().as_secs_f64())
    };
    let all_labels: Vec<i32> = y.iter().map(|l| i32::from(*l)).collect();
    let (_, seconds) = forest(&x, &all_labels);
    println!(
        "  {:<34} {seconds:>8.1} s  {:>9.0} rows/s",
        "random forest (smartcore), all rows",
        x.len() as f64 / seconds
    );
    let positives = y.iter().filter(|l| **l).count().max(1);
    let step = ((y.len() - positives) / positives).max(1);
    let chosen: Vec<usize> = (0..y.len()).filter(|&i| y[i] || i % step == 0).collect();
    let fx: Vec<Vec<f64>> = chosen.iter().map(|&i| x[i].clone()).collect();
    let fy: Vec<i32> = chosen.iter().map(|&i| all_labels[i]).collect();
    let (fitted, seconds) = forest(&fx, &fy);
    let labels: Vec<i32> = fitted.predict(&DenseMatrix::from_2d_vec(&tx).expect("matrix")).expect("predict");
    let scores: Vec<f64> = labels.iter().map(|l| f64::from(*l)).collect();
    report(
        &format!("random forest (smartcore), {} balanced rows", fx.len()),
        fx.len(),
        seconds,
        auroc(&scores, &ty).map(|a| a.value).unwrap_or(0.0),
    );
}
