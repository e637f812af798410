//! The alerts JSON API: `GET /api/alerts` (the caller's visible alerts, filtered and paged),
//! `GET /api/alerts/{id}` (with its history), and `POST /api/alerts/{id}/acknowledge|snooze|dismiss|reopen`.
//! Reads are audited like any patient read (each patient listed gets a row); actions are decided
//! on the alert's patient (`Action::Respond`) and audited in their transaction. `GET/PUT
//! /api/me/notifications`: the signed-in person's notification preferences.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, put, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, Text};
use serde::Deserialize;
use serde_json::{Value, json};
use vigil_store::schema::alert_events;

use crate::alerts::Tier;
use crate::alerts::episode::Status;
use crate::alerts::lifecycle::{self, Act};
use crate::alerts::preferences::{self, Preferences};
use crate::auth::policy::{Action, Visibility};
use crate::http::access::{Access, Found, Guard};
use crate::http::surface::{Api, Rejection};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list).service(one).service(act).service(my_preferences).service(set_my_preferences);
}

const READ: Access = Access { action: Action::Read, resource_type: "Alert", data_category: "alerts" };
const RESPOND: Access = Access { action: Action::Respond, resource_type: "Alert", data_category: "alerts" };
const PAGE: i64 = 100;

/// How long a snooze may last.
#[derive(Debug, Clone, Copy)]
pub struct SnoozeBound(pub chrono::Duration);

#[derive(Debug, QueryableByName)]
struct Row {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    patient_id: i64,
    #[diesel(sql_type = Text)]
    patient: String,
    #[diesel(sql_type = Text)]
    target: String,
    #[diesel(sql_type = Nullable<Text>)]
    unit: Option<String>,
    #[diesel(sql_type = Text)]
    tier: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = diesel::sql_types::Double)]
    probability: f64,
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    factors: Value,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    opened_at: DateTime<Utc>,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    updated_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Timestamptz>)]
    snoozed_until: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Timestamptz>)]
    ended_at: Option<DateTime<Utc>>,
    /// Seen only through the caller's break-glass grant.
    #[diesel(sql_type = diesel::sql_types::Bool)]
    flagged: bool,
}

fn shown(row: &Row) -> Value {
    json!({
        "id": row.id,
        "patient": row.patient,
        "target": row.target,
        "unit": row.unit,
        "tier": row.tier,
        "status": row.status,
        "probability": row.probability,
        "factors": row.factors,
        "opened_at": row.opened_at,
        "updated_at": row.updated_at,
        "snoozed_until": row.snoozed_until,
        "ended_at": row.ended_at,
    })
}

const COLUMNS: &str = "a.id, a.patient_id, p.fhir_id AS patient, a.target, a.unit, a.tier, a.status, a.probability,
    a.factors, a.opened_at, a.updated_at, a.snoozed_until, a.ended_at";

#[derive(Debug, Deserialize)]
struct Filters {
    unit: Option<String>,
    target: Option<String>,
    tier: Option<String>,
    /// A state, `live` (not ended; the default) or `all`.
    status: Option<String>,
    /// The last id of the previous page.
    cursor: Option<String>,
}

#[get("/api/alerts")]
async fn list(guard: Guard<Api>, filters: web::Query<Filters>) -> Result<HttpResponse, Rejection<Api>> {
    let f = filters.into_inner();
    if let Some(target) = &f.target
        && !matches!(target.as_str(), "admission" | "readmission")
    {
        return Err(Rejection::bad_request(format!("target {target:?}: expected admission or readmission")));
    }
    if let Some(tier) = &f.tier
        && Tier::parse(tier).is_none()
    {
        return Err(Rejection::bad_request(format!("tier {tier:?}: expected info, warning or critical")));
    }
    let status = f.status.unwrap_or_else(|| "live".to_owned());
    if status != "live" && status != "all" && Status::parse(&status).is_none() {
        return Err(Rejection::bad_request(format!(
            "status {status:?}: expected live, all, open, acknowledged, snoozed, dismissed or resolved"
        )));
    }
    let cursor = match f.cursor.as_deref() {
        None => i64::MAX,
        Some(raw) => {
            raw.parse::<i64>().map_err(|_| Rejection::bad_request(format!("cursor {raw:?} is not one we gave")))?
        }
    };
    let (unit, target, tier) = (f.unit, f.target, f.tier);
    let page = guard
        .search(READ, move |conn, visibility| {
            let (units, viewer) = match visibility {
                Visibility::All => (None, -1),
                Visibility::Units { units, user_id } => (Some(units.clone()), *user_id),
            };
            let rows: Vec<Row> = diesel::sql_query(format!(
                "SELECT {COLUMNS},
                        ($1::TEXT[] IS NOT NULL AND NOT (pu.units && $1)) AS flagged
                   FROM alerts a JOIN patients p ON p.id = a.patient_id
                        CROSS JOIN LATERAL (SELECT patient_units(a.patient_id) AS units) pu
                  WHERE a.id < $2
                    AND ($3::TEXT IS NULL OR a.unit = $3)
                    AND ($4::TEXT IS NULL OR a.target = $4)
                    AND ($5::TEXT IS NULL OR a.tier = $5)
                    AND CASE $6 WHEN 'all' THEN true WHEN 'live' THEN a.ended_at IS NULL ELSE a.status = $6 END
                    AND ($1::TEXT[] IS NULL OR pu.units && $1
                         OR EXISTS (SELECT 1 FROM break_glass_grants g
                                     WHERE g.user_id = $7 AND g.patient_id = a.patient_id AND g.expires_at > now()))
                  ORDER BY a.id DESC LIMIT $8"
            ))
            .bind::<Nullable<Array<Text>>, _>(units)
            .bind::<BigInt, _>(cursor)
            .bind::<Nullable<Text>, _>(unit)
            .bind::<Nullable<Text>, _>(target)
            .bind::<Nullable<Text>, _>(tier)
            .bind::<Text, _>(status)
            .bind::<BigInt, _>(viewer)
            .bind::<BigInt, _>(PAGE + 1)
            .load(conn)?;
            let patients = rows.iter().take(PAGE as usize).map(|r| (r.patient_id, r.flagged)).collect();
            Ok(Found { value: rows, patients })
        })
        .await?;
    let next = (page.len() as i64 > PAGE).then(|| page[PAGE as usize - 1].id.to_string());
    let alerts: Vec<Value> = page.iter().take(PAGE as usize).map(shown).collect();
    Ok(HttpResponse::Ok().json(json!({ "alerts": alerts, "next_cursor": next })))
}

