//! Calibration, pure: the calibrators that map a learner's raw scores to probabilities (Platt
//! scaling and isotonic regression, chosen by measurement), and the calibration figures
//! (intercept and slope of `logit P(y) = a + b logit(p)`), with 95 % Wald intervals from the
//! fit's Fisher information, so that a slope measured on 100 events is read with its uncertainty.

use serde::{Deserialize, Serialize};

pub fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// `ln(1 + e^t)` without overflow.
fn softplus(t: f64) -> f64 {
    t.max(0.0) + (-t.abs()).exp().ln_1p()
}

fn log_likelihood(x: &[f64], y: &[bool], a: f64, b: f64) -> f64 {
    // ln sigmoid(z) = -softplus(-z); ln(1 - sigmoid(z)) = -softplus(z).
    x.iter().zip(y).map(|(xi, yi)| -softplus(if *yi { -(a + b * xi) } else { a + b * xi })).sum()
}

/// Fits `P(y) = sigmoid(a + b x)` by Newton's method with step halving (so it never moves to a
/// worse fit); with `fit_slope` false, b stays 1 and only a is fitted. The inputs are centred and
/// scaled first, so that points on a 0–19 scale fit as well as logits. Returns (a, b).
pub(crate) fn fit_logistic(x: &[f64], y: &[bool], fit_slope: bool) -> (f64, f64) {
    let n = x.len().max(1) as f64;
    let (center, scale) = if fit_slope {
        let mean = x.iter().sum::<f64>() / n;
        let sd = (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        (mean, if sd > 1e-12 { sd } else { 1.0 })
    } else {
        (0.0, 1.0)
    };
    let x: Vec<f64> = x.iter().map(|v| (v - center) / scale).collect();
    let (mut a, mut b) = (0.0, if fit_slope { 0.0 } else { 1.0 });
    let mut current = log_likelihood(&x, y, a, b);
    for _ in 0..100 {
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (xi, yi) in x.iter().zip(y) {
            let p = sigmoid(a + b * xi);
            let r = if *yi { 1.0 } else { 0.0 } - p;
            let w = p * (1.0 - p);
            ga += r;
            gb += r * xi;
            haa += w;
            hab += w * xi;
            hbb += w * xi * xi;
        }
        let (da, db) = if fit_slope {
            let det = haa * hbb - hab * hab;
            if det.abs() < 1e-12 {
                break;
            }
            ((hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det)
        } else {
            if haa < 1e-12 {
                break;
            }
            (ga / haa, 0.0)
        };
        let mut step = 1.0;
        let mut improved = false;
        while step > 1e-6 {
            let candidate = log_likelihood(&x, y, a + step * da, b + step * db);
            if candidate >= current {
                a += step * da;
                b += step * db;
                current = candidate;
                improved = true;
                break;
            }
            step /= 2.0;
        }
        if !improved || (step * da).abs() < 1e-10 && (step * db).abs() < 1e-10 {
            break;
        }
    }
    // Back to the original scale: a + b (x - c) / s.
    if fit_slope { (a - b * center / scale, b / scale) } else { (a, b) }
}

/// Calibration intercept (calibration-in-the-large: `a` with the slope fixed at 1) and slope (`b`
/// in `logit P(y) = a + b logit(p)`). A well calibrated model has 0 and 1.
pub fn calibration(probabilities: &[f64], labels: &[bool]) -> (f64, f64) {
    let x: Vec<f64> = probabilities.iter().map(|p| logit(*p)).collect();
    let (intercept, _) = fit_logistic(&x, labels, false);
    let (_, slope) = fit_logistic(&x, labels, true);
    (intercept, slope)
}

/// Platt scaling: `P = sigmoid(a + b raw)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Platt {
    pub a: f64,
    pub b: f64,
}

impl Platt {
    pub fn fit(raw: &[f64], labels: &[bool]) -> Self {
        let (a, b) = fit_logistic(raw, labels, true);
        Self { a, b }
    }

    pub fn apply(&self, raw: f64) -> f64 {
        sigmoid(self.a + self.b * raw)
    }
}

/// Isotonic regression of the outcome on the raw score (pool adjacent violators): the pooled
/// blocks' mean scores and outcome rates, applied by linear interpolation between them. It bends
/// where Platt's logistic curve cannot, at the cost of many more parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Isotonic {
    pub scores: Vec<f64>,
    pub rates: Vec<f64>,
}

