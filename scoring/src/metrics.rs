//! How good a set of predictions is, given what happened: discrimination (AUROC with DeLong's 95 %
//! interval, AUPRC as average precision), accuracy (Brier), calibration (intercept and slope of
//! the logistic recalibration in `calibration`, and a decile table), and what an operating threshold means on the
//! ward (sensitivity, PPV, alerts per 100 patient-days, patients evaluated per true case).

/// The AUROC with its 95 % confidence interval (DeLong et al. 1988).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Auroc {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

/// Midranks (1-based, ties share their mean rank) of `values`.
fn midranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for k in i..=j {
            ranks[order[k]] = rank;
        }
        i = j + 1;
    }
    ranks
}

fn variance(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (xs.len() - 1) as f64
}

/// None when only one class is present.
/// DeLong's structural components of the AUROC: the value, each positive's share of negatives
/// ranked below it (V10) and each negative's share of positives ranked above it (V01).
fn components(scores: &[f64], labels: &[bool]) -> Option<(f64, Vec<f64>, Vec<f64>)> {
    let positives: Vec<f64> = scores.iter().zip(labels).filter(|(_, l)| **l).map(|(s, _)| *s).collect();
    let negatives: Vec<f64> = scores.iter().zip(labels).filter(|(_, l)| !**l).map(|(s, _)| *s).collect();
    let (m, n) = (positives.len() as f64, negatives.len() as f64);
    if m == 0.0 || n == 0.0 {
        return None;
    }
    let all: Vec<f64> = positives.iter().chain(&negatives).copied().collect();
    let ranks = midranks(&all);
    let within_pos = midranks(&positives);
    let within_neg = midranks(&negatives);
    let value = (ranks[..positives.len()].iter().sum::<f64>() - m * (m + 1.0) / 2.0) / (m * n);
    let v10: Vec<f64> = (0..positives.len()).map(|i| (ranks[i] - within_pos[i]) / n).collect();
    let v01: Vec<f64> = (0..negatives.len()).map(|j| 1.0 - (ranks[positives.len() + j] - within_neg[j]) / m).collect();
    Some((value, v10, v01))
}

/// The AUROC with DeLong's 95 % interval.
pub fn auroc(scores: &[f64], labels: &[bool]) -> Option<Auroc> {
    let (value, v10, v01) = components(scores, labels)?;
    let se = (variance(&v10) / v10.len() as f64 + variance(&v01) / v01.len() as f64).sqrt();
    Some(Auroc { value, low: (value - 1.96 * se).max(0.0), high: (value + 1.96 * se).min(1.0) })
}

/// How much higher the AUROC of `a` is than that of `b` on the same events, with the 95 %
/// interval of DeLong's paired test (the two are correlated: the variance is that of the
/// differences of their components). An interval above zero means `a` discriminates better.
pub fn auroc_difference(a: &[f64], b: &[f64], labels: &[bool]) -> Option<Auroc> {
    let (value_a, v10_a, v01_a) = components(a, labels)?;
    let (value_b, v10_b, v01_b) = components(b, labels)?;
    let v10: Vec<f64> = v10_a.iter().zip(&v10_b).map(|(a, b)| a - b).collect();
    let v01: Vec<f64> = v01_a.iter().zip(&v01_b).map(|(a, b)| a - b).collect();
    let value = value_a - value_b;
    let se = (variance(&v10) / v10.len() as f64 + variance(&v01) / v01.len() as f64).sqrt();
    Some(Auroc { value, low: value - 1.96 * se, high: value + 1.96 * se })
}

/// Average precision: the area under the precision-recall curve, tied scores taken together.
pub fn auprc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let total_pos = labels.iter().filter(|l| **l).count() as f64;
    if total_pos == 0.0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut tp, mut seen, mut area, mut last_recall) = (0.0, 0.0, 0.0, 0.0);
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            if labels[order[j]] {
                tp += 1.0;
            }
            seen += 1.0;
            j += 1;
        }
        let recall = tp / total_pos;
        area += (recall - last_recall) * (tp / seen);
        last_recall = recall;
        i = j;
    }
    Some(area)
}

pub fn brier(probabilities: &[f64], labels: &[bool]) -> f64 {
    let n = probabilities.len().max(1) as f64;
    probabilities.iter().zip(labels).map(|(p, l)| (p - if *l { 1.0 } else { 0.0 }).powi(2)).sum::<f64>() / n
}

pub use crate::calibration::{calibration, logit, sigmoid};

