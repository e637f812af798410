//! The promotion guard: whether a challenger (a model in shadow) should replace the champion (the
//! active model of its target), judged on the matured outcomes of the index events both scored
//! during the shadow period. Every check must pass:
//!
//! - discrimination: the paired AUROC difference (challenger − champion, DeLong) has its 95 %
//!   interval's lower bound at or above `min_auroc_gain`: the challenger is better beyond what
//!   chance explains, so an equal model does not churn the one clinicians know;
//! - calibration: the challenger's calibration slope is within 0.8–1.2;
//! - fairness: no subgroup (sex, age band) with at least `subgroup_min_events` events and non-events
//!   has an AUROC more than 0.05 below the whole's where the challenger also serves it worse than the
//!   champion does. A gap the champion has as well (within a strong predictor's band, such as the
//!   oldest patients, discrimination is lower for any model) is reported, not held against a
//!   challenger that narrows it;
//! - burden: the challenger's alerts per 100 patient-days at its threshold are within
//!   `burden_band` (a share) of the champion's at its threshold;
//! - enough evidence: at least `min_events` events and non-events matured.
//!
//! This module is pure; `store` gathers the events and records decisions.

pub mod store;

use serde::{Deserialize, Serialize};

use crate::metrics;
use crate::report::{CALIBRATION_SLOPE_BAND, beyond_gap};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    pub min_auroc_gain: f64,
    pub slope: (f64, f64),
    pub subgroup_min_events: usize,
    pub burden_band: f64,
    pub min_events: usize,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            min_auroc_gain: 0.0,
            slope: CALIBRATION_SLOPE_BAND,
            subgroup_min_events: 100,
            burden_band: 0.25,
            min_events: 20,
        }
    }
}

/// One index event both models scored, with its outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Paired {
    pub challenger: f64,
    /// The champion's probability (or a formula's points).
    pub champion: f64,
    pub outcome: bool,
    /// The subgroups the patient is in, as (attribute, value).
    pub groups: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubgroupAuroc {
    pub attribute: String,
    pub value: String,
    pub events: usize,
    pub positives: usize,
    pub auroc: Option<f64>,
}

/// The figures a decision rests on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub events: usize,
    pub positives: usize,
    pub challenger_auroc: Option<f64>,
    pub champion_auroc: Option<f64>,
    pub difference: Option<(f64, f64, f64)>,
    pub calibration_slope: Option<f64>,
    pub calibration_intercept: Option<f64>,
    pub subgroups: Vec<SubgroupAuroc>,
    /// Share of events alerted on at each model's threshold.
    pub challenger_alert_share: f64,
    pub champion_alert_share: Option<f64>,
    pub checks: Vec<Check>,
}

impl Comparison {
    pub fn passes(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.passed)
    }
}

/// Judges `events`; the champion's threshold applies only when it gives probabilities.
pub fn compare(
    events: &[Paired],
    challenger_threshold: f64,
    champion_threshold: Option<f64>,
    rules: Rules,
) -> Comparison {
    let y: Vec<bool> = events.iter().map(|e| e.outcome).collect();
    let challenger: Vec<f64> = events.iter().map(|e| e.challenger).collect();
    let champion: Vec<f64> = events.iter().map(|e| e.champion).collect();
    let positives = y.iter().filter(|y| **y).count();
    let whole = metrics::auroc(&challenger, &y).map(|a| a.value);
    let difference = metrics::auroc_difference(&challenger, &champion, &y).map(|a| (a.value, a.low, a.high));
    let enough = positives >= rules.min_events && events.len() - positives >= rules.min_events;
    let (intercept, slope) = if enough { metrics::calibration(&challenger, &y) } else { (f64::NAN, f64::NAN) };
    let subgroups = subgroups(events, &challenger, &y);
    let champion_groups = self::subgroups(events, &champion, &y);
    let share = |values: &[f64], threshold: f64| {
        values.iter().filter(|v| **v >= threshold).count() as f64 / values.len().max(1) as f64
    };
    let challenger_share = share(&challenger, challenger_threshold);
    let champion_share = champion_threshold.map(|t| share(&champion, t));

    let mut checks = vec![Check {
        name: "evidence".into(),
        passed: enough,
        detail: format!(
            "{} events matured in the shadow period, {positives} positive; {} of each needed",
            events.len(),
            rules.min_events
        ),
    }];
    checks.push(match difference {
        Some((d, low, high)) => Check {
            name: "discrimination".into(),
            passed: low >= rules.min_auroc_gain,
            detail: format!(
                "AUROC {:.3} against {:.3}: difference {d:+.3} [{low:+.3}, {high:+.3}], lower bound needed ≥ {:+.3}",
                whole.unwrap_or(f64::NAN),
                metrics::auroc(&champion, &y).map_or(f64::NAN, |a| a.value),
                rules.min_auroc_gain
            ),
        },
        None => Check { name: "discrimination".into(), passed: false, detail: "both outcomes are needed".into() },
    });
    checks.push(Check {
        name: "calibration".into(),
        passed: slope >= rules.slope.0 && slope <= rules.slope.1,
        detail: format!("slope {slope:.2} (needed {}–{}), intercept {intercept:+.2}", rules.slope.0, rules.slope.1),
    });
    let below: Vec<(bool, String)> = subgroups
        .iter()
        .filter(|g| g.positives >= rules.subgroup_min_events && g.events - g.positives >= rules.subgroup_min_events)
        .filter_map(|g| Some((g, whole? - g.auroc?)))
        .filter(|(_, gap)| beyond_gap(*gap))
        .map(|(g, gap)| {
            let theirs =
                champion_groups.iter().find(|c| c.attribute == g.attribute && c.value == g.value).and_then(|c| c.auroc);
            (g, gap, theirs)
        })
        .map(|(g, gap, theirs)| {
            let worse = theirs.is_none_or(|t| g.auroc.is_some_and(|a| a < t));
            (
                worse,
                format!(
                    "{} {} {gap:.3} below the whole (AUROC {:.3}, the champion's {})",
                    g.attribute,
                    g.value,
                    g.auroc.unwrap_or(f64::NAN),
                    theirs.map_or_else(|| "–".into(), |t| format!("{t:.3}"))
                ),
            )
        })
        .collect();
    let held: Vec<&String> = below.iter().filter(|(worse, _)| *worse).map(|(_, text)| text).collect();
    checks.push(Check {
        name: "subgroups".into(),
        passed: held.is_empty(),
        detail: if below.is_empty() {
            format!("none more than 0.05 below the whole (of those with {} events)", rules.subgroup_min_events)
        } else if held.is_empty() {
            let named: Vec<&str> = below.iter().map(|(_, t)| t.as_str()).collect();
            format!("{}; the champion serves them no better", named.join("; "))
        } else {
            held.iter().map(|t| t.as_str()).collect::<Vec<_>>().join("; ")
        },
    });
    if let Some(champion_share) = champion_share {
        let ratio = if champion_share > 0.0 { challenger_share / champion_share } else { f64::INFINITY };
        let within = (ratio - 1.0).abs() <= rules.burden_band || (challenger_share == 0.0 && champion_share == 0.0);
        checks.push(Check {
            name: "burden".into(),
            passed: within,
            detail: format!(
                "alerts on {:.1} % of events against {:.1} % (ratio {ratio:.2}, allowed ±{:.0} %)",
                100.0 * challenger_share,
                100.0 * champion_share,
                100.0 * rules.burden_band
            ),
        });
    }
    Comparison {
        events: events.len(),
        positives,
        challenger_auroc: whole,
        champion_auroc: metrics::auroc(&champion, &y).map(|a| a.value),
        difference,
        calibration_slope: slope.is_finite().then_some(slope),
        calibration_intercept: intercept.is_finite().then_some(intercept),
        subgroups,
        challenger_alert_share: challenger_share,
        champion_alert_share: champion_share,
        checks,
    }
}

