//! A model card: what a predictive decision-support intervention's users are owed about it (the
//! source attributes of ONC's HTI-1 rule): intended use and what it is not for, the population and
//! period of its training data, its inputs, its validation with subgroups, its known limitations,
//! and who trained and who approved it. Built from the registry and the training report, never
//! typed by hand, so it cannot drift from the model. `GET /api/models/{v}/card` and the portal's
//! `/models/{v}/card` show the same card.

use serde::Serialize;
use vigil_scoring::features::{FEATURE_VERSION, names};
use vigil_scoring::training::{Report, Target};

use super::view::Detail;

/// Calibration slopes outside this band are a limitation (and, in issue 15, a promotion refusal).
pub use vigil_scoring::report::CALIBRATION_SLOPE_BAND as SLOPE_BAND;

#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub name: String,
    pub events: usize,
    pub positives: usize,
    /// AUROC with its 95 % interval.
    pub auroc: Option<(f64, f64, f64)>,
    pub calibration_slope: Option<f64>,
    pub calibration_intercept: Option<f64>,
    pub brier: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Person {
    pub by: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Card {
    pub version: String,
    pub target: String,
    pub algorithm: String,
    pub status: String,
    pub intended_use: &'static str,
    pub not_for: &'static str,
    pub training_data: String,
    pub inputs: Vec<&'static str>,
    pub validation: Vec<Figure>,
    pub subgroups: Vec<Figure>,
    pub limitations: Vec<String>,
    pub trained: Person,
    /// Who made it the active model, when it is or was.
    pub approved: Option<Person>,
}

fn uses(target: Option<Target>) -> (&'static str, &'static str) {
    match target {
        Some(Target::Admission) => (
            "Estimates each adult patient's probability of an unplanned hospital admission in the next 30 days, so that \
             ward and community teams can see whom to review first and plan capacity. It supports, and does not \
             replace, clinical judgement.",
            "Diagnosis or triage of an acute presentation; deciding treatment; withholding care from patients with a \
             low score; children; populations unlike the one it was trained on without a local evaluation.",
        ),
        Some(Target::Readmission) => (
            "Estimates each adult inpatient's probability of an unplanned readmission within 30 days of discharge, so \
             that discharge planners and care managers can direct follow-up to those most at risk. It supports, and \
             does not replace, clinical judgement.",
            "Deciding whether to discharge; denying or rationing care; planned readmissions (chemotherapy, staged \
             surgery); children; populations unlike the one it was trained on without a local evaluation.",
        ),
        None => ("A published clinical score registered as a baseline.", "See the score's own publication."),
    }
}

fn figure(name: &str, e: &vigil_scoring::training::Evaluation) -> Figure {
    Figure {
        name: name.to_owned(),
        events: e.events,
        positives: e.positives,
        auroc: e.auroc,
        calibration_slope: Some(e.calibration_slope),
        calibration_intercept: Some(e.calibration_intercept),
        brier: Some(e.brier),
    }
}

/// What the report shows the model falls short in, in words.
fn limitations(report: &Report) -> Vec<String> {
    let mut out = vec![
        "Trained and evaluated on this hospital's own records only: its figures hold for patients like these.".into(),
    ];
    let slope = report.model.calibration_slope;
    if slope < SLOPE_BAND.0 || slope > SLOPE_BAND.1 {
        out.push(format!(
            "Calibration slope {slope:.2} on the test period, outside {:.1}–{:.1}: its probabilities are {}.",
            SLOPE_BAND.0,
            SLOPE_BAND.1,
            if slope < SLOPE_BAND.0 { "too extreme (high ones too high, low ones too low)" } else { "too timid" }
        ));
    }
    for (group, gap) in report.subgroups_below() {
        out.push(format!(
            "AUROC in {} {} ({} events) is {gap:.3} below the whole.",
            group.attribute, group.value, group.events
        ));
    }
    for (name, difference) in [("LACE", report.over_lace), ("HOSPITAL", report.over_hospital)] {
        if let Some((_, low, high)) = difference
            && low <= 0.0
        {
            out.push(format!(
                "Not shown to discriminate better than {name} on the same events (paired interval {low:+.3} to {high:+.3})."
            ));
        }
    }
    if report.model.positives < 50 {
        out.push(format!(
            "Few outcome events in the test period ({}): its intervals are wide.",
            report.model.positives
        ));
    }
    out
}

/// The card of the model in `detail`.
pub fn card(detail: &Detail) -> Card {
    let entry = &detail.entry;
    let target = Target::parse(&entry.target);
    let (intended_use, not_for) = uses(if detail.report.is_some() { target } else { None });
    let approved = detail
        .history
        .iter()
        .rev()
        .find(|h| h.to_status == "active")
        .map(|h| Person { by: h.changed_by.clone(), at: h.changed_at });
    let (training_data, validation, subgroups, limitations) = match &detail.report {
        None => (
            "None: a published formula.".to_owned(),
            Vec::new(),
            Vec::new(),
            vec!["Its figures are those of the trained models' reports, on the same events.".to_owned()],
        ),
        Some(report) => {
            let mut validation = vec![figure("this model", &report.model)];
            validation.extend(report.lace.as_ref().map(|e| figure("LACE", e)));
            validation.extend(report.hospital.as_ref().map(|e| figure("HOSPITAL", e)));
            let subgroups = report
                .subgroups
                .iter()
                .map(|g| Figure {
                    name: format!("{} {}", g.attribute, g.value),
                    events: g.events,
                    positives: g.positives,
                    auroc: g.auroc.map(|a| (a, a, a)),
                    calibration_slope: None,
                    calibration_intercept: None,
                    brier: None,
                })
                .collect();
            let data = format!(
                "{} index events ({} with the outcome) of the patients in this hospital's records, with outcomes known \
                 between {} and {}; evaluated on {} later events{}.",
                report.training_examples,
                report.training_positives,
                report.training_from.map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_else(|| "…".into()),
                report.cutoff.format("%Y-%m-%d"),
                report.model.events,
                if report.excluded_by_feedback > 0 {
                    format!("; {} events clinicians said should not count were left out", report.excluded_by_feedback)
                } else {
                    String::new()
                }
            );
            (data, validation, subgroups, limitations(report))
        }
    };
    Card {
        version: entry.version.clone(),
        target: entry.target.clone(),
        algorithm: entry.algorithm.clone(),
        status: entry.status.clone(),
        intended_use,
        not_for,
        training_data,
        inputs: if entry.feature_version == FEATURE_VERSION && detail.report.is_some() { names() } else { Vec::new() },
        validation,
        subgroups,
        limitations,
        trained: Person { by: entry.created_by.clone(), at: entry.created_at },
        approved,
    }
}
