//! A patient's page: who they are, each target's current risk from the active model with its
//! factors and the clinical scores beside it, the trend of the last 90 days against the tier
//! thresholds, their alerts, recent encounters and latest results. One guarded read of the
//! patient's chart (one audit row), like `GET /api/patients/{id}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use askama::Template;
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde_json::Value;
use vigil_scoring::features::LABS;
use vigil_store::models::Patient;
use vigil_store::schema::{alerts, encounters, models, observations, patients, scores};

use super::chart::{self, Trend};
use super::format::{Identity, elapsed, instant, percent};
use super::{Chrome, check_form, html};
use crate::alerts::Tier;
use crate::alerts::rules::{self, Rule, RuleError};
use crate::auth::policy::{Action, DenyReason};
use crate::http::access::{Access, AuthState, Guard};
use crate::http::surface::{Portal, Rejection};

const READ_CHART: Access = Access { action: Action::Read, resource_type: "Patient", data_category: "chart" };
const DAYS: i64 = 90;

type ScoreRow = (String, String, String, String, DateTime<Utc>, Option<f64>, Option<i32>, Value);
type EncounterRow =
    (Option<String>, String, Option<DateTime<Utc>>, Option<DateTime<Utc>>, Option<String>, Option<String>);
type ResultRow = (Option<String>, Option<DateTime<Utc>>, Option<f64>, Option<String>);
type AlertRow = (i64, String, String, String, DateTime<Utc>, Option<DateTime<Utc>>);

/// Everything the page shows, read in one guarded transaction.
struct Chart {
    patient: Patient,
    units: Vec<String>,
    /// (target, algorithm, model status, version, scored at, probability, points, factors), newest first.
    scores: Vec<ScoreRow>,
    rules: Vec<Rule>,
    encounters: Vec<EncounterRow>,
    results: Vec<ResultRow>,
    alerts: Vec<AlertRow>,
}

fn load(conn: &mut PgConnection, patient: i64, units: Vec<String>) -> QueryResult<Option<Chart>> {
    let Some(found) = patients::table.find(patient).select(Patient::as_select()).first(conn).optional()? else {
        return Ok(None);
    };
    let scores = scores::table
        .inner_join(models::table)
        .filter(scores::patient_id.eq(patient).and(scores::created_at.gt(Utc::now() - Duration::days(DAYS))))
        // The active models, and the baselines (scored beside them, in shadow).
        .filter(models::status.eq_any(["active", "shadow"]))
        .order((scores::created_at.desc(), scores::id.desc()))
        .select((
            models::target,
            models::algorithm,
            models::status,
            models::version,
            scores::created_at,
            scores::probability,
            scores::points,
            scores::factors,
        ))
        .limit(2000)
        .load(conn)?;
    let rules = rules::list(conn).map_err(|e| match e {
        RuleError::Database(e) => e,
        other => crate::http::fault::unexpected(&other),
    })?;
    let encounters = encounters::table
        .filter(encounters::patient_id.eq(patient))
        .order(encounters::period_start.desc().nulls_last())
        .select((
            encounters::class_code,
            encounters::status,
            encounters::period_start,
            encounters::period_end,
            encounters::unit,
            encounters::discharge_disposition_code,
        ))
        .limit(5)
        .load(conn)?;
    let codes: Vec<&str> = LABS.iter().map(|l| l.loinc).collect();
    let results = observations::table
        .filter(observations::patient_id.eq(patient))
        .filter(observations::loinc_code.eq_any(codes).and(observations::value_quantity.is_not_null()))
        .filter(observations::status.eq_any(["final", "amended", "corrected", "preliminary"]))
        .distinct_on(observations::loinc_code)
        .order((observations::loinc_code, observations::effective_at.desc().nulls_last()))
        .select((
            observations::loinc_code,
            observations::effective_at,
            observations::value_quantity,
            observations::value_unit,
        ))
        .load(conn)?;
    let alerts = alerts::table
        .filter(alerts::patient_id.eq(patient))
        .order(alerts::id.desc())
        .select((alerts::id, alerts::target, alerts::tier, alerts::status, alerts::opened_at, alerts::ended_at))
        .limit(20)
        .load(conn)?;
    Ok(Some(Chart { patient: found, units, scores, rules, encounters, results, alerts }))
}

struct Current {
    target: &'static str,
    probability: String,
    model: String,
    scored: String,
    factors: Vec<String>,
    /// The clinical scores at the latest discharge, for readmission.
    baselines: Vec<String>,
    trend: Trend,
    title: String,
    table: Vec<(String, String)>,
}

struct Line {
    cells: Vec<String>,
}

struct Alerted {
    id: i64,
    target: String,
    tier: String,
    status: String,
    opened: String,
}

#[derive(Template)]
#[template(path = "patient.html")]
struct Page {
    chrome: Chrome,
    who: String,
    details: String,
    units: String,
    deceased: bool,
    targets: Vec<Current>,
    alerts: Vec<Alerted>,
    encounters: Vec<Line>,
    results: Vec<Line>,
    width: f64,
    height: f64,
}

/// The thresholds of the rule that holds for `target` in any of `units` (a unit's own first).
fn thresholds(rules: &[Rule], target: &str, units: &[String]) -> Vec<(Tier, f64)> {
    crate::alerts::rules::holding(rules, target, units)
        .map(|r| Tier::ALL.into_iter().filter_map(|t| Some((t, r.thresholds.get(t)?))).collect())
        .unwrap_or_default()
}