fn subgroups(events: &[Paired], p: &[f64], y: &[bool]) -> Vec<SubgroupAuroc> {
    let mut keys: Vec<(String, String)> = events.iter().flat_map(|e| e.groups.iter().cloned()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|(attribute, value)| {
            let members: Vec<usize> = (0..events.len())
                .filter(|&i| events[i].groups.iter().any(|(a, v)| *a == attribute && *v == value))
                .collect();
            let sp: Vec<f64> = members.iter().map(|&i| p[i]).collect();
            let sy: Vec<bool> = members.iter().map(|&i| y[i]).collect();
            SubgroupAuroc {
                attribute,
                value,
                events: sy.len(),
                positives: sy.iter().filter(|y| **y).count(),
                auroc: metrics::auroc(&sp, &sy).map(|a| a.value),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Events where the challenger sees a risk factor the champion misses (`edge` of it).
    fn events(edge: f64) -> Vec<Paired> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        (0..4000)
            .map(|i| {
                let seen: f64 = rng.random_range(-1.0..1.0);
                let hidden: f64 = rng.random_range(-1.0..1.0);
                let truth = metrics::sigmoid(-2.5 + 1.2 * seen + 1.5 * hidden);
                let champion = metrics::sigmoid(-2.5 + 1.2 * seen + 1.5 * (1.0 - edge) * hidden);
                // A model refitted on other data: its own small errors.
                let refit: f64 = rng.random_range(-0.2..0.2);
                let challenger = metrics::sigmoid(-2.5 + 1.2 * seen + 1.5 * hidden + refit);
                Paired {
                    challenger,
                    champion,
                    outcome: rng.random_bool(truth),
                    groups: vec![("sex".into(), if i % 2 == 0 { "female" } else { "male" }.into())],
                }
            })
            .collect()
    }

    #[test]
    fn a_challenger_that_sees_more_passes_every_check() {
        let c = compare(&events(1.0), 0.15, Some(0.15), Rules { burden_band: 1.0, ..Rules::default() });
        assert!(c.passes(), "{:#?}", c.checks);
        assert!(c.difference.expect("difference").1 > 0.0);
    }

    #[test]
    fn an_equal_challenger_keeps_the_champion() {
        let c = compare(&events(0.0), 0.15, Some(0.15), Rules::default());
        assert!(!c.passes());
        let failed: Vec<&str> = c.checks.iter().filter(|c| !c.passed).map(|c| c.name.as_str()).collect();
        assert_eq!(failed, ["discrimination"], "{:#?}", c.checks);
    }

    #[test]
    fn too_few_events_or_too_many_alerts_fail_their_checks() {
        let few: Vec<Paired> = events(1.0).into_iter().take(60).collect();
        let c = compare(&few, 0.3, Some(0.3), Rules::default());
        assert!(c.checks.iter().any(|c| c.name == "evidence" && !c.passed));
        let c = compare(&events(1.0), 0.05, Some(0.15), Rules::default());
        assert!(c.checks.iter().any(|c| c.name == "burden" && !c.passed), "{:#?}", c.checks);
    }
}
