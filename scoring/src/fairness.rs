//! Fairness as a training concern, pure: each subgroup's figures on the test period (sex, age
//! band, race, with the AUROC's interval and the group's size), and, where a subgroup's AUROC falls
//! further below the whole's than its own interval explains, the remedies tried and what each
//! changed on the same test events:
//!
//! - **per-group calibration**: a Platt scaling of the group's raw scores fitted on the group's
//!   events of the calibration slice (it cannot change the group's ranking, only how its
//!   probabilities read and how they interleave with everyone else's);
//! - **group interactions**: the chosen learner refitted with the group's indicator and its
//!   product with every feature, so that risk may be read differently in the group.
//!
//! The remedies are reported, not applied: the kept model is the one chosen on the training window,
//! and informatics reads what a remedy would have changed before asking for it.

use serde::{Deserialize, Serialize};

use crate::calibration::{Platt, calibration};
use crate::metrics;
use crate::model::ModelError;
use crate::report::beyond_gap;
use crate::training::Example;
use crate::tuning::Candidate;

/// A subgroup's figures at the threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subgroup {
    pub attribute: String,
    pub value: String,
    pub events: usize,
    pub positives: usize,
    pub auroc: Option<f64>,
    /// DeLong's 95 % interval of the AUROC (reports before it was kept have none).
    #[serde(default)]
    pub auroc_interval: Option<(f64, f64)>,
    pub sensitivity: f64,
    pub ppv: f64,
    pub alerts_per_100_patient_days: f64,
}

pub fn age_band(age: Option<f64>) -> &'static str {
    match age {
        None => "unknown",
        Some(a) if a < 45.0 => "<45",
        Some(a) if a < 65.0 => "45-64",
        Some(a) if a < 80.0 => "65-79",
        Some(_) => "80+",
    }
}

/// The subgroup an example falls in, by attribute.
type Grouping = fn(&Example) -> String;

/// The attributes subgroups are formed by.
const ATTRIBUTES: [(&str, Grouping); 3] = [
    ("sex", |e| e.sex.clone().unwrap_or_else(|| "unknown".into())),
    ("age", |e| age_band(e.age).to_owned()),
    ("race", |e| e.race.clone().unwrap_or_else(|| "unknown".into())),
];

pub(crate) fn subgroups(test: &[&Example], p: &[f64], threshold: f64) -> Vec<Subgroup> {
    let mut out = Vec::new();
    for (attribute, value_of) in &ATTRIBUTES {
        let mut values: Vec<String> = test.iter().map(|e| value_of(e)).collect();
        values.sort();
        values.dedup();
        for value in values {
            let members: Vec<usize> = (0..test.len()).filter(|&i| value_of(test[i]) == value).collect();
            let sp: Vec<f64> = members.iter().map(|&i| p[i]).collect();
            let sy: Vec<bool> = members.iter().map(|&i| test[i].label).collect();
            let at = metrics::at_threshold(&sp, &sy, threshold, crate::training::patient_days(sy.len()));
            let auroc = metrics::auroc(&sp, &sy);
            out.push(Subgroup {
                attribute: attribute.to_string(),
                value,
                events: sy.len(),
                positives: sy.iter().filter(|l| **l).count(),
                auroc: auroc.map(|a| a.value),
                auroc_interval: auroc
                    .map(|a| (a.low, a.high))
                    .filter(|(low, high)| low.is_finite() && high.is_finite()),
                sensitivity: at.sensitivity,
                ppv: at.ppv,
                alerts_per_100_patient_days: at.alerts_per_100_patient_days,
            });
        }
    }
    out
}

/// A group's and the whole's figures on the test period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Effect {
    pub group_auroc: Option<f64>,
    pub group_slope: Option<f64>,
    pub whole_auroc: Option<f64>,
}

/// A subgroup further below the whole than its interval explains, and what each remedy changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Remedy {
    pub attribute: String,
    pub value: String,
    pub events: usize,
    pub positives: usize,
    /// The whole's AUROC less the group's, as trained.
    pub gap: f64,
    pub before: Effect,
    /// None where the calibration slice holds too few of the group's events of either outcome.
    pub per_group_calibration: Option<Effect>,
    pub interactions: Option<Effect>,
}

