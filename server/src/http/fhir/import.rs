//! Asynchronous import of Bulk NDJSON: `POST /fhir/$import` queues the body (any mix of resource
//! types, one per line) and answers 202 with a status URL; `GET /fhir/$import-status/{id}` says
//! 202 with progress while it runs, then 200 with a manifest of counts per type and a link to the
//! OperationOutcomes of rejected lines. Only whoever asked for a job sees its status.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;
use vigil_ehr_adapter::ingest::Summary;
use vigil_ehr_adapter::jobs;

use super::write::{read_body, write_types};
use super::{PUSH_SOURCE, base, fhir_json, instant};
use crate::http::access::Guard;
use crate::http::surface::{Fhir, Rejection};
use crate::imports::Waker;

const NDJSON_TYPES: [&str; 3] = ["application/fhir+ndjson", "application/ndjson", "application/x-ndjson"];

#[derive(Deserialize)]
struct TypeOnly {
    #[serde(rename = "resourceType")]
    resource_type: Option<String>,
}

/// The resource types named in an NDJSON body, for the write permission check (lines that are
/// not JSON are rejected later, with their line numbers).
fn types_in(body: &str) -> Vec<String> {
    let named: Vec<String> =
        body.lines().filter_map(|line| serde_json::from_str::<TypeOnly>(line).ok()?.resource_type).collect();
    write_types(named.iter().map(String::as_str))
}

#[post("/fhir/$import")]
pub async fn start(
    req: HttpRequest,
    guard: Guard<Fhir>,
    payload: web::Payload,
    waker: web::Data<Waker>,
) -> Result<HttpResponse, Rejection<Fhir>> {
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !NDJSON_TYPES.contains(&media) {
        return Err(Rejection::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "$import takes NDJSON: Content-Type application/fhir+ndjson, one resource per line",
        ));
    }
    let body = read_body(&req, payload).await?;
    let text = std::str::from_utf8(&body).map_err(|_| Rejection::bad_request("the body is not UTF-8"))?;
    let types = types_in(text);
    let id = guard
        .write(types, move |conn, audit| {
            jobs::enqueue(conn, &audit.actor, &audit.actor_role, PUSH_SOURCE, &body)
                .map_err(|e| Rejection::unavailable(&e))
        })
        .await?;
    waker.wake();
    let mut response = HttpResponse::Accepted().finish();
    if let Ok(location) = HeaderValue::from_str(&format!("{}/$import-status/{id}", base(&req))) {
        response.headers_mut().insert(header::CONTENT_LOCATION, location);
    }
    Ok(response)
}

fn job_id(raw: &str) -> Result<Uuid, Rejection<Fhir>> {
    Uuid::parse_str(raw).map_err(|_| Rejection::not_found("no such import job"))
}

/// The manifest of a finished job: counts per type, and the errors link when lines were rejected.
fn manifest(req: &HttpRequest, id: Uuid, job: &jobs::Status) -> Value {
    let summary: Summary = job.summary.clone().and_then(|s| serde_json::from_value(s).ok()).unwrap_or_default();
    let output: Vec<Value> = summary
        .by_type
        .iter()
        .map(|(ty, c)| {
            json!({
                "type": ty,
                "count": c.total() - c.rejected,
                "stored": c.stored, "updated": c.updated, "unchanged": c.unchanged, "outdated": c.outdated,
                "rejected": c.rejected,
            })
        })
        .collect();
    let rejected = summary.totals().rejected;
    let error: Vec<Value> = if rejected > 0 {
        vec![json!({
            "type": "OperationOutcome",
            "count": rejected,
            "url": format!("{}/$import-status/{id}/errors.ndjson", base(req)),
        })]
    } else {
        Vec::new()
    };
    json!({
        "transactionTime": job.finished_at.map(instant),
        "request": format!("{}/$import", base(req)),
        "requiresAccessToken": true,
        "output": output,
        "error": error,
    })
}

#[get("/fhir/$import-status/{id}")]
pub async fn status(
    req: HttpRequest,
    guard: Guard<Fhir>,
    path: web::Path<String>,
) -> Result<HttpResponse, Rejection<Fhir>> {
    let raw = path.into_inner();
    let id = job_id(&raw)?;
    let job = guard.own("ImportJob", raw, move |conn, actor| jobs::status(conn, id, actor)).await?;
    match job.status.as_str() {
        "done" => Ok(fhir_json(StatusCode::OK, &manifest(&req, id, &job))),
        "failed" => Err(Rejection::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "import_failed",
            format!("the import failed: {}", job.error.as_deref().unwrap_or("unknown reason")),
        )),
        _ => {
            let mut response = HttpResponse::Accepted().finish();
            let progress = format!("{} ({} resources)", job.status, job.progress);
            for (name, value) in [("x-progress", progress), ("retry-after", "1".to_owned())] {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    response.headers_mut().insert(header::HeaderName::from_static(name), value);
                }
            }
            Ok(response)
        }
    }
}

#[get("/fhir/$import-status/{id}/errors.ndjson")]
pub async fn errors(guard: Guard<Fhir>, path: web::Path<String>) -> Result<HttpResponse, Rejection<Fhir>> {
    let raw = path.into_inner();
    let id = job_id(&raw)?;
    let outcomes = guard
        .own("ImportJob", raw, move |conn, actor| {
            if jobs::status(conn, id, actor)?.is_none() {
                return Ok(None);
            }
            jobs::errors(conn, id).map(Some)
        })
        .await?;
    let mut body = String::new();
    for outcome in outcomes {
        body.push_str(&outcome.to_string());
        body.push('\n');
    }
    Ok(HttpResponse::Ok().content_type("application/fhir+ndjson").body(body))
}
