//! What `vigil train` reports and the registry keeps with each model: its figures beside LACE and
//! HOSPITAL on the same test events, deciles, thresholds, subgroups (and those below the whole), and
//! the events left out on clinicians' answers; `to_text` is the report as a person reads it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::metrics;
use crate::model::Algorithm;
use crate::training::{Evaluation, Subgroup, Target};

/// Everything `vigil train` reports, and the registry keeps with the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub target: Target,
    pub algorithm: Algorithm,
    pub cutoff: DateTime<Utc>,
    pub training_examples: usize,
    pub training_positives: usize,
    pub training_from: Option<DateTime<Utc>>,
    pub hyperparameters: String,
    /// How the learner and its hyperparameters were chosen (reports before this was kept have none).
    #[serde(default)]
    pub tuning: Option<Tuning>,
    pub training_seconds: f64,
    pub model: Evaluation,
    pub lace: Option<Evaluation>,
    pub hospital: Option<Evaluation>,
    /// The model's AUROC less LACE's and HOSPITAL's on the same events, with the 95 % interval
    /// of DeLong's paired test.
    #[serde(default)]
    pub over_lace: Option<(f64, f64, f64)>,
    #[serde(default)]
    pub over_hospital: Option<(f64, f64, f64)>,
    pub deciles: Vec<(usize, f64, f64)>,
    pub threshold: f64,
    /// Alerts, sensitivity, PPV, alerts per 100 patient-days and patients evaluated per true case
    /// (infinite where no alert was a true case, which JSON keeps as null).
    #[serde(deserialize_with = "per_case_or_none")]
    pub at_threshold: (usize, f64, f64, f64, f64),
    pub subgroups: Vec<Subgroup>,
    /// The subgroups further below the whole than their intervals explain, with what each remedy
    /// changed (reports before they were tried have none).
    #[serde(default)]
    pub remedies: Vec<crate::fairness::Remedy>,
    /// Alerting at a range of thresholds on the test period (reports before this was kept have none).
    #[serde(default)]
    pub thresholds: Vec<metrics::ThresholdRow>,
    /// Index events left out of training and evaluation because clinicians said they should not
    /// count (see `exclusions`).
    #[serde(default)]
    pub excluded_by_feedback: usize,
    /// The training window's distributions of each feature and of the predictions, which
    /// monitoring measures drift against (reports before this was kept have none).
    #[serde(default)]
    pub reference: Option<crate::drift::Reference>,
}

/// Reads `at_threshold` with its last figure null (infinite: no true case among the alerts) as
/// infinity; without it, such a report could not be read back at all.
fn per_case_or_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<(usize, f64, f64, f64, f64), D::Error> {
    let (alerts, sensitivity, ppv, per_100, per_case): (usize, f64, f64, f64, Option<f64>) =
        Deserialize::deserialize(d)?;
    Ok((alerts, sensitivity, ppv, per_100, per_case.unwrap_or(f64::INFINITY)))
}

/// The time-ordered cross-validation that chose the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tuning {
    pub folds: usize,
    /// The index in `tried` of the chosen candidate.
    pub chosen: usize,
    pub tried: Vec<crate::tuning::Tried>,
    /// LACE's and HOSPITAL's points on the same folds.
    pub lace: Option<f64>,
    pub hospital: Option<f64>,
    /// The calibrator chosen on the calibration slice, and why.
    #[serde(default)]
    pub calibration: Option<String>,
}