impl Remedy {
    /// What each remedy changed, in one line.
    pub fn to_text(&self) -> String {
        let figure = |v: Option<f64>, digits: usize| v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.digits$}"));
        let change = |name: &str, after: &Option<Effect>| match after {
            Some(a) => format!(
                "{name}: group AUROC {} → {}, its calibration slope {} → {}, whole AUROC {} → {}",
                figure(self.before.group_auroc, 3),
                figure(a.group_auroc, 3),
                figure(self.before.group_slope, 2),
                figure(a.group_slope, 2),
                figure(self.before.whole_auroc, 3),
                figure(a.whole_auroc, 3)
            ),
            None => format!("{name}: not tried (too few of the group's events of either outcome)"),
        };
        format!(
            "  remedies for {} {} ({} events, {} positive, {:.3} below beyond its interval): {}; {}",
            self.attribute,
            self.value,
            self.events,
            self.positives,
            self.gap,
            change("per-group calibration", &self.per_group_calibration),
            change("group interactions", &self.interactions)
        )
    }
}

/// What the remedies need of a trained model.
#[derive(Debug)]
pub struct Trained<'a> {
    pub candidate: &'a Candidate,
    pub names: &'a [&'a str],
    pub threads: Option<usize>,
    pub fit: &'a [&'a Example],
    pub tune: &'a [&'a Example],
    pub test: &'a [&'a Example],
    /// The learner's raw scores of the calibration slice and of the test events.
    pub tune_raw: &'a [f64],
    pub test_raw: &'a [f64],
    /// The calibrated probabilities of the test events.
    pub test_p: &'a [f64],
}

fn effect(p: &[f64], test: &[&Example], member: impl Fn(&Example) -> bool) -> Effect {
    let y: Vec<bool> = test.iter().map(|e| e.label).collect();
    let (gp, gy): (Vec<f64>, Vec<bool>) =
        test.iter().zip(p).filter(|(e, _)| member(e)).map(|(e, p)| (*p, e.label)).unzip();
    let slope = calibration(&gp, &gy).1;
    Effect {
        group_auroc: metrics::auroc(&gp, &gy).map(|a| a.value),
        group_slope: slope.is_finite().then_some(slope),
        whole_auroc: metrics::auroc(p, &y).map(|a| a.value),
    }
}

fn both_outcomes(labels: impl Iterator<Item = bool>) -> bool {
    let (mut positives, mut negatives) = (0, 0);
    for l in labels {
        if l { positives += 1 } else { negatives += 1 }
    }
    positives >= 2 && negatives >= 2
}

/// Tries the remedies on each subgroup of `groups` that falls more than the allowed gap below the
/// whole with its interval's upper bound below the whole as well.
pub fn remedies(t: &Trained<'_>, groups: &[Subgroup]) -> Result<Vec<Remedy>, ModelError> {
    let y: Vec<bool> = t.test.iter().map(|e| e.label).collect();
    let Some(whole) = metrics::auroc(t.test_p, &y).map(|a| a.value) else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for g in groups {
        let (Some(auroc), Some((_, high))) = (g.auroc, g.auroc_interval) else { continue };
        let gap = whole - auroc;
        if !beyond_gap(gap) || high >= whole {
            continue;
        }
        let Some((_, value_of)) = ATTRIBUTES.iter().find(|(a, _)| *a == g.attribute) else { continue };
        let member = |e: &Example| value_of(e) == g.value;
        out.push(Remedy {
            attribute: g.attribute.clone(),
            value: g.value.clone(),
            events: g.events,
            positives: g.positives,
            gap,
            before: effect(t.test_p, t.test, member),
            per_group_calibration: per_group_calibration(t, &member),
            interactions: interactions(t, &member)?,
        })
    }
    Ok(out)
}

fn per_group_calibration(t: &Trained<'_>, member: &dyn Fn(&Example) -> bool) -> Option<Effect> {
    let (raw, labels): (Vec<f64>, Vec<bool>) =
        t.tune.iter().zip(t.tune_raw).filter(|(e, _)| member(e)).map(|(e, r)| (*r, e.label)).unzip();
    if !both_outcomes(labels.iter().copied()) {
        return None;
    }
    let scaling = Platt::fit(&raw, &labels);
    let p: Vec<f64> = t
        .test
        .iter()
        .zip(t.test_raw.iter().zip(t.test_p))
        .map(|(e, (raw, p))| if member(e) { scaling.apply(*raw) } else { *p })
        .collect();
    Some(effect(&p, t.test, member))
}

