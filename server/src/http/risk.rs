//! Scores out: FHIR RiskAssessment (search by subject, read by id) and the portal's JSON of a
//! patient's risk with its history.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};
use vigil_store::schema::{models, patients, scores};

use crate::auth::policy::Action;
use crate::http::access::{Access, Guard};
use crate::http::fhir::search::{self, Prefix};
use crate::http::fhir::{base, fhir_json, instant};
use crate::http::surface::{Api, Fhir, Rejection};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(search_assessments).service(read_assessment).service(patient_risk);
}

const READ_SCORES: Access = Access { action: Action::Read, resource_type: "RiskAssessment", data_category: "scores" };

/// A stored score of a learned model, as the API shows it.
#[derive(Debug, Queryable)]
struct Row {
    id: i64,
    patient_fhir_id: String,
    encounter_fhir_id: Option<String>,
    as_of: DateTime<Utc>,
    probability: Option<f64>,
    points: Option<i32>,
    factors: Value,
    version: String,
    target: String,
    algorithm: String,
    status: String,
    created_at: DateTime<Utc>,
}

/// The columns of a [`Row`], in its order.
macro_rules! row {
    () => {
        (
            scores::id,
            patients::fhir_id,
            scores::encounter_fhir_id,
            scores::as_of,
            scores::probability,
            scores::points,
            scores::factors,
            models::version,
            models::target,
            models::algorithm,
            models::status,
            scores::created_at,
        )
    };
}

fn outcome(target: &str) -> &'static str {
    match target {
        "admission" => "Unplanned hospital admission within 30 days",
        _ => "Hospital readmission within 30 days of discharge",
    }
}

/// A score's factors in words, strongest first.
pub(crate) fn factor_texts(factors: &Value) -> Vec<String> {
    factors.as_array().into_iter().flatten().filter_map(|f| f["text"].as_str().map(str::to_owned)).collect()
}

/// A score as a FHIR R4 RiskAssessment.
fn assessment(row: &Row) -> Value {
    let texts = factor_texts(&row.factors);
    let mut resource = json!({
        "resourceType": "RiskAssessment",
        "id": row.id.to_string(),
        "meta": { "lastUpdated": instant(row.created_at) },
        "status": "final",
        "subject": { "reference": format!("Patient/{}", row.patient_fhir_id) },
        "occurrenceDateTime": instant(row.as_of),
        "method": {
            "coding": [{ "system": "urn:vigil:model", "code": row.version, "display": row.algorithm }],
            "text": format!("Vigil model {} ({}, {})", row.version, row.algorithm, row.status),
        },
        "prediction": [{
            "outcome": { "text": outcome(&row.target) },
            "probabilityDecimal": row.probability,
            "whenRange": {
                "low": { "value": 0, "unit": "days", "system": "http://unitsofmeasure.org", "code": "d" },
                "high": { "value": 30, "unit": "days", "system": "http://unitsofmeasure.org", "code": "d" },
            },
            "rationale": texts.join("; "),
        }],
        "basis": texts.iter().map(|t| json!({ "display": t })).collect::<Vec<_>>(),
    });
    if let (Some(encounter), Some(obj)) = (&row.encounter_fhir_id, resource.as_object_mut()) {
        obj.insert("encounter".into(), json!({ "reference": format!("Encounter/{encounter}") }));
    }
    resource
}

/// Scores of learned models (the baselines give points, not the probabilities a RiskAssessment
/// carries).
fn learned() -> diesel::dsl::IsNotNull<scores::probability> {
    scores::probability.is_not_null()
}

