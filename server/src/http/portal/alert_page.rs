//! An alert's page, where an email's link leads: who the patient is, the risk and why, the
//! actions the alert's state allows, and its history. Actions post forms that go through the same
//! code as `POST /api/alerts/{id}/{action}`; a refused one shows the page again saying why. Feedback
//! (useful or not, and why) goes through the code of `POST /api/alerts/{id}/feedback`.

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpResponse, get, post, web};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

use super::format::{Identity, change, elapsed, instant, percent};
use super::{Chrome, check_form, html};
use crate::alerts::episode::Status;
use crate::alerts::feedback::Source;
use crate::alerts::lifecycle::{self, DismissReason};
use crate::http::access::Guard;
use crate::http::alerts::SnoozeBound;
use crate::http::alerts::view::{self, Asked, Refused, Row, alert_id};
use crate::http::surface::{Portal, Rejection};

struct Shown {
    id: i64,
    patient: String,
    who: String,
    details: String,
    flagged: bool,
    target: String,
    model: String,
    tier: String,
    probability: String,
    change: String,
    unit: String,
    status: String,
    opened: String,
    open_for: String,
}

struct Step {
    at: String,
    by: String,
    action: String,
    status: String,
    tier: String,
    probability: String,
    reason: String,
}

struct Reason {
    value: &'static str,
    label: &'static str,
}

struct Answer {
    at: String,
    by: String,
    outcome: &'static str,
    reason: String,
}

#[derive(Template)]
#[template(path = "alert.html")]
struct Page {
    chrome: Chrome,
    alert: Shown,
    problem: Option<String>,
    factors: Vec<String>,
    actions: Vec<&'static str>,
    snooze_hours: Vec<i64>,
    dismiss_reasons: Vec<Reason>,
    history: Vec<Step>,
    feedback: Vec<Answer>,
}