/// One tenth of the predictions, by rank.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decile {
    pub count: usize,
    pub mean_predicted: f64,
    pub observed: f64,
}

pub fn deciles(probabilities: &[f64], labels: &[bool]) -> Vec<Decile> {
    let mut order: Vec<usize> = (0..probabilities.len()).collect();
    order.sort_by(|&a, &b| probabilities[a].total_cmp(&probabilities[b]));
    let n = order.len();
    (0..10)
        .map(|d| {
            let part = &order[d * n / 10..(d + 1) * n / 10];
            let count = part.len().max(1) as f64;
            Decile {
                count: part.len(),
                mean_predicted: part.iter().map(|&i| probabilities[i]).sum::<f64>() / count,
                observed: part.iter().filter(|&&i| labels[i]).count() as f64 / count,
            }
        })
        .collect()
}

/// What alerting at a threshold means.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AtThreshold {
    pub threshold: f64,
    pub alerts: usize,
    pub sensitivity: f64,
    pub ppv: f64,
    /// Alerts per 100 patient-days of the population scored.
    pub alerts_per_100_patient_days: f64,
    /// Patients alerted on per true case found (1 / PPV).
    pub evaluated_per_case: f64,
}

pub fn at_threshold(probabilities: &[f64], labels: &[bool], threshold: f64, patient_days: f64) -> AtThreshold {
    let alerted: Vec<bool> = probabilities.iter().map(|p| *p >= threshold).collect();
    let alerts = alerted.iter().filter(|a| **a).count();
    let true_alerts = alerted.iter().zip(labels).filter(|(a, l)| **a && **l).count();
    let cases = labels.iter().filter(|l| **l).count();
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let ppv = ratio(true_alerts, alerts);
    AtThreshold {
        threshold,
        alerts,
        sensitivity: ratio(true_alerts, cases),
        ppv,
        alerts_per_100_patient_days: if patient_days > 0.0 { 100.0 * alerts as f64 / patient_days } else { 0.0 },
        evaluated_per_case: if ppv > 0.0 { 1.0 / ppv } else { f64::INFINITY },
    }
}

/// One row of a threshold table: what alerting at `threshold` would have meant.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ThresholdRow {
    pub threshold: f64,
    /// The share of the predictions at or above the threshold.
    pub share_alerted: f64,
    pub alerts_per_100_patient_days: f64,
    pub ppv: f64,
    pub sensitivity: f64,
}

/// The shares of patients that alert thresholds are usually set to reach (the top 1 %, 2 %, …).
pub const ALERT_SHARES: [f64; 6] = [0.01, 0.02, 0.05, 0.10, 0.20, 0.30];