#[derive(Debug, Queryable)]
struct Event {
    at: DateTime<Utc>,
    actor: String,
    action: String,
    from_status: Option<String>,
    to_status: String,
    tier: String,
    probability: f64,
    reason: Option<String>,
    note: Option<String>,
}

fn alert_row(conn: &mut PgConnection, id: i64) -> QueryResult<Option<Row>> {
    diesel::sql_query(format!(
        "SELECT {COLUMNS}, false AS flagged FROM alerts a JOIN patients p ON p.id = a.patient_id WHERE a.id = $1"
    ))
    .bind::<BigInt, _>(id)
    .get_result(conn)
    .optional()
}

fn history(conn: &mut PgConnection, id: i64) -> QueryResult<Vec<Value>> {
    let events: Vec<Event> = alert_events::table
        .filter(alert_events::alert_id.eq(id))
        .order(alert_events::id)
        .select((
            alert_events::at,
            alert_events::actor,
            alert_events::action,
            alert_events::from_status,
            alert_events::to_status,
            alert_events::tier,
            alert_events::probability,
            alert_events::reason,
            alert_events::note,
        ))
        .load(conn)?;
    Ok(events
        .into_iter()
        .map(|e| {
            json!({ "at": e.at, "by": e.actor, "action": e.action, "from": e.from_status, "to": e.to_status,
                    "tier": e.tier, "probability": e.probability, "reason": e.reason, "note": e.note })
        })
        .collect())
}

fn alert_id(raw: &str) -> Result<i64, Rejection<Api>> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| Rejection::not_found(format!("no alert {raw:?}")))
}

#[get("/api/alerts/{id}")]
async fn one(guard: Guard<Api>, id: web::Path<String>) -> Result<HttpResponse, Rejection<Api>> {
    let id = alert_id(&id)?;
    let body = guard
        .resource(READ, id.to_string(), move |conn, _| {
            let Some(row) = alert_row(conn, id)? else { return Ok(None) };
            let mut body = shown(&row);
            body["history"] = Value::Array(history(conn, id)?);
            Ok(Some(body))
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
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
    let body = body.map(web::Json::into_inner).unwrap_or(ActBody { reason: None, note: None, until: None });
    let parsed = match action.as_str() {
        "acknowledge" => Act::acknowledge(body.note.as_deref()),
        "reopen" => Act::reopen(body.note.as_deref()),
        "snooze" => {
            let until = body.until.ok_or_else(|| Rejection::bad_request("a snooze needs `until`, a time"))?;
            Act::snooze(until, body.reason.as_deref().unwrap_or_default(), Utc::now(), bound.0)
        }
        "dismiss" => {
            let reason =
                body.reason.as_deref().ok_or_else(|| Rejection::bad_request("a dismissal needs a `reason`"))?;
            Act::dismiss(reason, body.note.as_deref())
        }
        other => return Err(Rejection::not_found(format!("alerts have no action {other:?}"))),
    }
    .map_err(|e| Rejection::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string()))?;
    let actor = guard.principal().actor();
    let outcome = guard
        .resource(RESPOND, id.to_string(), move |conn, _| {
            Ok(match lifecycle::apply(conn, id, &actor, &parsed)? {
                None => None,
                Some(Err(conflict)) => Some(Err(conflict.current)),
                Some(Ok(_)) => alert_row(conn, id)?.map(|row| Ok(shown(&row))),
            })
        })
        .await?;
    match outcome {
        Ok(alert) => Ok(HttpResponse::Ok().json(alert)),
        Err(current) => Err(Rejection::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("alert {id} is {}: it cannot be {} from there", current.as_str(), past(&action)),
        )),
    }
}

fn past(action: &str) -> &'static str {
    match action {
        "acknowledge" => "acknowledged",
        "snooze" => "snoozed",
        "dismiss" => "dismissed",
        _ => "reopened",
    }
}

const SETTINGS: &str = "NotificationPreferences";

#[get("/api/me/notifications")]
async fn my_preferences(guard: Guard<Api>) -> Result<HttpResponse, Rejection<Api>> {
    let preferences = guard.own_settings(SETTINGS, false, |conn, user| preferences::get(conn, user).map(Some)).await?;
    Ok(HttpResponse::Ok().json(preferences))
}

#[put("/api/me/notifications")]
async fn set_my_preferences(guard: Guard<Api>, body: web::Json<Preferences>) -> Result<HttpResponse, Rejection<Api>> {
    let wanted = body.into_inner();
    wanted.check().map_err(|e| Rejection::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string()))?;
    let stored = guard
        .own_settings(SETTINGS, true, move |conn, user| match preferences::set(conn, user, &wanted)? {
            Ok(()) => preferences::get(conn, user).map(|p| Some(Ok(p))),
            Err(refused) => Ok(Some(Err(refused.to_string()))),
        })
        .await?
        .map_err(|message| Rejection::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message))?;
    Ok(HttpResponse::Ok().json(stored))
}
