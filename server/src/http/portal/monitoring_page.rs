//! A model's monitoring page (`/models/{v}/monitoring`), for informatics: the weekly series drawn
//! (matured AUROC beside the estimate from the probabilities and the validation figure; the
//! calibration slope; drift of the predictions), the newest week's drift per feature as bars, every
//! week as a table, what monitoring found, and the promotion decisions. One unit's series with
//! `?unit=`. Read through the code of `/api/models/{v}/monitoring`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use askama::Template;
use vigil_scoring::drift::{MODERATE, SIGNIFICANT};
use vigil_scoring::monitoring::Figures;

use super::chart::{self, Bar, Series};
use super::format::instant;
use super::{Chrome, html};
use crate::http::access::Guard;
use crate::http::models::UnitQuery;
use crate::http::models::view::{self, Monitoring};
use crate::http::surface::{Portal, Rejection};

fn num(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{v:.digits$}"))
}

/// One week as the table shows it.
struct Row {
    week: String,
    scores: usize,
    matured: usize,
    events: usize,
    auroc: String,
    estimated: String,
    slope: String,
    brier: String,
    ppv: String,
    sensitivity: String,
    burden: String,
    useful: String,
    psi: String,
    largest: String,
}

fn row(week: chrono::NaiveDate, f: &Figures) -> Row {
    Row {
        week: week.format("%Y-%m-%d").to_string(),
        scores: f.scores,
        matured: f.matured,
        events: f.events,
        auroc: f.auroc.map_or_else(|| "–".to_owned(), |(a, low, high)| format!("{a:.3} [{low:.3}, {high:.3}]")),
        estimated: num(f.estimated.and_then(|e| e.auroc), 3),
        slope: num(f.calibration_slope, 2),
        brier: num(f.brier, 4),
        ppv: num(f.ppv, 2),
        sensitivity: num(f.sensitivity, 2),
        burden: num(f.alerts_per_100_patient_days, 2),
        useful: f.useful_rate.map_or_else(|| "–".to_owned(), |r| format!("{:.0} %", 100.0 * r)),
        psi: num(f.psi_prediction, 3),
        largest: f.psi_features.first().map_or_else(|| "–".to_owned(), |(n, p)| format!("{n} {p:.2}")),
    }
}

struct Found {
    week: String,
    kind: String,
    detail: String,
}

struct Decided {
    at: String,
    challenger: String,
    champion: String,
    decision: String,
    by: String,
    reason: String,
    checks: Vec<(bool, String, String)>,
}

#[derive(Template)]
#[template(path = "monitoring.html")]
struct Page {
    chrome: Chrome,
    version: String,
    status: String,
    unit: Option<String>,
    units: Vec<String>,
    validation: String,
    width: f64,
    height: f64,
    charts: Vec<(&'static str, &'static str, Series)>,
    newest: String,
    bars: Vec<Bar>,
    bar_height: f64,
    bar_left: f64,
    moderate_x: f64,
    significant_x: f64,
    bars_height: f64,
    rows: Vec<Row>,
    findings: Vec<Found>,
    decisions: Vec<Decided>,
}

/// Features shown as bars: the largest drifts.
const BARS: usize = 12;

#[get("/models/{version}/monitoring")]
pub async fn monitoring(
    guard: Guard<Portal>,
    version: web::Path<String>,
    query: web::Query<UnitQuery>,
) -> Result<HttpResponse, Rejection<Portal>> {
    let chrome = Chrome::of(&guard)?;
    let unit = query.into_inner().unit.filter(|u| !u.is_empty());
    let Monitoring { entry, unit, weeks, units, findings, decisions } =
        view::monitoring(&guard, version.into_inner(), unit).await?;
    let dates: Vec<chrono::NaiveDate> = weeks.iter().map(|w| w.week).collect();
    let each = |f: fn(&Figures) -> Option<f64>| weeks.iter().map(|w| f(&w.figures)).collect::<Vec<_>>();
    let validation = entry.test_auroc();
    let mut charts = vec![
        (
            "discrimination",
            "Matured AUROC each week, beside the estimate from the probabilities before outcomes matured, and the AUROC at validation",
            chart::series(
                &dates,
                vec![
                    ("matured", "matured", each(|f| f.auroc.map(|a| a.0))),
                    ("estimated", "estimated", each(|f| f.estimated.and_then(|e| e.auroc))),
                ],
                (0.4, 1.0),
                &validation.map(|v| vec![(v, format!("validation {v:.3}"))]).unwrap_or_default(),
            ),
        ),
        (
            "calibration-slope",
            "Calibration slope of the matured scores each week (1 is calibrated; 0.8–1.2 is the promotion bound)",
            chart::series(
                &dates,
                vec![("matured", "slope", each(|f| f.calibration_slope))],
                (0.0, 2.0),
                &[(1.0, "calibrated".into()), (0.8, "0.8".into()), (1.2, "1.2".into())],
            ),
        ),
    ];
    if weeks.iter().any(|w| w.figures.psi_prediction.is_some()) {
        let top = weeks.iter().filter_map(|w| w.figures.psi_prediction).fold(0.5, f64::max);
        charts.push((
            "drift",
            "Drift of the predictions each week (PSI against the training window): below 0.1 stable, above 0.25 significant",
            chart::series(
                &dates,
                vec![("matured", "PSI", each(|f| f.psi_prediction))],
                (0.0, top),
                &[(MODERATE, "moderate".into()), (SIGNIFICANT, "significant".into())],
            ),
        ));
    }
    let newest = weeks.last();
    let psi: Vec<(String, f64)> =
        newest.map(|w| w.figures.psi_features.iter().take(BARS).cloned().collect()).unwrap_or_default();
    let (bars, moderate_x, significant_x, bars_height) = chart::drift_bars(&psi, (MODERATE, SIGNIFICANT));
    let page = Page {
        chrome,
        version: entry.version.clone(),
        status: entry.status.clone(),
        unit,
        units,
        validation: validation.map_or_else(|| "none (a formula)".to_owned(), |v| format!("{v:.3}")),
        width: chart::WIDTH,
        height: chart::HEIGHT,
        charts,
        newest: newest.map_or_else(String::new, |w| w.week.format("%Y-%m-%d").to_string()),
        bars,
        bar_height: chart::BAR_HEIGHT,
        bar_left: chart::BAR_LEFT,
        moderate_x,
        significant_x,
        bars_height,
        rows: weeks.iter().rev().map(|w| row(w.week, &w.figures)).collect(),
        findings: findings
            .into_iter()
            .map(|f| Found { week: f.week.format("%Y-%m-%d").to_string(), kind: f.kind, detail: f.detail })
            .collect(),
        decisions: decisions
            .into_iter()
            .map(|d| Decided {
                at: instant(d.decided_at),
                challenger: d.challenger,
                champion: d.champion.unwrap_or_default(),
                decision: if d.automatic { format!("{} (automatic)", d.decision) } else { d.decision },
                by: d.decided_by,
                reason: d.reason.unwrap_or_default(),
                checks: serde_json::from_value::<vigil_scoring::promotion::Comparison>(d.figures)
                    .map(|c| c.checks.into_iter().map(|k| (k.passed, k.name, k.detail)).collect())
                    .unwrap_or_default(),
            })
            .collect(),
    };
    html(StatusCode::OK, &page)
}