async fn page(
    guard: &Guard<Portal>,
    id: i64,
    problem: Option<String>,
    status: StatusCode,
    bound: chrono::Duration,
) -> Result<HttpResponse, Rejection<Portal>> {
    let chrome = Chrome::of(guard)?;
    let view::Detail { row, history: events, feedback } = view::detail(guard, id).await?;
    let now = Utc::now();
    let factors = row
        .factors
        .as_array()
        .map(|all| all.iter().filter_map(|f| f["text"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let actions = Status::parse(&row.status).map(lifecycle::available).unwrap_or_default();
    let snooze_hours = [1, 4, 8, 24, 48, 72].into_iter().filter(|h| *h <= bound.num_hours().max(1)).collect();
    let history = events
        .into_iter()
        .map(|e| Step {
            at: instant(e.at),
            by: e.actor,
            action: e.action,
            status: e.from_status.map_or_else(|| e.to_status.clone(), |from| format!("{from} → {}", e.to_status)),
            tier: e.tier,
            probability: percent(e.probability),
            reason: [e.reason, e.note].into_iter().flatten().collect::<Vec<_>>().join(": "),
        })
        .collect();
    let body = Page {
        chrome,
        alert: shown(&row, now),
        problem,
        factors,
        actions,
        snooze_hours,
        dismiss_reasons: DismissReason::ALL
            .into_iter()
            .map(|r| Reason { value: r.as_str(), label: r.label() })
            .collect(),
        history,
        feedback: feedback
            .into_iter()
            .map(|f| Answer {
                at: instant(f.given_at),
                by: f.given_by,
                outcome: if f.outcome == "useful" || f.outcome == "accepted" { "Useful" } else { "Not useful" },
                reason: [
                    f.reason.as_deref().and_then(DismissReason::parse).map(DismissReason::label).map(str::to_owned),
                    f.note,
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": "),
            })
            .collect(),
    };
    html(status, &body)
}

fn shown(row: &Row, now: chrono::DateTime<Utc>) -> Shown {
    Shown {
        id: row.id,
        patient: row.patient.clone(),
        who: Identity::of_alert(row).who(),
        details: Identity::of_alert(row).details(now.date_naive()),
        flagged: row.flagged,
        target: row.target.clone(),
        model: row.model_version.clone(),
        tier: row.tier.clone(),
        probability: percent(row.probability),
        change: change(row.probability, row.previous),
        unit: row.unit.clone().unwrap_or_default(),
        status: row
            .snoozed_until
            .map_or_else(|| row.status.clone(), |until| format!("{} until {}", row.status, instant(until))),
        opened: instant(row.opened_at),
        open_for: elapsed(row.opened_at, now),
    }
}

#[get("/alerts/{id}")]
pub async fn alert(
    guard: Guard<Portal>,
    id: web::Path<String>,
    bound: web::Data<SnoozeBound>,
) -> Result<HttpResponse, Rejection<Portal>> {
    let id = alert_id(&id)?;
    page(&guard, id, None, StatusCode::OK, bound.0).await
}

#[derive(Debug, Deserialize)]
pub struct ActForm {
    #[serde(default)]
    csrf_token: String,
    reason: Option<String>,
    note: Option<String>,
    hours: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct FeedbackForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    outcome: String,
    reason: Option<String>,
    note: Option<String>,
}

/// Registered before the actions' route, which would otherwise take "feedback" for an action.
#[post("/alerts/{id}/feedback")]
pub async fn give_feedback(
    guard: Guard<Portal>,
    id: web::Path<String>,
    form: web::Form<FeedbackForm>,
    bound: web::Data<SnoozeBound>,
) -> Result<HttpResponse, Rejection<Portal>> {
    let form = form.into_inner();
    check_form(&guard, &form.csrf_token)?;
    let id = alert_id(&id)?;
    let outcome =
        view::give_feedback(&guard, id, &form.outcome, form.reason.as_deref(), form.note.as_deref(), Source::Portal)
            .await?;
    match outcome {
        Ok(_) => Ok(HttpResponse::SeeOther().insert_header((LOCATION, format!("/alerts/{id}#feedback"))).finish()),
        Err(refused) => refused_page(&guard, id, refused, bound.0).await,
    }
}

/// The page again, saying why the action was not taken.
async fn refused_page(
    guard: &Guard<Portal>,
    id: i64,
    refused: Refused,
    bound: chrono::Duration,
) -> Result<HttpResponse, Rejection<Portal>> {
    match refused {
        Refused::Unknown(message) => Err(Rejection::not_found(message)),
        Refused::Invalid(message) => page(guard, id, Some(message), StatusCode::UNPROCESSABLE_ENTITY, bound).await,
        Refused::Conflict(message) => page(guard, id, Some(message), StatusCode::CONFLICT, bound).await,
    }
}

#[post("/alerts/{id}/{action}")]
pub async fn act(
    guard: Guard<Portal>,
    path: web::Path<(String, String)>,
    form: web::Form<ActForm>,
    bound: web::Data<SnoozeBound>,
) -> Result<HttpResponse, Rejection<Portal>> {
    let form = form.into_inner();
    check_form(&guard, &form.csrf_token)?;
    let (id, action) = path.into_inner();
    let id = alert_id(&id)?;
    let until = match form.hours.as_deref().map(str::parse::<i64>) {
        None => None,
        Some(Ok(hours)) if hours > 0 => Some(Utc::now() + chrono::Duration::hours(hours)),
        Some(_) => {
            let problem = Some("snooze for a whole number of hours".to_owned());
            return page(&guard, id, problem, StatusCode::UNPROCESSABLE_ENTITY, bound.0).await;
        }
    };
    let blank = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let asked = Asked { reason: blank(form.reason), note: blank(form.note), until };
    match view::respond(&guard, id, &action, asked, bound.0).await? {
        Ok(_) => Ok(HttpResponse::SeeOther().insert_header((LOCATION, format!("/alerts/{id}"))).finish()),
        Err(refused) => refused_page(&guard, id, refused, bound.0).await,
    }
}
