//! `GET /api/alert-rules` (every rule with its versions) and `PUT /api/alert-rules` (the rule of a
//! target and unit made to say this: a new version, or a new rule), for admins and informatics,
//! audited as configuration. The portal's rules page calls the same [`listed`] and [`put`].

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, put, web};
use diesel::QueryResult;
use serde::Deserialize;
use serde_json::{Value, json};
use vigil_scoring::training::Target;

use crate::alerts::Thresholds;
use crate::alerts::rules::{self, Rule, RuleError, RuleVersion};
use crate::auth::policy::Action;
use crate::auth::users::UnitCode;
use crate::http::access::{Access, Guard};
use crate::http::surface::{Api, Rejection, Surface};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(rules_list).service(rules_put);
}

const CONFIGURE: Access =
    Access { action: Action::Configure, resource_type: "AlertRule", data_category: "configuration" };

/// A rule failure that is the client's to fix (the database's are faults).
fn rule_outcome<T>(result: Result<T, RuleError>) -> QueryResult<Option<Result<T, String>>> {
    match result {
        Ok(value) => Ok(Some(Ok(value))),
        Err(RuleError::Database(e)) => Err(e),
        Err(e) => Ok(Some(Err(e.to_string()))),
    }
}

/// Every rule with its versions, oldest first.
pub async fn listed<S: Surface>(guard: &Guard<S>) -> Result<Vec<(Rule, Vec<RuleVersion>)>, Rejection<S>> {
    guard
        .system(CONFIGURE, None, |conn| {
            rule_outcome(rules::list(conn).and_then(|all| {
                all.into_iter()
                    .map(|rule| {
                        let history = rules::history(conn, rule.id)?;
                        Ok((rule, history))
                    })
                    .collect::<Result<Vec<_>, RuleError>>()
            }))
        })
        .await?
        .map_err(Rejection::bad_request)
}

/// The codes of the care units a rule may be for.
pub async fn unit_codes<S: Surface>(guard: &Guard<S>) -> Result<Vec<String>, Rejection<S>> {
    guard
        .system(CONFIGURE, None, |conn| match crate::auth::users::list_units(conn) {
            Ok(units) => Ok(Some(units.into_iter().map(|(code, _)| code).collect())),
            Err(crate::auth::users::UserError::Database(e)) => Err(e),
            Err(e) => Err(crate::http::fault::unexpected(&e)),
        })
        .await
}

/// A rule as asked for: thresholds as probabilities (0 to 1), None for a tier that is off.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wanted {
    pub target: String,
    pub unit: Option<String>,
    pub info: Option<f64>,
    pub warning: Option<f64>,
    pub critical: Option<f64>,
    pub hysteresis: Option<f64>,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    pub reason: String,
}

fn enabled_by_default() -> bool {
    true
}

/// Makes the rule of a target and unit say this (a new version, or a new rule); the rule as it
/// stands then, or what is wrong with the request.
pub async fn put<S: Surface>(guard: &Guard<S>, wanted: Wanted) -> Result<Result<Rule, String>, Rejection<S>> {
    let checked = (|| {
        let target = Target::parse(&wanted.target)
            .ok_or_else(|| format!("target {:?}: expected admission or readmission", wanted.target))?;
        let unit = wanted
            .unit
            .as_deref()
            .filter(|u| !u.trim().is_empty())
            .map(UnitCode::parse)
            .transpose()
            .map_err(|e| e.to_string())?;
        let lowest = wanted.info.or(wanted.warning).or(wanted.critical).unwrap_or(0.0);
        let thresholds =
            Thresholds::new(wanted.info, wanted.warning, wanted.critical, wanted.hysteresis.unwrap_or(lowest / 10.0))
                .map_err(|e| e.to_string())?;
        Ok::<_, String>((target, unit, thresholds))
    })();
    let (target, unit, thresholds) = match checked {
        Ok(checked) => checked,
        Err(problem) => return Ok(Err(problem)),
    };
    let by = guard.principal().actor();
    let (enabled, reason) = (wanted.enabled, wanted.reason);
    guard
        .system(CONFIGURE, None, move |conn| {
            rule_outcome(rules::put(conn, target, unit.as_ref(), thresholds, enabled, &by, &reason))
        })
        .await
}

#[get("/api/alert-rules")]
async fn rules_list(guard: Guard<Api>) -> Result<HttpResponse, Rejection<Api>> {
    let listed: Vec<Value> =
        listed(&guard).await?.into_iter().map(|(rule, history)| json!({ "rule": rule, "history": history })).collect();
    Ok(HttpResponse::Ok().json(json!({ "rules": listed })))
}

#[put("/api/alert-rules")]
async fn rules_put(guard: Guard<Api>, body: web::Json<Wanted>) -> Result<HttpResponse, Rejection<Api>> {
    let rule = put(&guard, body.into_inner())
        .await?
        .map_err(|message| Rejection::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message))?;
    Ok(HttpResponse::Ok().json(rule))
}
