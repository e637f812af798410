//! The model pages, for informatics: the registry (`/models`), a model's report (`/models/{v}`:
//! discrimination beside LACE and HOSPITAL, calibration plot and deciles, subgroups with the ones
//! below the whole marked, a threshold table, the status history) with the changes it offers
//! (made in `model_change`). Reads go through the code of `/api/models`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use askama::Template;
use serde::Deserialize;
use vigil_scoring::registry::Entry;
use vigil_scoring::training::{Evaluation, Report, SUBGROUP_AUROC_GAP};

use super::chart::{self, Calibration};
use super::format::{instant, percent};
use super::{Chrome, html};
use crate::http::access::Guard;
use crate::http::models::view::{self, Change, Detail};
use crate::http::surface::{Portal, Rejection};

struct Listed {
    version: String,
    target: String,
    algorithm: String,
    status: String,
    window: String,
    examples: String,
    auroc: String,
    created: String,
}

#[derive(Template)]
#[template(path = "models.html")]
struct ListPage {
    chrome: Chrome,
    models: Vec<Listed>,
}

fn day(at: Option<chrono::DateTime<chrono::Utc>>) -> String {
    at.map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_else(|| "…".into())
}

fn listed(e: &Entry) -> Listed {
    Listed {
        version: e.version.clone(),
        target: e.target.clone(),
        algorithm: e.algorithm.replace('_', " "),
        status: e.status.clone(),
        window: if e.trained_until.is_some() {
            format!("{} to {}", day(e.trained_from), day(e.trained_until))
        } else {
            "a published formula".into()
        },
        examples: if e.training_examples > 0 {
            format!("{} ({} events)", e.training_examples, e.training_positives)
        } else {
            String::new()
        },
        auroc: e.test_auroc().map(|a| format!("{a:.3}")).unwrap_or_default(),
        created: format!("{} by {}", instant(e.created_at), e.created_by),
    }
}

#[get("/models")]
pub async fn registry(guard: Guard<Portal>) -> Result<HttpResponse, Rejection<Portal>> {
    let chrome = Chrome::of(&guard)?;
    let models = view::list(&guard).await?.iter().map(listed).collect();
    html(StatusCode::OK, &ListPage { chrome, models })
}

struct Discrimination {
    name: &'static str,
    events: usize,
    positives: usize,
    auroc: String,
    auprc: String,
    brier: String,
    intercept: String,
    slope: String,
}

fn discrimination(name: &'static str, e: &Evaluation) -> Discrimination {
    Discrimination {
        name,
        events: e.events,
        positives: e.positives,
        auroc: e.auroc.map(|(a, low, high)| format!("{a:.3} [{low:.3}, {high:.3}]")).unwrap_or_else(|| "n/a".into()),
        auprc: e.auprc.map(|a| format!("{a:.3}")).unwrap_or_else(|| "n/a".into()),
        brier: format!("{:.4}", e.brier),
        intercept: format!("{:+.2}", e.calibration_intercept),
        slope: format!("{:.2}", e.calibration_slope),
    }
}

struct Difference {
    over: &'static str,
    value: String,
    verdict: &'static str,
}

struct Decile {
    number: usize,
    events: usize,
    predicted: String,
    observed: String,
}

struct Group {
    attribute: String,
    value: String,
    events: usize,
    positives: usize,
    auroc: String,
    sensitivity: String,
    ppv: String,
    per_100: String,
    /// How far below the whole's AUROC, when more than the fairness check allows.
    below: Option<String>,
}

struct ThresholdLine {
    threshold: String,
    share: String,
    per_100: String,
    ppv: String,
    sensitivity: String,
    the_models: bool,
}

struct Shown {
    excluded: usize,
    hyperparameters: String,
    window: String,
    test_events: usize,
    discrimination: Vec<Discrimination>,
    differences: Vec<Difference>,
    calibration: Calibration,
    deciles: Vec<Decile>,
    groups: Vec<Group>,
    thresholds: Vec<ThresholdLine>,
}

