//! The alerts JSON API: `GET /api/alerts` (the caller's visible alerts, filtered and paged),
//! `GET /api/alerts/{id}` (with its history and feedback),
//! `POST /api/alerts/{id}/acknowledge|snooze|dismiss|reopen`, and `POST /api/alerts/{id}/feedback`
//! (useful or not, and why).
//! Reads are audited like any patient read (each patient listed gets a row); actions are decided
//! on the alert's patient (`Action::Respond`) and audited in their transaction. `GET/PUT
//! /api/me/notifications`: the signed-in person's notification preferences.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, put, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::alerts::feedback::Source;
use crate::alerts::preferences::Preferences;
use crate::http::access::Guard;
use crate::http::surface::{Api, Rejection};

pub mod own_preferences;
pub mod remembered;
pub mod view;

use view::{Asked, Event, Filters, Order, Refused, Row, alert_id};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list).service(one).service(feedback).service(act).service(my_preferences).service(set_my_preferences);
}

const PAGE: i64 = 100;

/// How long a snooze may last.
#[derive(Debug, Clone, Copy)]
pub struct SnoozeBound(pub chrono::Duration);

fn shown(row: &Row) -> Value {
    json!({
        "id": row.id,
        "patient": row.patient,
        "target": row.target,
        "unit": row.unit,
        "tier": row.tier,
        "status": row.status,
        "probability": row.probability,
        "previous_probability": row.previous,
        "model": row.model_version,
        "factors": row.factors,
        "opened_at": row.opened_at,
        "updated_at": row.updated_at,
        "snoozed_until": row.snoozed_until,
        "ended_at": row.ended_at,
    })
}

fn event(e: &Event) -> Value {
    json!({ "at": e.at, "by": e.actor, "action": e.action, "from": e.from_status, "to": e.to_status,
            "tier": e.tier, "probability": e.probability, "reason": e.reason, "note": e.note })
}

#[derive(Debug, Deserialize)]
struct Query {
    unit: Option<String>,
    target: Option<String>,
    tier: Option<String>,
    /// A state, `live` (not ended; the default) or `all`.
    status: Option<String>,
    /// The last id of the previous page.
    cursor: Option<String>,
}

#[get("/api/alerts")]
async fn list(guard: Guard<Api>, query: web::Query<Query>) -> Result<HttpResponse, Rejection<Api>> {
    let q = query.into_inner();
    let filters = Filters::parse(q.unit, q.target, q.tier, q.status).map_err(Rejection::bad_request)?;
    let cursor = match q.cursor.as_deref() {
        None => None,
        Some(raw) => {
            Some(raw.parse::<i64>().map_err(|_| Rejection::bad_request(format!("cursor {raw:?} is not one we gave")))?)
        }
    };
    let page = view::list(&guard, filters, Order::Newest, cursor, 0, PAGE, false).await?;
    let next = page.more.then(|| page.rows.last().map(|r| r.id.to_string())).flatten();
    let alerts: Vec<Value> = page.rows.iter().map(shown).collect();
    Ok(HttpResponse::Ok().json(json!({ "alerts": alerts, "next_cursor": next })))
}

#[get("/api/alerts/{id}")]
async fn one(guard: Guard<Api>, id: web::Path<String>) -> Result<HttpResponse, Rejection<Api>> {
    let detail = view::detail(&guard, alert_id(&id)?).await?;
    let mut body = shown(&detail.row);
    body["history"] = Value::Array(detail.history.iter().map(event).collect());
    body["feedback"] = json!(detail.feedback);
    Ok(HttpResponse::Ok().json(body))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedbackBody {
    outcome: String,
    reason: Option<String>,
    note: Option<String>,
}

/// Registered before the actions' route, which would otherwise take "feedback" for an action.
#[post("/api/alerts/{id}/feedback")]
async fn feedback(
    guard: Guard<Api>,
    id: web::Path<String>,
    body: web::Json<FeedbackBody>,
) -> Result<HttpResponse, Rejection<Api>> {
    let id = alert_id(&id)?;
    let b = body.into_inner();
    match view::give_feedback(&guard, id, &b.outcome, b.reason.as_deref(), b.note.as_deref(), Source::Api).await? {
        Ok(given) => Ok(HttpResponse::Created().json(given)),
        Err(refused) => Err(refusal(refused)),
    }
}

fn refusal(refused: Refused) -> Rejection<Api> {
    match refused {
        Refused::Unknown(message) => Rejection::not_found(message),
        Refused::Invalid(message) => Rejection::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message),
        Refused::Conflict(message) => Rejection::new(StatusCode::CONFLICT, "conflict", message),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActBody {
    reason: Option<String>,
    note: Option<String>,
    until: Option<DateTime<Utc>>,
}

#[post("/api/alerts/{id}/{action}")]
async fn act(
    guard: Guard<Api>,
    path: web::Path<(String, String)>,
    body: Option<web::Json<ActBody>>,
    bound: web::Data<SnoozeBound>,
) -> Result<HttpResponse, Rejection<Api>> {
    let (id, action) = path.into_inner();
    let id = alert_id(&id)?;
    let asked = body.map(web::Json::into_inner).map(|b| Asked { reason: b.reason, note: b.note, until: b.until });
    match view::respond(&guard, id, &action, asked.unwrap_or_default(), bound.0).await? {
        Ok(row) => Ok(HttpResponse::Ok().json(shown(&row))),
        Err(refused) => Err(refusal(refused)),
    }
}

#[get("/api/me/notifications")]
async fn my_preferences(guard: Guard<Api>) -> Result<HttpResponse, Rejection<Api>> {
    Ok(HttpResponse::Ok().json(own_preferences::my_preferences(&guard).await?))
}

#[put("/api/me/notifications")]
async fn set_my_preferences(guard: Guard<Api>, body: web::Json<Preferences>) -> Result<HttpResponse, Rejection<Api>> {
    let stored = own_preferences::set_my_preferences(&guard, body.into_inner())
        .await?
        .map_err(|message| Rejection::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message))?;
    Ok(HttpResponse::Ok().json(stored))
}