impl Isotonic {
    pub fn fit(raw: &[f64], labels: &[bool]) -> Self {
        let mut order: Vec<usize> = (0..raw.len()).collect();
        order.sort_by(|&a, &b| raw[a].total_cmp(&raw[b]));
        // (sum of scores, sum of outcomes, count) per block, their rates increasing.
        let mut blocks: Vec<(f64, f64, f64)> = Vec::new();
        for i in order {
            blocks.push((raw[i], if labels[i] { 1.0 } else { 0.0 }, 1.0));
            while blocks.len() >= 2 {
                let (last, before) = (blocks[blocks.len() - 1], blocks[blocks.len() - 2]);
                if before.1 / before.2 < last.1 / last.2 {
                    break;
                }
                blocks.pop();
                let merged = blocks.len() - 1;
                blocks[merged] = (before.0 + last.0, before.1 + last.1, before.2 + last.2);
            }
        }
        // Never 0 or 1: a probability of exactly either would claim a certainty no slice shows.
        let floor = 1.0 / (2.0 * raw.len().max(1) as f64);
        Self {
            scores: blocks.iter().map(|b| b.0 / b.2).collect(),
            rates: blocks.iter().map(|b| (b.1 / b.2).clamp(floor, 1.0 - floor)).collect(),
        }
    }

    pub fn apply(&self, raw: f64) -> f64 {
        let (Some(first), Some(last)) = (self.scores.first(), self.scores.last()) else { return 0.5 };
        if raw <= *first {
            return self.rates[0];
        }
        if raw >= *last {
            return self.rates[self.rates.len() - 1];
        }
        let upper = self.scores.partition_point(|s| *s < raw);
        let (x0, x1) = (self.scores[upper - 1], self.scores[upper]);
        let (y0, y1) = (self.rates[upper - 1], self.rates[upper]);
        y0 + (y1 - y0) * (raw - x0) / (x1 - x0)
    }
}

/// How raw scores become probabilities. Untagged, so that models stored with a bare Platt
/// scaling read as before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Calibrator {
    Platt(Platt),
    Isotonic(Isotonic),
}

impl Calibrator {
    pub fn apply(&self, raw: f64) -> f64 {
        match self {
            Self::Platt(p) => p.apply(raw),
            Self::Isotonic(i) => i.apply(raw),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Platt(_) => "Platt scaling",
            Self::Isotonic(_) => "isotonic regression",
        }
    }
}

/// How much lower (per event) isotonic regression's log loss must be to be chosen over Platt's.
pub const ISOTONIC_MARGIN: f64 = 0.005;
/// The calibration slice isotonic regression is tried on at the least: with fewer events it
/// overfits (Niculescu-Mizil and Caruana 2005 saw it lose to Platt below about a thousand), and a
/// half-slice of a few dozen events cannot tell the two apart.
pub const ISOTONIC_MIN_EVENTS: usize = 1000;
pub const ISOTONIC_MIN_POSITIVES: usize = 50;

