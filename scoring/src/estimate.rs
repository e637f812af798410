//! Performance before outcomes are known, from calibrated probabilities: confidence-based
//! performance estimation (CBPE, as NannyML does). If a model is calibrated, a prediction p is an
//! event with probability p, so each figure's expected value follows from the predictions alone:
//! expected true positives above a threshold are the sum of their p, false positives the sum of
//! 1 − p. The estimate is only as good as the calibration; monitoring shows it beside the matured
//! figure once that is known, which is how a calibration gone stale shows itself.

use serde::{Deserialize, Serialize};

/// Expected figures of a set of predictions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub auroc: Option<f64>,
    pub brier: f64,
    pub ppv: Option<f64>,
    pub sensitivity: Option<f64>,
    /// Expected number of events.
    pub events: f64,
}

/// The expected figures of `probabilities`, alerting at `threshold`; None for no predictions.
pub fn estimate(probabilities: &[f64], threshold: f64) -> Option<Estimate> {
    if probabilities.is_empty() {
        return None;
    }
    let n = probabilities.len() as f64;
    let events: f64 = probabilities.iter().sum();
    let above: Vec<f64> = probabilities.iter().copied().filter(|p| *p >= threshold).collect();
    let expected_tp: f64 = above.iter().sum();
    Some(Estimate {
        auroc: expected_auroc(probabilities),
        brier: probabilities.iter().map(|p| p * (1.0 - p)).sum::<f64>() / n,
        ppv: (!above.is_empty()).then(|| expected_tp / above.len() as f64),
        sensitivity: (events > 0.0).then(|| expected_tp / events),
        events,
    })
}

/// The area under the expected ROC curve: thresholds from the highest prediction down, each step
/// adding p to the expected true positives and 1 − p to the false ones (equal predictions move
/// together, a diagonal step).
fn expected_auroc(probabilities: &[f64]) -> Option<f64> {
    let mut sorted = probabilities.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let positives: f64 = sorted.iter().sum();
    let negatives: f64 = sorted.iter().map(|p| 1.0 - p).sum();
    if positives <= 0.0 || negatives <= 0.0 {
        return None;
    }
    let (mut tp, mut fp, mut area) = (0.0, 0.0, 0.0);
    let mut i = 0;
    while i < sorted.len() {
        let (mut dtp, mut dfp) = (0.0, 0.0);
        let mut j = i;
        while j < sorted.len() && sorted[j] == sorted[i] {
            dtp += sorted[j];
            dfp += 1.0 - sorted[j];
            j += 1;
        }
        // Trapezoid between (fp, tp) and (fp + dfp, tp + dtp), in rates.
        area += (dfp / negatives) * (tp + dtp / 2.0) / positives;
        tp += dtp;
        fp += dfp;
        i = j;
    }
    debug_assert!((fp - negatives).abs() < 1e-6);
    Some(area)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics;
    use rand::{Rng, SeedableRng};

    #[test]
    fn on_calibrated_predictions_the_estimate_matches_what_happens() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let p: Vec<f64> = (0..20_000).map(|_| rng.random_range(0.0_f64..1.0).powi(3)).collect();
        let y: Vec<bool> = p.iter().map(|p| rng.random_bool(*p)).collect();
        let estimated = estimate(&p, 0.5).expect("estimate");
        let actual = metrics::auroc(&p, &y).expect("auroc").value;
        let auroc = estimated.auroc.expect("auroc");
        assert!((auroc - actual).abs() < 0.01, "estimated {auroc}, actual {actual}");
        let at = metrics::at_threshold(&p, &y, 0.5, 1.0);
        assert!((estimated.ppv.expect("ppv") - at.ppv).abs() < 0.02);
        assert!((estimated.sensitivity.expect("sensitivity") - at.sensitivity).abs() < 0.02);
        assert!((estimated.brier - metrics::brier(&p, &y)).abs() < 0.01);
        let events = y.iter().filter(|y| **y).count() as f64;
        assert!((estimated.events - events).abs() / events < 0.05);
    }

    #[test]
    fn predictions_all_alike_discriminate_no_better_than_chance() {
        let estimated = estimate(&[0.2; 50], 0.5).expect("estimate");
        assert!((estimated.auroc.expect("auroc") - 0.5).abs() < 1e-9);
        assert_eq!(estimated.ppv, None, "nobody above the threshold");
        assert_eq!(estimate(&[], 0.5), None);
    }
}
