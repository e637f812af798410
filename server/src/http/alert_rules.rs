//! `GET /api/alert-rules` (every rule with its versions) and `PUT /api/alert-rules` (the rule of a
//! target and unit made to say this: a new version, or a new rule), for admins and informatics,
//! audited as configuration.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, put, web};
use diesel::QueryResult;
use serde::Deserialize;
use serde_json::{Value, json};
use vigil_scoring::training::Target;

use crate::alerts::Thresholds;
use crate::alerts::rules::{self, RuleError};
use crate::auth::policy::Action;
use crate::auth::users::UnitCode;
use crate::http::access::{Access, Guard};
use crate::http::surface::{Api, Rejection};

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

#[get("/api/alert-rules")]
async fn rules_list(guard: Guard<Api>) -> Result<HttpResponse, Rejection<Api>> {
    let listed = guard
        .system(CONFIGURE, None, |conn| {
            rule_outcome(rules::list(conn).and_then(|all| {
                all.into_iter()
                    .map(|rule| Ok(json!({ "rule": rule, "history": rules::history(conn, rule.id)? })))
                    .collect::<Result<Vec<Value>, RuleError>>()
            }))
        })
        .await?
        .map_err(Rejection::bad_request)?;
    Ok(HttpResponse::Ok().json(json!({ "rules": listed })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleBody {
    target: String,
    unit: Option<String>,
    info: Option<f64>,
    warning: Option<f64>,
    critical: Option<f64>,
    hysteresis: Option<f64>,
    #[serde(default = "enabled_by_default")]
    enabled: bool,
    reason: String,
}

fn enabled_by_default() -> bool {
    true
}

#[put("/api/alert-rules")]
async fn rules_put(guard: Guard<Api>, body: web::Json<RuleBody>) -> Result<HttpResponse, Rejection<Api>> {
    let body = body.into_inner();
    let invalid = |message: String| Rejection::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message);
    let target = Target::parse(&body.target)
        .ok_or_else(|| invalid(format!("target {:?}: expected admission or readmission", body.target)))?;
    let unit = body.unit.as_deref().map(UnitCode::parse).transpose().map_err(|e| invalid(e.to_string()))?;
    let lowest = body.info.or(body.warning).or(body.critical).unwrap_or(0.0);
    let thresholds = Thresholds::new(body.info, body.warning, body.critical, body.hysteresis.unwrap_or(lowest / 10.0))
        .map_err(|e| invalid(e.to_string()))?;
    let by = guard.principal().actor();
    let (enabled, reason) = (body.enabled, body.reason);
    let rule = guard
        .system(CONFIGURE, None, move |conn| {
            rule_outcome(rules::put(conn, target, unit.as_ref(), thresholds, enabled, &by, &reason))
        })
        .await?
        .map_err(invalid)?;
    Ok(HttpResponse::Ok().json(rule))
}