fn current(chart: &Chart, target: &'static str, now: DateTime<Utc>) -> Current {
    let learned: Vec<&ScoreRow> =
        chart.scores.iter().filter(|s| s.0 == target && s.2 == "active" && s.5.is_some()).collect();
    let latest = learned.first();
    let baselines = if target == "readmission" {
        ["lace", "hospital", "charlson"]
            .iter()
            .filter_map(|name| {
                let s = chart.scores.iter().find(|s| s.1 == *name)?;
                Some(format!("{} {}", name.to_uppercase(), s.6?))
            })
            .collect()
    } else {
        Vec::new()
    };
    let series: Vec<(DateTime<Utc>, f64)> = learned.iter().filter_map(|s| Some((s.4, s.5?))).collect();
    let limits = thresholds(&chart.rules, target, &chart.units);
    Current {
        target,
        probability: latest.and_then(|s| s.5).map(percent).unwrap_or_else(|| "not scored".into()),
        model: latest.map(|s| s.3.clone()).unwrap_or_default(),
        scored: latest.map(|s| format!("{} ago", elapsed(s.4, now))).unwrap_or_default(),
        factors: latest
            .and_then(|s| s.7.as_array())
            .map(|all| all.iter().filter_map(|f| f["text"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default(),
        baselines,
        trend: chart::trend(&series, &limits, now, DAYS),
        title: format!("Risk of {target} over the last {DAYS} days, with the alert thresholds"),
        table: series.iter().take(30).map(|(at, p)| (instant(*at), percent(*p))).collect(),
    }
}

fn day(at: Option<DateTime<Utc>>) -> String {
    at.map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_else(|| "—".into())
}

#[derive(Template)]
#[template(path = "break_glass_offer.html")]
struct Offer<'a> {
    chrome: Chrome,
    patient: &'a str,
    hours: u64,
    reason: &'a str,
    problem: Option<String>,
}

fn offer(
    guard: &Guard<Portal>,
    patient: &str,
    lasts: std::time::Duration,
    reason: &str,
    problem: Option<String>,
) -> Result<HttpResponse, Rejection<Portal>> {
    // Offered: 403, the record is not open yet; offered again with the reason's problem: 422.
    let status = if problem.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::FORBIDDEN };
    let offered = Offer { chrome: Chrome::of(guard)?, patient, hours: lasts.as_secs() / 3600, reason, problem };
    html(status, &offered)
}

#[get("/patients/{id}")]
pub async fn show(
    guard: Guard<Portal>,
    id: web::Path<String>,
    state: web::Data<AuthState>,
) -> Result<HttpResponse, Rejection<Portal>> {
    let chrome = Chrome::of(&guard)?;
    let id = id.into_inner();
    let chart = match guard.patient(READ_CHART, id.clone(), |conn, p| load(conn, p.id, p.units.clone())).await {
        Ok(chart) => chart,
        // A clinician outside the patient's units is offered break-glass (the refusal is audited).
        Err(refused) if refused.message == DenyReason::OutsideUnits.message() => {
            return offer(&guard, &id, state.break_glass, "", None);
        }
        Err(refused) => return Err(refused),
    };
    let now = Utc::now();
    let identity = Identity::of_patient(&chart.patient);
    let results = LABS
        .iter()
        .map(|lab| {
            let found = chart.results.iter().find(|r| r.0.as_deref() == Some(lab.loinc));
            let value = found.and_then(|r| r.2).map_or_else(
                || "—".to_owned(),
                |v| format!("{v:.1} {}", found.and_then(|r| r.3.clone()).unwrap_or_else(|| lab.unit.to_owned())),
            );
            Line { cells: vec![lab.label.to_owned(), value, day(found.and_then(|r| r.1))] }
        })
        .collect();
    let encounters = chart
        .encounters
        .iter()
        .map(|e| Line {
            cells: vec![
                e.0.clone().unwrap_or_default(),
                e.1.clone(),
                day(e.2),
                day(e.3),
                e.4.clone().unwrap_or_default(),
                e.5.clone().unwrap_or_default(),
            ],
        })
        .collect();
    let body = Page {
        who: identity.who(),
        details: identity.details(now.date_naive()),
        units: chart.units.join(", "),
        deceased: chart.patient.deceased,
        targets: vec![current(&chart, "admission", now), current(&chart, "readmission", now)],
        alerts: chart
            .alerts
            .iter()
            .map(|a| Alerted {
                id: a.0,
                target: a.1.clone(),
                tier: a.2.clone(),
                status: a.3.clone(),
                opened: instant(a.4),
            })
            .collect(),
        encounters,
        results,
        width: chart::WIDTH,
        height: chart::HEIGHT,
        chrome,
    };
    html(StatusCode::OK, &body)
}

#[derive(Debug, serde::Deserialize)]
pub struct BreakGlassForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    reason: String,
}

#[post("/patients/{id}/break-glass")]
pub async fn break_glass(
    guard: Guard<Portal>,
    id: web::Path<String>,
    form: web::Form<BreakGlassForm>,
    state: web::Data<AuthState>,
) -> Result<HttpResponse, Rejection<Portal>> {
    let form = form.into_inner();
    check_form(&guard, &form.csrf_token)?;
    let id = id.into_inner();
    match crate::http::access::break_glass::grant(&guard, id.clone(), &form.reason, state.break_glass).await? {
        Ok(_) => {
            let to = format!("/patients/{}", url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>());
            Ok(HttpResponse::SeeOther().insert_header((actix_web::http::header::LOCATION, to)).finish())
        }
        Err(problem) => offer(&guard, &id, state.break_glass, &form.reason, Some(problem)),
    }
}