fn interactions(t: &Trained<'_>, member: &dyn Fn(&Example) -> bool) -> Result<Option<Effect>, ModelError> {
    if !both_outcomes(t.fit.iter().filter(|e| member(e)).map(|e| e.label))
        || !both_outcomes(t.tune.iter().map(|e| e.label))
    {
        return Ok(None);
    }
    let widened = |part: &[&Example]| -> Vec<Vec<f64>> {
        part.iter()
            .map(|e| {
                let inside = if member(e) { 1.0 } else { 0.0 };
                let mut row = e.features.clone();
                row.push(inside);
                row.extend(e.features.iter().map(|x| x * inside));
                row
            })
            .collect()
    };
    let labels = |part: &[&Example]| part.iter().map(|e| e.label).collect::<Vec<_>>();
    let extra: Vec<String> =
        std::iter::once("in_group".to_owned()).chain(t.names.iter().map(|n| format!("in_group_x_{n}"))).collect();
    let names: Vec<&str> = t.names.iter().copied().chain(extra.iter().map(String::as_str)).collect();
    let learner = t.candidate.fit(&names, &widened(t.fit), &labels(t.fit), t.threads)?;
    let scaling = Platt::fit(&learner.raw(&widened(t.tune)), &labels(t.tune));
    let p: Vec<f64> = learner.raw(&widened(t.test)).into_iter().map(|r| scaling.apply(r)).collect();
    Ok(Some(effect(&p, t.test, member)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Algorithm;
    use crate::tuning::{Spec, Start};
    use chrono::{TimeZone, Utc};
    use rand::{Rng, SeedableRng};

    /// Risk rises with x0, except in the oldest, where it falls with it.
    fn examples(n: usize, seed: u64) -> Vec<Example> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|i| {
                let old = i % 4 == 0;
                let x: f64 = rng.random_range(-1.0..1.0);
                let z = -1.5 + if old { -2.0 * x } else { 2.0 * x };
                Example {
                    patient_id: i as i64,
                    patient_fhir_id: format!("p{i}"),
                    encounter_fhir_id: None,
                    index_time: Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).single().expect("t"),
                    label: rng.random::<f64>() < crate::calibration::sigmoid(z),
                    features: vec![x, if old { 85.0 } else { 55.0 }],
                    lace: None,
                    hospital: None,
                    charlson: 0,
                    sex: Some("female".into()),
                    age: Some(if old { 85.0 } else { 55.0 }),
                    race: None,
                }
            })
            .collect()
    }

    #[test]
    fn a_group_read_the_wrong_way_round_is_remedied_by_interactions() {
        let (fit, tune, test) = (examples(3000, 1), examples(1500, 2), examples(2000, 3));
        let (fit, tune, test): (Vec<&Example>, Vec<&Example>, Vec<&Example>) =
            (fit.iter().collect(), tune.iter().collect(), test.iter().collect());
        let candidate = Candidate {
            algorithm: Algorithm::LogisticRegression,
            spec: Spec::Logistic { alpha: 1.0, start: Start::Plain },
        };
        let names = ["x", "age"];
        let rows = |part: &[&Example]| part.iter().map(|e| e.features.clone()).collect::<Vec<_>>();
        let labels = |part: &[&Example]| part.iter().map(|e| e.label).collect::<Vec<_>>();
        let learner = candidate.fit(&names, &rows(&fit), &labels(&fit), Some(1)).expect("fit");
        let (tune_raw, test_raw) = (learner.raw(&rows(&tune)), learner.raw(&rows(&test)));
        let scaling = Platt::fit(&tune_raw, &labels(&tune));
        let p: Vec<f64> = test_raw.iter().map(|r| scaling.apply(*r)).collect();
        let groups = subgroups(&test, &p, 0.3);
        let trained = Trained {
            candidate: &candidate,
            names: &names,
            threads: Some(1),
            fit: &fit,
            tune: &tune,
            test: &test,
            tune_raw: &tune_raw,
            test_raw: &test_raw,
            test_p: &p,
        };
        let found = remedies(&trained, &groups).expect("remedies");
        assert_eq!(found.len(), 1, "{found:?}");
        let oldest = &found[0];
        assert_eq!((oldest.attribute.as_str(), oldest.value.as_str()), ("age", "80+"));
        let before = oldest.before.group_auroc.expect("before");
        let after = oldest.interactions.as_ref().and_then(|e| e.group_auroc).expect("after");
        assert!(before < 0.4 && after > 0.7, "{oldest:?}");
        assert!(oldest.per_group_calibration.is_some());
        assert!(oldest.to_text().contains("group interactions: group AUROC"), "{}", oldest.to_text());
    }
}