/// Chooses the calibrator by measurement on the calibration slice (`raw`, `labels` in time
/// order): each is fitted on the earlier half and judged by log loss on the later half; isotonic
/// regression must beat Platt scaling by [`ISOTONIC_MARGIN`]. The chosen one is refitted on the
/// whole slice. Returns it and the sentence the report gives.
pub fn choose(raw: &[f64], labels: &[bool]) -> (Calibrator, String) {
    let half = raw.len() / 2;
    let (early_x, late_x, early_y, late_y) = (&raw[..half], &raw[half..], &labels[..half], &labels[half..]);
    let both = |y: &[bool]| y.iter().any(|l| *l) && y.iter().any(|l| !*l);
    let positives = labels.iter().filter(|l| **l).count();
    if !both(early_y) || !both(late_y) || raw.len() < ISOTONIC_MIN_EVENTS || positives < ISOTONIC_MIN_POSITIVES {
        let why = format!(
            "Platt scaling (isotonic regression is tried from {ISOTONIC_MIN_EVENTS} events and \
             {ISOTONIC_MIN_POSITIVES} positive in the calibration slice; it has {} and {positives})",
            raw.len()
        );
        return (Calibrator::Platt(Platt::fit(raw, labels)), why);
    }
    let platt = Platt::fit(early_x, early_y);
    let isotonic = Isotonic::fit(early_x, early_y);
    let platt_loss = log_loss(late_x.iter().map(|x| platt.apply(*x)), late_y);
    let isotonic_loss = log_loss(late_x.iter().map(|x| isotonic.apply(*x)), late_y);
    let chosen = if isotonic_loss + ISOTONIC_MARGIN < platt_loss {
        Calibrator::Isotonic(Isotonic::fit(raw, labels))
    } else {
        Calibrator::Platt(Platt::fit(raw, labels))
    };
    let why = format!(
        "{} (log loss on the calibration slice's later half: Platt {platt_loss:.4}, isotonic {isotonic_loss:.4})",
        chosen.name()
    );
    (chosen, why)
}

/// Mean negative log-likelihood of `labels` under `p`.
fn log_loss(p: impl Iterator<Item = f64>, labels: &[bool]) -> f64 {
    let total: f64 = p.zip(labels).map(|(p, y)| -(if *y { p } else { 1.0 - p }).clamp(1e-12, 1.0).ln()).sum();
    total / labels.len().max(1) as f64
}

/// The calibration intercept and slope with their 95 % intervals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    pub intercept: f64,
    /// None where the fit has no information (every prediction the same).
    pub intercept_interval: Option<(f64, f64)>,
    pub slope: f64,
    pub slope_interval: Option<(f64, f64)>,
}

/// [`calibration`] with Wald intervals: the intercept's variance is `1 / Σ w` (slope fixed at 1,
/// `w = p (1 - p)` at the fit), the slope's the inverse information of the two-parameter fit.
pub fn calibration_intervals(probabilities: &[f64], labels: &[bool]) -> Calibration {
    let x: Vec<f64> = probabilities.iter().map(|p| logit(*p)).collect();
    let (intercept, _) = fit_logistic(&x, labels, false);
    let (a, slope) = fit_logistic(&x, labels, true);
    let z = 1.959_963_984_540_054;
    let info_a: f64 = x.iter().map(|xi| weight(intercept + xi)).sum();
    let (mut haa, mut hab, mut hbb) = (0.0, 0.0, 0.0);
    for xi in &x {
        let w = weight(a + slope * xi);
        haa += w;
        hab += w * xi;
        hbb += w * xi * xi;
    }
    let det = haa * hbb - hab * hab;
    let se_a = if info_a > 0.0 { 1.0 / info_a.sqrt() } else { f64::INFINITY };
    let se_b = if det > 0.0 { (haa / det).sqrt() } else { f64::INFINITY };
    let interval = |value: f64, se: f64| {
        let (low, high) = (value - z * se, value + z * se);
        (low.is_finite() && high.is_finite()).then_some((low, high))
    };
    Calibration {
        intercept,
        intercept_interval: interval(intercept, se_a),
        slope,
        slope_interval: interval(slope, se_b),
    }
}