impl Tuning {
    /// Why this model: its figure beside the best of each other learner and the clinical scores.
    pub fn why(&self) -> String {
        let figure = |a: Option<f64>| a.map_or_else(|| "n/a".to_owned(), |a| format!("{a:.3}"));
        let Some(chosen) = self.tried.get(self.chosen) else { return String::new() };
        let mut s = format!(
            "chosen by time-ordered cross-validation in the training window ({} folds, {} candidates): {} {} AUROC {}",
            self.folds,
            self.tried.len(),
            chosen.algorithm.as_str().replace('_', " "),
            chosen.setting,
            figure(chosen.auroc)
        );
        let mut others: Vec<&crate::tuning::Tried> = Vec::new();
        for t in &self.tried {
            if t.algorithm != chosen.algorithm {
                match others.iter_mut().find(|o| o.algorithm == t.algorithm) {
                    Some(o) if o.auroc >= t.auroc => {}
                    Some(o) => *o = t,
                    None => others.push(t),
                }
            }
        }
        for o in others {
            s += &format!("; best {} {} {}", o.algorithm.as_str().replace('_', " "), o.setting, figure(o.auroc));
        }
        for (name, value) in [("LACE", self.lace), ("HOSPITAL", self.hospital)] {
            if value.is_some() {
                s += &format!("; {name} {}", figure(value));
            }
        }
        s
    }
}

/// The calibration slopes a model may be made active with, without a recorded override (and a
/// challenger promoted with).
pub const CALIBRATION_SLOPE_BAND: (f64, f64) = (0.8, 1.2);

/// How far below the whole a subgroup's AUROC may fall (PRODUCT.md's fairness check).
pub const SUBGROUP_AUROC_GAP: f64 = 0.05;

/// Whether a subgroup's AUROC `gap` below the whole's exceeds [`SUBGROUP_AUROC_GAP`], rounded as
/// printed: a gap shown as exactly 0.050 is within the limit.
pub fn beyond_gap(gap: f64) -> bool {
    (gap * 1000.0).round() > SUBGROUP_AUROC_GAP * 1000.0
}

impl Report {
    /// The subgroups whose AUROC falls more than [`SUBGROUP_AUROC_GAP`] below the whole's, with
    /// the gap.
    pub fn subgroups_below(&self) -> Vec<(&Subgroup, f64)> {
        let Some((whole, _, _)) = self.model.auroc else { return Vec::new() };
        self.subgroups
            .iter()
            .filter_map(|g| g.auroc.map(|a| (g, whole - a)))
            .filter(|(_, gap)| beyond_gap(*gap))
            .collect()
    }
}

