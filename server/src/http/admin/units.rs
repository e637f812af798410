//! Care units, for admins: list them with their escalation timing and members, add one, set how
//! long a critical alert may wait before the unit's escalation contacts are called, and who they
//! are. Shared by the JSON API (`/api/admin/units`) and the portal's page.

use std::time::Duration;

use actix_web::{HttpResponse, get, post, web};
use serde::Deserialize;
use serde_json::json;

use super::{ADMINISTER, Outcome, refusal};
use crate::alerts::escalation::{self, EscalationError, Unit};
use crate::auth::users::{self, UnitCode, UserError, Username};
use crate::http::access::{Access, Guard};
use crate::http::surface::{Api, Rejection, Surface};

const UNITS: Access = Access { resource_type: "CareUnit", ..ADMINISTER };

fn unit_outcome<T>(result: Result<T, EscalationError>) -> Outcome<T> {
    match result {
        Ok(value) => Ok(Some(Ok(value))),
        Err(EscalationError::User(UserError::NoSuchUnit(_))) => Ok(None),
        Err(EscalationError::Database(e) | EscalationError::User(UserError::Database(e))) => Err(e),
        Err(e) => Ok(Some(Err(e.to_string()))),
    }
}

/// Every unit with its escalation timing and members.
pub async fn list<S: Surface>(guard: &Guard<S>) -> Result<Vec<Unit>, Rejection<S>> {
    guard.system(UNITS, None, |conn| Ok(unit_outcome(escalation::units(conn))?.and_then(Result::ok))).await
}

/// What may be done to units.
#[derive(Debug)]
pub enum Change {
    Add { code: String, name: String },
    Escalation { code: String, after_secs: u64, repeat_secs: u64 },
    Contact { code: String, username: String, contact: bool },
}

/// Applies `change`; the unit afterwards, or why not (None: no such unit).
pub async fn change<S: Surface>(guard: &Guard<S>, change: Change) -> Result<Result<Unit, String>, Rejection<S>> {
    let (code, note) = match &change {
        Change::Add { code, .. } => (code.clone(), "add"),
        Change::Escalation { code, .. } => (code.clone(), "escalation"),
        Change::Contact { code, .. } => (code.clone(), "contact"),
    };
    let Ok(unit) = UnitCode::parse(&code) else {
        return Ok(Err(UserError::InvalidUnitCode.to_string()));
    };
    guard
        .system_noted(UNITS, Some(unit.as_str().to_owned()), Some(note.to_owned()), move |conn| {
            let done = match change {
                Change::Add { name, .. } => {
                    if name.trim().is_empty() {
                        return Ok(Some(Err("a unit needs a name".into())));
                    }
                    users::add_unit(conn, &unit, name.trim()).map_err(EscalationError::from)
                }
                Change::Escalation { after_secs, repeat_secs, .. } => escalation::set_delays(
                    conn,
                    &unit,
                    Duration::from_secs(after_secs),
                    Duration::from_secs(repeat_secs),
                ),
                Change::Contact { username, contact, .. } => match Username::parse(&username) {
                    Ok(user) => escalation::set_contact(conn, &unit, &user, contact),
                    Err(e) => Err(e.into()),
                },
            };
            match unit_outcome(done)? {
                None => return Ok(None),
                Some(Err(problem)) => return Ok(Some(Err(problem))),
                Some(Ok(())) => {}
            }
            let all = unit_outcome(escalation::units(conn))?.and_then(Result::ok).unwrap_or_default();
            Ok(all.into_iter().find(|u| u.code == unit.as_str()).map(Ok))
        })
        .await
}

#[get("/api/admin/units")]
async fn api_list(guard: Guard<Api>) -> Result<HttpResponse, Rejection<Api>> {
    Ok(HttpResponse::Ok().json(json!({ "units": list(&guard).await? })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUnit {
    code: String,
    name: String,
}

#[post("/api/admin/units")]
async fn api_add(guard: Guard<Api>, body: web::Json<NewUnit>) -> Result<HttpResponse, Rejection<Api>> {
    let NewUnit { code, name } = body.into_inner();
    let added = change(&guard, Change::Add { code, name }).await?.map_err(refusal)?;
    Ok(HttpResponse::Created().json(added))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Timing {
    after_secs: u64,
    repeat_secs: u64,
}

#[post("/api/admin/units/{code}/escalation")]
async fn api_escalation(
    guard: Guard<Api>,
    code: web::Path<String>,
    body: web::Json<Timing>,
) -> Result<HttpResponse, Rejection<Api>> {
    let Timing { after_secs, repeat_secs } = body.into_inner();
    let asked = Change::Escalation { code: code.into_inner(), after_secs, repeat_secs };
    Ok(HttpResponse::Ok().json(change(&guard, asked).await?.map_err(refusal)?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Contact {
    username: String,
    contact: bool,
}

#[post("/api/admin/units/{code}/contacts")]
async fn api_contact(
    guard: Guard<Api>,
    code: web::Path<String>,
    body: web::Json<Contact>,
) -> Result<HttpResponse, Rejection<Api>> {
    let Contact { username, contact } = body.into_inner();
    let asked = Change::Contact { code: code.into_inner(), username, contact };
    Ok(HttpResponse::Ok().json(change(&guard, asked).await?.map_err(refusal)?))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(api_list).service(api_add).service(api_escalation).service(api_contact);
}