/// The logistic fit's weight at log-odds `t`.
fn weight(t: f64) -> f64 {
    let p = sigmoid(t);
    p * (1.0 - p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isotonic_follows_a_bend_platt_cannot_and_stored_platt_reads_as_before() {
        // The outcome rate jumps at raw 0 and is flat on either side: a step, not a logistic curve.
        let raw: Vec<f64> = (0..4000).map(|i| -2.0 + 4.0 * f64::from(i) / 4000.0).collect();
        let labels: Vec<bool> =
            raw.iter().enumerate().map(|(i, x)| if *x < 0.0 { i % 20 == 0 } else { i % 2 == 0 }).collect();
        let (chosen, why) = choose(&raw, &labels);
        assert!(matches!(chosen, Calibrator::Isotonic(_)), "{why}");
        assert!((chosen.apply(-1.0) - 0.05).abs() < 0.02 && (chosen.apply(1.0) - 0.5).abs() < 0.03, "{why}");
        let rates = match &chosen {
            Calibrator::Isotonic(i) => i.rates.clone(),
            Calibrator::Platt(_) => Vec::new(),
        };
        assert!(rates.windows(2).all(|w| w[0] < w[1]), "increasing: {rates:?}");
        let few: Vec<usize> = (0..raw.len()).step_by(8).collect();
        let (few_raw, few_labels): (Vec<f64>, Vec<bool>) = few.iter().map(|&i| (raw[i], labels[i])).unzip();
        assert!(matches!(choose(&few_raw, &few_labels).0, Calibrator::Platt(_)), "500 events: too few to try it");

        // Outcomes on a logistic curve: Platt is kept.
        let logistic: Vec<bool> =
            raw.iter().enumerate().map(|(i, x)| (i * 7919 % 1000) as f64 / 1000.0 < sigmoid(x - 1.0)).collect();
        assert!(matches!(choose(&raw, &logistic).0, Calibrator::Platt(_)));

        let stored: Calibrator = serde_json::from_value(serde_json::json!({ "a": -1.0, "b": 2.0 })).expect("platt");
        assert_eq!(stored, Calibrator::Platt(Platt { a: -1.0, b: 2.0 }));
    }

    #[test]
    fn calibration_of_calibrated_and_overconfident_predictions() {
        // Outcomes drawn exactly at the predicted rates: intercept 0, slope 1.
        let (mut p, mut y) = (Vec::new(), Vec::new());
        for (prob, n, k) in [(0.1, 100, 10), (0.3, 100, 30), (0.6, 100, 60), (0.9, 100, 90)] {
            for i in 0..n {
                p.push(prob);
                y.push(i < k);
            }
        }
        let (intercept, slope) = calibration(&p, &y);
        assert!(intercept.abs() < 0.05 && (slope - 1.0).abs() < 0.05, "{intercept} {slope}");
        // Predictions pushed to the extremes: a slope below 1.
        let extreme: Vec<f64> = p.iter().map(|q| sigmoid(2.0 * logit(*q))).collect();
        let (_, slope) = calibration(&extreme, &y);
        assert!((slope - 0.5).abs() < 0.05, "{slope}");
        let table = crate::metrics::deciles(&p, &y);
        assert_eq!(table.len(), 10);
        assert_eq!(table.iter().map(|d| d.count).sum::<usize>(), 400);
    }

    #[test]
    fn intervals_narrow_with_events_and_hold_the_truth() {
        let outcomes = |n: usize| {
            let (mut p, mut y) = (Vec::new(), Vec::new());
            for (prob, share) in [(0.1, 0.1), (0.3, 0.3), (0.6, 0.6), (0.9, 0.9)] {
                let k = (n as f64 * share).round() as usize;
                for i in 0..n {
                    p.push(prob);
                    y.push(i < k);
                }
            }
            calibration_intervals(&p, &y)
        };
        let (few, many) = (outcomes(50), outcomes(500));
        for c in [few, many] {
            let (slope, intercept) = (c.slope_interval.expect("slope"), c.intercept_interval.expect("intercept"));
            assert!(slope.0 < 1.0 && 1.0 < slope.1, "{c:?}");
            assert!(intercept.0 < 0.0 && 0.0 < intercept.1, "{c:?}");
        }
        let flat =
            calibration_intervals(&[0.2; 10], &[true, false, false, false, false, true, false, false, false, false]);
        assert_eq!(flat.slope_interval, None, "no spread, no slope: {flat:?}");
        let width = |c: Calibration| c.slope_interval.map_or(0.0, |(low, high)| high - low);
        assert!(width(few) > 2.5 * width(many), "{few:?} {many:?}");
    }
}