fn shown(report: &Report) -> Shown {
    let mut discrimination_rows = vec![discrimination("This model", &report.model)];
    discrimination_rows.extend(report.lace.as_ref().map(|e| discrimination("LACE", e)));
    discrimination_rows.extend(report.hospital.as_ref().map(|e| discrimination("HOSPITAL", e)));
    let differences = [("LACE", report.over_lace), ("HOSPITAL", report.over_hospital)]
        .into_iter()
        .filter_map(|(over, d)| {
            d.map(|(value, low, high)| Difference {
                over,
                value: format!("{value:+.3} [{low:+.3}, {high:+.3}]"),
                verdict: if low > 0.0 {
                    "better"
                } else if high < 0.0 {
                    "worse"
                } else {
                    "not distinguishable"
                },
            })
        })
        .collect();
    let below = report.subgroups_below();
    let groups = report
        .subgroups
        .iter()
        .map(|g| Group {
            attribute: g.attribute.clone(),
            value: g.value.clone(),
            events: g.events,
            positives: g.positives,
            auroc: g.auroc.map(|a| format!("{a:.3}")).unwrap_or_else(|| "n/a".into()),
            sensitivity: format!("{:.3}", g.sensitivity),
            ppv: format!("{:.3}", g.ppv),
            per_100: format!("{:.2}", g.alerts_per_100_patient_days),
            below: below.iter().find(|(b, _)| std::ptr::eq(*b, g)).map(|(_, gap)| format!("{gap:.3} below")),
        })
        .collect();
    let mut thresholds: Vec<ThresholdLine> = report
        .thresholds
        .iter()
        .map(|t| ThresholdLine {
            threshold: percent(t.threshold),
            share: percent(t.share_alerted),
            per_100: format!("{:.2}", t.alerts_per_100_patient_days),
            ppv: format!("{:.3}", t.ppv),
            sensitivity: format!("{:.3}", t.sensitivity),
            the_models: (t.threshold - report.threshold).abs() < 1e-12,
        })
        .collect();
    if thresholds.is_empty() {
        // Reports from before the table was kept: the model's own threshold only.
        let (_, sensitivity, ppv, per_100, _) = report.at_threshold;
        thresholds.push(ThresholdLine {
            threshold: percent(report.threshold),
            share: String::new(),
            per_100: format!("{per_100:.2}"),
            ppv: format!("{ppv:.3}"),
            sensitivity: format!("{sensitivity:.3}"),
            the_models: true,
        });
    }
    Shown {
        excluded: report.excluded_by_feedback,
        hyperparameters: report.hyperparameters.clone(),
        window: format!("{} to {}", day(report.training_from), day(Some(report.cutoff))),
        test_events: report.model.events,
        discrimination: discrimination_rows,
        differences,
        calibration: chart::calibration(&report.deciles),
        deciles: report
            .deciles
            .iter()
            .enumerate()
            .map(|(i, (events, predicted, observed))| Decile {
                number: i + 1,
                events: *events,
                predicted: percent(*predicted),
                observed: percent(*observed),
            })
            .collect(),
        groups,
        thresholds,
    }
}

struct StatusStep {
    at: String,
    by: String,
    change: String,
    note: String,
}

struct Offer {
    action: &'static str,
    label: &'static str,
}

pub(super) fn label(change: Change) -> &'static str {
    match change {
        Change::Activate => "Activate",
        Change::Shadow => "Score in shadow",
        Change::Retire => "Retire",
        Change::Rollback => "Roll back",
    }
}

#[derive(Template)]
#[template(path = "model.html")]
struct ModelPage {
    chrome: Chrome,
    model: Listed,
    threshold: String,
    feature_version: i32,
    active: Option<String>,
    done: Option<&'static str>,
    report: Option<Shown>,
    gap: f64,
    size: f64,
    history: Vec<StatusStep>,
    offers: Vec<Offer>,
    feedback: Vec<Judged>,
}

/// Clinicians' answers about the model's alerts in one unit at one tier.
struct Judged {
    unit: String,
    tier: String,
    answers: i64,
    useful: i64,
    rate: String,
}

#[derive(Debug, Deserialize)]
pub struct Done {
    done: Option<String>,
}

#[get("/models/{version}")]
pub async fn model(
    guard: Guard<Portal>,
    version: web::Path<String>,
    query: web::Query<Done>,
) -> Result<HttpResponse, Rejection<Portal>> {
    let chrome = Chrome::of(&guard)?;
    let Detail { entry, report, history, active, feedback } = view::detail(&guard, version.into_inner()).await?;
    let page = ModelPage {
        chrome,
        threshold: percent(entry.threshold),
        feature_version: entry.feature_version,
        active,
        done: query.done.as_deref().and_then(Change::parse).map(|c| match c {
            Change::Activate => "Activated: this is the active model of its target.",
            Change::Shadow => "This model now scores in shadow.",
            Change::Retire => "Retired: this model scores no more.",
            Change::Rollback => "Rolled back: this model is active again.",
        }),
        report: report.as_ref().map(shown),
        gap: SUBGROUP_AUROC_GAP,
        size: chart::SQUARE,
        history: history
            .into_iter()
            .map(|h| StatusStep {
                at: instant(h.changed_at),
                by: h.changed_by,
                change: h.from_status.map_or_else(|| h.to_status.clone(), |from| format!("{from} → {}", h.to_status)),
                note: h.note.unwrap_or_default(),
            })
            .collect(),
        offers: Change::available(&entry).into_iter().map(|c| Offer { action: c.as_str(), label: label(c) }).collect(),
        feedback: feedback
            .into_iter()
            .map(|f| Judged {
                rate: percent(f.rate()),
                unit: f.unit.unwrap_or_else(|| "no unit".into()),
                tier: f.tier,
                answers: f.answers,
                useful: f.useful,
            })
            .collect(),
        model: listed(&entry),
    };
    html(StatusCode::OK, &page)
}

#[derive(Template)]
#[template(path = "model_card.html")]
struct CardPage {
    chrome: Chrome,
    card: crate::http::models::card::Card,
}

/// The model card (registered before the changes' confirmation pages, whose path it would match).
#[get("/models/{version}/card")]
pub async fn model_card(guard: Guard<Portal>, version: web::Path<String>) -> Result<HttpResponse, Rejection<Portal>> {
    let chrome = Chrome::of(&guard)?;
    let detail = view::detail(&guard, version.into_inner()).await?;
    html(StatusCode::OK, &CardPage { chrome, card: crate::http::models::card::card(&detail) })
}
