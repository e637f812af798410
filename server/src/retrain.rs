//! Training a model and registering it, as `vigil train` does by hand and `vigil worker` does on
//! `monitoring.retrain_cron`: examples from the store (optionally as Vigil would have seen them at
//! an earlier time, and only from a window's start), the events clinicians said should not count
//! left out, trained, registered as a candidate and, for a scheduled retraining, put in shadow so
//! that the promotion guard can judge it on the outcomes of its shadow period.

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use diesel::PgConnection;
use vigil_scoring::model::Algorithm;
use vigil_scoring::report::Report;
use vigil_scoring::training::{self, Target, default_cutoff};
use vigil_scoring::{exclusions, load, registry};
use vigil_store::audit::{self, AuditEvent, Outcome};

/// What to train.
#[derive(Debug, Clone)]
pub struct Plan {
    pub target: Target,
    /// The learners tried (the better by cross-validation is kept).
    pub learners: Vec<Algorithm>,
    /// Train as Vigil would have at this time: later data is not used. None: all the data.
    pub as_of: Option<DateTime<Utc>>,
    /// Only examples from this time on (the newest window). None: the default lookback.
    pub since: Option<DateTime<Utc>>,
    /// Or only examples of the newest this many days of the data.
    pub window_days: Option<i64>,
    /// Outcomes known before this time train; events from it on test. None: the newest data less
    /// 30 days less `test_days`.
    pub until: Option<DateTime<Utc>>,
    pub test_days: i64,
    pub threshold: Option<f64>,
    pub max_examples: u64,
    /// Put the new model in shadow beside the active one.
    pub shadow: bool,
}

impl Plan {
    /// The scheduled retraining of `target`: the newest `window_days` of matured outcomes.
    pub fn scheduled(target: Target, window_days: i64) -> Self {
        Self {
            target,
            learners: vec![Algorithm::LogisticRegression, Algorithm::GradientBoosting],
            as_of: None,
            since: None,
            window_days: Some(window_days),
            until: None,
            test_days: 90,
            threshold: None,
            max_examples: 250_000,
            shadow: true,
        }
    }
}

/// A registered model and how it was made.
#[derive(Debug)]
pub struct Trained {
    pub version: String,
    pub report: Report,
    pub examples: usize,
    pub data_end: DateTime<Utc>,
    pub cutoff: DateTime<Utc>,
}

pub fn default_threshold(target: Target) -> f64 {
    match target {
        Target::Readmission => 0.30,
        Target::Admission => 0.05,
    }
}

pub fn train(conn: &mut PgConnection, plan: &Plan, by: &str, progress: impl FnMut(usize)) -> anyhow::Result<Trained> {
    let newest = load::data_end(conn)?.context("there is no clinical data: load some with `vigil ingest` first")?;
    let data_end = plan.as_of.map_or(newest, |t| t.min(newest));
    let cutoff = plan.until.unwrap_or_else(|| default_cutoff(data_end, plan.test_days));
    let threshold = plan.threshold.unwrap_or(default_threshold(plan.target));
    anyhow::ensure!(threshold > 0.0 && threshold < 1.0, "the threshold must be between 0 and 1");
    // A window is relative to the data, not the clock: data loaded late is still learned from.
    let since = plan.since.or(plan.window_days.map(|days| data_end - Duration::days(days)));
    let earliest = load::admission_from(cutoff, load::data_start(conn)?);
    let from = since.map_or(earliest, |s| s.max(earliest));
    let examples = load::examples(conn, plan.target, from, data_end, plan.max_examples, progress)?;
    let examples: Vec<_> = examples.into_iter().filter(|e| since.is_none_or(|s| e.index_time >= s)).collect();
    // Clinicians' answers that say an event should not count take it out of training and evaluation.
    let (examples, excluded) = exclusions::apply(examples, &exclusions::load(conn, plan.target)?);
    let settings =
        training::Settings { target: plan.target, learners: plan.learners.clone(), cutoff, threshold, threads: None };
    let (model, mut report) = training::train(&examples, &settings)?;
    report.excluded_by_feedback = excluded;
    registry::ensure_baselines(conn, by)?;
    let version = registry::register(conn, &model, &report, by)?;
    if plan.shadow {
        registry::shadow(conn, &version, by)?;
    }
    let event = AuditEvent {
        resource_type: Some("Model".into()),
        resource_id: Some(version.clone()),
        detail: Some(format!("{} examples, {excluded} excluded on clinicians' answers", examples.len())),
        ..AuditEvent::new(
            by.to_owned(),
            if by.starts_with("service:") { "system" } else { "operator" },
            "train",
            Outcome::Success,
        )
    };
    audit::append(conn, &event).context("writing the audit row")?;
    Ok(Trained { version, report, examples: examples.len(), data_end, cutoff })
}