impl Report {
    /// The report as a person reads it.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let line = |s: &mut String, name: &str, e: &Evaluation| {
            let _ = writeln!(s, "{}", e.line(name));
        };
        let _ = writeln!(
            s,
            "{} model, {}: trained on {} events ({} positive) with outcomes known before {}; {} ({:.1} s)",
            self.target.as_str(),
            self.algorithm.as_str(),
            self.training_examples,
            self.training_positives,
            self.cutoff.format("%Y-%m-%d"),
            self.hyperparameters,
            self.training_seconds
        );
        if let Some(tuning) = &self.tuning {
            let _ = writeln!(s, "{}", tuning.why());
            if let Some(calibration) = &tuning.calibration {
                let _ = writeln!(s, "calibrated by {calibration}");
            }
        }
        if self.excluded_by_feedback > 0 {
            let _ = writeln!(
                s,
                "excluded: {} index events clinicians said should not count (planned admission, palliative or hospice care, transfer, data error)",
                self.excluded_by_feedback
            );
        }
        let _ = writeln!(
            s,
            "test: {} events from {} on, {} positive ({:.1} %)",
            self.model.events,
            self.cutoff.format("%Y-%m-%d"),
            self.model.positives,
            100.0 * self.model.positives as f64 / self.model.events.max(1) as f64
        );
        line(&mut s, "model", &self.model);
        if let Some(lace) = &self.lace {
            line(&mut s, "LACE", lace);
        }
        if let Some(hospital) = &self.hospital {
            line(&mut s, "HOSPITAL", hospital);
        }
        for (name, difference) in [("LACE", self.over_lace), ("HOSPITAL", self.over_hospital)] {
            if let Some((value, low, high)) = difference {
                let _ = writeln!(
                    s,
                    "  model - {name:<15} AUROC {value:+.3} [{low:+.3}, {high:+.3}] (paired DeLong: {})",
                    if low > 0.0 {
                        "better"
                    } else if high < 0.0 {
                        "worse"
                    } else {
                        "not distinguishable"
                    }
                );
            }
        }
        let _ = writeln!(s, "calibration by decile (events, mean predicted, observed):");
        for (i, (n, predicted, observed)) in self.deciles.iter().enumerate() {
            let _ = writeln!(s, "  {:>2}  {n:>7}  {predicted:>6.3}  {observed:>6.3}", i + 1);
        }
        let (alerts, sensitivity, ppv, per_100, per_case) = self.at_threshold;
        let _ = writeln!(
            s,
            "at threshold {:.2}: {alerts} alerts, sensitivity {sensitivity:.3}, PPV {ppv:.3}, {per_100:.2} alerts per 100 patient-days, {per_case:.1} patients evaluated per true case",
            self.threshold
        );
        let _ = writeln!(
            s,
            "by subgroup (events, positives, AUROC [95 % interval], sensitivity, PPV, alerts per 100 patient-days):"
        );
        for g in &self.subgroups {
            let auroc = match (g.auroc, g.auroc_interval) {
                (Some(a), Some((lo, hi))) => format!("{a:.3} [{lo:.3}, {hi:.3}]"),
                (Some(a), None) => format!("{a:.3}"),
                _ => "n/a".into(),
            };
            let _ = writeln!(
                s,
                "  {:<5} {:<28} {:>7} {:>6}  {auroc:<22} {:.3}  {:.3}  {:.2}",
                g.attribute, g.value, g.events, g.positives, g.sensitivity, g.ppv, g.alerts_per_100_patient_days
            );
        }
        let below = self.subgroups_below();
        let listed: Vec<String> = below
            .iter()
            .map(|(g, gap)| format!("{} {} ({} events, {gap:.3} below)", g.attribute, g.value, g.events))
            .collect();
        let _ = writeln!(
            s,
            "subgroups with an AUROC more than {SUBGROUP_AUROC_GAP:.2} below the whole: {}",
            if listed.is_empty() { "none".to_owned() } else { listed.join(", ") }
        );
        for r in &self.remedies {
            let _ = writeln!(s, "{}", r.to_text());
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn subgroups_far_below_the_whole_are_named() {
        let evaluation = |auroc| Evaluation {
            events: 100,
            positives: 10,
            auroc: Some((auroc, auroc - 0.05, auroc + 0.05)),
            auprc: None,
            brier: 0.1,
            calibration_intercept: 0.0,
            calibration_slope: 1.0,
            calibration_intercept_interval: None,
            calibration_slope_interval: None,
        };
        let group = |value: &str, auroc| Subgroup {
            attribute: "age".into(),
            value: value.into(),
            events: 50,
            positives: 5,
            auroc,
            auroc_interval: None,
            sensitivity: 0.5,
            ppv: 0.5,
            alerts_per_100_patient_days: 1.0,
        };
        let report = Report {
            target: Target::Readmission,
            algorithm: Algorithm::LogisticRegression,
            cutoff: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().expect("t"),
            training_examples: 1,
            training_positives: 1,
            training_from: None,
            hyperparameters: String::new(),
            tuning: None,
            training_seconds: 0.0,
            model: evaluation(0.90),
            lace: None,
            hospital: None,
            over_lace: None,
            over_hospital: None,
            deciles: Vec::new(),
            threshold: 0.3,
            at_threshold: (0, 0.0, 0.0, 0.0, 0.0),
            subgroups: vec![group("<45", Some(0.86)), group("80+", Some(0.84)), group("unknown", None)],
            remedies: Vec::new(),
            thresholds: Vec::new(),
            excluded_by_feedback: 0,
            reference: None,
        };
        let below: Vec<&str> = report.subgroups_below().iter().map(|(g, _)| g.value.as_str()).collect();
        let stored = serde_json::to_value(Report { at_threshold: (3, 0.0, 0.0, 0.1, f64::INFINITY), ..report.clone() })
            .expect("json");
        let read: Report = serde_json::from_value(stored).expect("a report whose alerts found no case reads back");
        assert!(read.at_threshold.4.is_infinite());
        assert_eq!(below, ["80+"]);
        assert!(report.to_text().contains("below the whole: age 80+ (50 events, 0.060 below)"));
    }
}
