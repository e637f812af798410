//! The model registry's JSON API, for informatics: `GET /api/models`, `GET /api/models/{version}`
//! (with the training report and status history), and `POST /api/models/{version}/activate|shadow|
//! retire|rollback`, and `GET /api/models/{version}/card` (the model card). Every call is audited; a
//! change names what was done.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use serde_json::{Value, json};
use vigil_scoring::registry::Entry;

use crate::http::access::Guard;
use crate::http::surface::{Api, Rejection};

pub mod card;
pub mod view;

use view::Change;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list).service(one).service(model_card).service(monitoring).service(act);
}

fn shown(e: &Entry) -> Value {
    json!({
        "version": e.version,
        "target": e.target,
        "algorithm": e.algorithm,
        "status": e.status,
        "feature_version": e.feature_version,
        "trained_from": e.trained_from,
        "trained_until": e.trained_until,
        "training_examples": e.training_examples,
        "training_positives": e.training_positives,
        "threshold": e.threshold,
        "auroc": e.test_auroc(),
        "created_by": e.created_by,
        "created_at": e.created_at,
    })
}

#[get("/api/models")]
async fn list(guard: Guard<Api>) -> Result<HttpResponse, Rejection<Api>> {
    let models: Vec<Value> = view::list(&guard).await?.iter().map(shown).collect();
    Ok(HttpResponse::Ok().json(json!({ "models": models })))
}

#[get("/api/models/{version}")]
async fn one(guard: Guard<Api>, version: web::Path<String>) -> Result<HttpResponse, Rejection<Api>> {
    let detail = view::detail(&guard, version.into_inner()).await?;
    let mut body = shown(&detail.entry);
    body["report"] = detail.entry.metrics.clone();
    body["history"] = json!(detail.history);
    body["active_version"] = json!(detail.active);
    body["feedback"] = json!(detail.feedback);
    Ok(HttpResponse::Ok().json(body))
}

#[get("/api/models/{version}/card")]
async fn model_card(guard: Guard<Api>, version: web::Path<String>) -> Result<HttpResponse, Rejection<Api>> {
    let detail = view::detail(&guard, version.into_inner()).await?;
    Ok(HttpResponse::Ok().json(card::card(&detail)))
}

#[derive(Debug, serde::Deserialize)]
pub struct UnitQuery {
    pub unit: Option<String>,
}

/// The weekly monitoring series (all units, or `?unit=`), the findings and the promotion decisions.
#[get("/api/models/{version}/monitoring")]
async fn monitoring(
    guard: Guard<Api>,
    version: web::Path<String>,
    query: web::Query<UnitQuery>,
) -> Result<HttpResponse, Rejection<Api>> {
    let m = view::monitoring(&guard, version.into_inner(), query.into_inner().unit.filter(|u| !u.is_empty())).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "version": m.entry.version,
        "unit": m.unit,
        "units": m.units,
        "validation_auroc": m.entry.test_auroc(),
        "weeks": m.weeks.iter().map(|w| serde_json::json!({ "week": w.week, "figures": w.figures, "computed_at": w.computed_at })).collect::<Vec<_>>(),
        "findings": m.findings.iter().map(|f| serde_json::json!({ "week": f.week, "kind": f.kind, "detail": f.detail, "found_at": f.found_at })).collect::<Vec<_>>(),
        "decisions": m.decisions.iter().map(|d| serde_json::json!({
            "challenger": d.challenger, "champion": d.champion, "decision": d.decision, "automatic": d.automatic,
            "decided_by": d.decided_by, "reason": d.reason, "figures": d.figures, "decided_at": d.decided_at,
        })).collect::<Vec<_>>(),
    })))
}

/// The optional body of a change: `{"override": "why"}` activates a model outside the
/// calibration bound.
#[derive(Debug, Default, serde::Deserialize)]
struct ActBody {
    #[serde(rename = "override")]
    override_reason: Option<String>,
}

#[post("/api/models/{version}/{change}")]
async fn act(
    guard: Guard<Api>,
    path: web::Path<(String, String)>,
    body: Option<web::Json<ActBody>>,
) -> Result<HttpResponse, Rejection<Api>> {
    let (version, change) = path.into_inner();
    let change = Change::parse(&change).ok_or_else(|| {
        Rejection::not_found(format!("models have no action {change:?}: activate, shadow, retire or rollback"))
    })?;
    let override_reason = body.and_then(|b| b.into_inner().override_reason);
    match view::change(&guard, version, change, override_reason).await? {
        Ok(entry) => Ok(HttpResponse::Ok().json(shown(&entry))),
        Err(message) => Err(Rejection::new(StatusCode::CONFLICT, "conflict", message)),
    }
}