#[get("/fhir/RiskAssessment")]
async fn search_assessments(req: HttpRequest, guard: Guard<Fhir>) -> Result<HttpResponse, Rejection<Fhir>> {
    let params = crate::http::fhir::read::query_pairs(&req);
    let mut subject = None;
    let mut dates = Vec::new();
    let mut newest_first = false;
    let mut count = search::DEFAULT_COUNT;
    for (name, value) in &params {
        match name.as_str() {
            "subject" | "patient" => {
                subject = Some(value.strip_prefix("Patient/").unwrap_or(value).to_owned());
            }
            "date" => dates.push(search::date("date", value).map_err(Rejection::bad_request)?),
            "_sort" if value == "-date" => newest_first = true,
            "_sort" if value == "date" => newest_first = false,
            "_count" => {
                count = value
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| Rejection::bad_request("_count must be a whole number of at least 1"))?
                    .min(search::MAX_COUNT);
            }
            "_format" => {}
            other => {
                return Err(Rejection::bad_request(format!(
                    "{other}={value} is not supported; RiskAssessment searches take subject, date, _sort (date or -date), _count"
                )));
            }
        }
    }
    let subject = subject.ok_or_else(|| Rejection::bad_request("subject=Patient/{id} is required"))?;
    let rows = guard
        .patient(READ_SCORES, subject, move |conn, patient| {
            let mut query = scores::table
                .inner_join(models::table)
                .inner_join(patients::table)
                .filter(scores::patient_id.eq(patient.id))
                .filter(learned())
                .select(row!())
                .limit(count)
                .into_boxed();
            for (prefix, range) in dates {
                query = match prefix {
                    Prefix::Eq => query.filter(scores::as_of.ge(range.lower).and(scores::as_of.lt(range.upper))),
                    Prefix::Ne => query.filter(scores::as_of.lt(range.lower).or(scores::as_of.ge(range.upper))),
                    Prefix::Lt => query.filter(scores::as_of.lt(range.lower)),
                    Prefix::Le => query.filter(scores::as_of.lt(range.upper)),
                    Prefix::Gt => query.filter(scores::as_of.ge(range.upper)),
                    Prefix::Ge => query.filter(scores::as_of.ge(range.lower)),
                };
            }
            query = if newest_first {
                query.order((scores::as_of.desc(), scores::id.desc()))
            } else {
                query.order((scores::as_of.asc(), scores::id.asc()))
            };
            query.load::<Row>(conn).map(Some)
        })
        .await?;
    let base = base(&req);
    let entries: Vec<Value> = rows
        .iter()
        .map(|row| {
            json!({
                "fullUrl": format!("{base}/RiskAssessment/{}", row.id),
                "resource": assessment(row),
                "search": { "mode": "match" },
            })
        })
        .collect();
    Ok(fhir_json(StatusCode::OK, &json!({ "resourceType": "Bundle", "type": "searchset", "entry": entries })))
}

#[get("/fhir/RiskAssessment/{id}")]
async fn read_assessment(guard: Guard<Fhir>, id: web::Path<String>) -> Result<HttpResponse, Rejection<Fhir>> {
    let id = id.into_inner();
    let row = guard
        .resource(READ_SCORES, id.clone(), move |conn, _| {
            let Ok(score) = id.parse::<i64>() else { return Ok(None) };
            scores::table
                .inner_join(models::table)
                .inner_join(patients::table)
                .filter(scores::id.eq(score))
                .filter(learned())
                .select(row!())
                .first::<Row>(conn)
                .optional()
        })
        .await?;
    Ok(fhir_json(StatusCode::OK, &assessment(&row)))
}

/// The portal's view of a patient's risk: every model's scores of the last 90 days, newest first.
#[get("/api/patients/{id}/risk")]
async fn patient_risk(guard: Guard<Api>, id: web::Path<String>) -> Result<HttpResponse, Rejection<Api>> {
    let rows = guard
        .patient(READ_SCORES, id.into_inner(), |conn, patient| {
            scores::table
                .inner_join(models::table)
                .inner_join(patients::table)
                .filter(scores::patient_id.eq(patient.id))
                .filter(scores::created_at.gt(Utc::now() - Duration::days(90)))
                .order((scores::created_at.desc(), scores::id.desc()))
                .select(row!())
                .limit(1000)
                .load::<Row>(conn)
                .map(Some)
        })
        .await?;
    let score = |r: &Row| {
        json!({
            "model": r.version,
            "algorithm": r.algorithm,
            "model_status": r.status,
            "as_of": instant(r.as_of),
            "scored_at": instant(r.created_at),
            "encounter": r.encounter_fhir_id,
            "probability": r.probability,
            "points": r.points,
            "factors": factor_texts(&r.factors),
        })
    };
    let mut current = serde_json::Map::new();
    for target in ["admission", "readmission"] {
        // The active model's newest score is what the ward sees.
        let latest = rows.iter().find(|r| r.target == target && r.status == "active");
        current.insert(target.into(), latest.map(score).unwrap_or(Value::Null));
    }
    Ok(HttpResponse::Ok().json(json!({
        "current": current,
        "history": rows.iter().map(|r| json!({ "target": r.target, "score": score(r) })).collect::<Vec<_>>(),
    })))
}