/// What alerting would mean at the thresholds that reach each of [`ALERT_SHARES`], and at
/// `also` (the model's own threshold), highest threshold first.
pub fn threshold_table(probabilities: &[f64], labels: &[bool], patient_days: f64, also: f64) -> Vec<ThresholdRow> {
    if probabilities.is_empty() {
        return Vec::new();
    }
    let mut sorted = probabilities.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let mut thresholds: Vec<f64> = ALERT_SHARES
        .iter()
        .map(|share| sorted[((sorted.len() as f64 * share).ceil() as usize).clamp(1, sorted.len()) - 1])
        .chain(std::iter::once(also))
        .collect();
    thresholds.sort_by(|a, b| b.total_cmp(a));
    thresholds.dedup();
    thresholds
        .into_iter()
        .map(|threshold| {
            let at = at_threshold(probabilities, labels, threshold, patient_days);
            ThresholdRow {
                threshold,
                share_alerted: at.alerts as f64 / probabilities.len() as f64,
                alerts_per_100_patient_days: at.alerts_per_100_patient_days,
                ppv: at.ppv,
                sensitivity: at.sensitivity,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_threshold_table_runs_from_the_fewest_alerts_to_the_most() {
        let p: Vec<f64> = (0..100).map(|i| f64::from(i) / 100.0).collect();
        let y: Vec<bool> = (0..100).map(|i| i >= 90).collect();
        let table = threshold_table(&p, &y, 3000.0, 0.5);
        // Six shares and the model's own threshold.
        assert_eq!(table.len(), 7);
        assert_eq!(table[0].threshold, 0.99);
        assert!((table[0].share_alerted - 0.01).abs() < 1e-12);
        assert_eq!(table[0].ppv, 1.0);
        let at_half = table.iter().find(|r| r.threshold == 0.5).expect("the model's threshold");
        assert!((at_half.sensitivity - 1.0).abs() < 1e-12 && (at_half.ppv - 0.2).abs() < 1e-12);
        assert!(table.windows(2).all(|w| w[0].threshold > w[1].threshold));
        assert!(threshold_table(&[], &[], 0.0, 0.5).is_empty());
    }

    #[test]
    fn auroc_counts_pairs_and_ties() {
        let labels = [true, true, false, false];
        assert_eq!(auroc(&[0.9, 0.8, 0.2, 0.1], &labels).map(|a| a.value), Some(1.0));
        assert_eq!(auroc(&[0.1, 0.2, 0.8, 0.9], &labels).map(|a| a.value), Some(0.0));
        assert_eq!(auroc(&[0.5, 0.5, 0.5, 0.5], &labels).map(|a| a.value), Some(0.5));
        // 3 of 4 pairs ordered right, one tied: (3 + 0.5) / 4.
        let a = auroc(&[0.9, 0.5, 0.5, 0.1], &labels).expect("auroc");
        assert!((a.value - 0.875).abs() < 1e-12);
        assert!(a.low <= a.value && a.value <= a.high);
        assert!(auroc(&[0.1, 0.2], &[true, true]).is_none());
    }

    #[test]
    fn delong_interval_matches_a_reference_value() {
        // Hanley & McNeil's classic CT example, rated 1–5; AUROC 0.8931 with SE about 0.032.
        let negatives = [(1, 33), (2, 6), (3, 6), (4, 11), (5, 2)];
        let positives = [(1, 3), (2, 2), (3, 2), (4, 11), (5, 33)];
        let (mut scores, mut labels) = (Vec::new(), Vec::new());
        for (set, label) in [(negatives, false), (positives, true)] {
            for (rating, count) in set {
                for _ in 0..count {
                    scores.push(rating as f64);
                    labels.push(label);
                }
            }
        }
        let a = auroc(&scores, &labels).expect("auroc");
        assert!((a.value - 0.8931).abs() < 1e-3, "{a:?}");
        let se = (a.high - a.value) / 1.96;
        assert!((0.025..0.04).contains(&se), "{se}");
    }

    #[test]
    fn paired_difference_of_aurocs() {
        // A score that tracks the label, and the same score with noise added.
        let labels: Vec<bool> = (0..400).map(|i| i % 5 == 0).collect();
        let mut state = 7_u64;
        let mut noise = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) as f64 / (1u64 << 31) as f64
        };
        let good: Vec<f64> = labels.iter().map(|l| if *l { 0.5 } else { 0.0 } + noise()).collect();
        let worse: Vec<f64> = good.iter().map(|g| g + noise()).collect();
        let d = auroc_difference(&good, &worse, &labels).expect("difference");
        let (a, b) = (auroc(&good, &labels).expect("a"), auroc(&worse, &labels).expect("b"));
        assert!((d.value - (a.value - b.value)).abs() < 1e-12);
        assert!(d.low > 0.0, "the noisier score is worse: {d:?}");
        // The pairing removes the shared part: narrower than if the two were independent.
        let unpaired = ((a.high - a.value).powi(2) + (b.high - b.value).powi(2)).sqrt();
        assert!(d.high - d.value < unpaired, "{d:?} {unpaired}");
        let same = auroc_difference(&good, &good, &labels).expect("same");
        assert_eq!((same.value, same.low, same.high), (0.0, 0.0, 0.0));
        assert!(auroc_difference(&good, &worse, &vec![true; 400]).is_none());
    }

    #[test]
    fn average_precision_and_brier() {
        let labels = [true, false, true, false];
        // Ranked: T (P 1, R .5), F, T (P 2/3, R 1), F.
        let ap = auprc(&[0.9, 0.8, 0.7, 0.1], &labels).expect("ap");
        assert!((ap - (0.5 * 1.0 + 0.5 * 2.0 / 3.0)).abs() < 1e-12);
        assert!((brier(&[1.0, 0.0, 0.5, 0.5], &labels) - (0.0 + 0.0 + 0.25 + 0.25) / 4.0).abs() < 1e-12);
    }

    #[test]
    fn threshold_figures() {
        let at = at_threshold(&[0.9, 0.8, 0.3, 0.1], &[true, false, true, false], 0.5, 200.0);
        assert_eq!(at.alerts, 2);
        assert_eq!((at.sensitivity, at.ppv, at.evaluated_per_case), (0.5, 0.5, 2.0));
        assert_eq!(at.alerts_per_100_patient_days, 1.0);
    }
}
