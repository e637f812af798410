//! Asynchronous import of Bulk NDJSON: `POST /fhir/$import` streams the body (any mix of resource
//! types, one per line) into the queue, checking each line with the importer's own parser and each
//! type against the requester's write permission, and answers 202 with a status URL; `GET /fhir/$import-status/{id}` says
//! 202 with progress while it runs, then 200 with a manifest of counts per type and a link to the
//! OperationOutcomes of rejected lines. Only whoever asked for a job sees its status.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use diesel::PgConnection;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use uuid::Uuid;
use vigil_ehr_adapter::ingest::Summary;
use vigil_ehr_adapter::jobs;

use super::write::{Limits, write_types};
use super::{PUSH_SOURCE, base, fhir_json, instant};
use crate::http::access::{Declared, Guard, WriteScope};
use crate::http::surface::{Fhir, Rejection};
use crate::imports::Waker;

const NDJSON_TYPES: [&str; 3] = ["application/fhir+ndjson", "application/ndjson", "application/x-ndjson"];

/// Bytes of whole lines kept per part of a job: what the server holds of an import at a time.
const PART_BYTES: usize = 4 << 20;
/// The longest line (one resource) an import may hold.
const MAX_LINE_BYTES: usize = 64 << 20;

/// What the pump hands the writer: a piece of the body, or why the body could not be read.
type Chunk = Result<web::Bytes, String>;

#[post("/fhir/$import")]
pub async fn start(
    req: HttpRequest,
    guard: Guard<Fhir>,
    mut payload: web::Payload,
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
    guard.check_write(Declared::Any).await?;
    let limit = Limits::of(&req).import;
    // The body streams from this task to the writer on a blocking thread, a few chunks ahead:
    // parts of whole lines are checked and stored as they fill, so the body is never held whole.
    let (sender, receiver) = mpsc::channel::<Chunk>(8);
    let pump = async move {
        while let Some(chunk) = payload.next().await {
            // The writer gone means it refused the body: stop reading.
            if sender.send(chunk.map_err(|e| e.to_string())).await.is_err() {
                break;
            }
        }
    };
    let write = guard.write(Declared::Any, move |conn, scope| {
        let write_scopes = scope.write_scopes().to_string();
        let requester = jobs::Requester {
            actor: &scope.audit.actor,
            role: &scope.audit.actor_role,
            source_system: PUSH_SOURCE,
            write_scopes: &write_scopes,
        };
        let id = jobs::create(conn, &requester).map_err(|e| Rejection::fault(&e))?;
        let mut parts = Parts { id, next: 0, first_line: 1 };
        let mut pending: Vec<u8> = Vec::new();
        let mut received: u64 = 0;
        let mut receiver = receiver;
        while let Some(chunk) = receiver.blocking_recv() {
            let chunk =
                chunk.map_err(|e| Rejection::bad_request(format!("the request body could not be read: {e}")))?;
            received += chunk.len() as u64;
            if received > limit {
                return Err(Rejection::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!("the body is larger than {limit} bytes (server.max_import_bytes)"),
                ));
            }
            pending.extend_from_slice(&chunk);
            if pending.len() >= PART_BYTES {
                match pending.iter().rposition(|b| *b == b'\n') {
                    Some(end) => {
                        let rest = pending.split_off(end + 1);
                        parts.store(conn, scope, &pending)?;
                        pending = rest;
                    }
                    None if pending.len() > MAX_LINE_BYTES => {
                        return Err(Rejection::new(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "too_large",
                            format!("line {} is longer than {MAX_LINE_BYTES} bytes", parts.first_line),
                        ));
                    }
                    None => {}
                }
            }
        }
        if !pending.is_empty() {
            parts.store(conn, scope, &pending)?;
        }
        Ok(id)
    });
    let ((), id) = tokio::join!(pump, write);
    let id = id?;
    waker.wake();
    let mut response = HttpResponse::Accepted().finish();
    if let Ok(location) = HeaderValue::from_str(&format!("{}/$import-status/{id}", base(&req))) {
        response.headers_mut().insert(header::CONTENT_LOCATION, location);
    }
    Ok(response)
}

/// The parts of a job being received.
struct Parts {
    id: Uuid,
    next: i32,
    first_line: i64,
}

impl Parts {
    /// Checks a part's lines with the importer's own parser (a repeated key is a 422 naming its
    /// line; the types they hold must be writable by the requester) and stores it. Lines that are
    /// not JSON at all are stored, to be rejected with their line numbers when the job runs.
    fn store(
        &mut self,
        conn: &mut PgConnection,
        scope: &mut WriteScope<'_>,
        part: &[u8],
    ) -> Result<(), Rejection<Fhir>> {
        let mut types: Vec<String> = Vec::new();
        let mut lines = 0_i64;
        for (i, line) in part.split(|b| *b == b'\n').enumerate() {
            lines = i as i64;
            let text = match std::str::from_utf8(line) {
                Ok(text) if !text.trim().is_empty() => text,
                _ => continue,
            };
            match vigil_ehr_adapter::json::parse(text) {
                Ok(resource) => {
                    if let Some(ty) = resource.get("resourceType").and_then(Value::as_str)
                        && !types.iter().any(|t| t == ty)
                    {
                        types.push(ty.to_owned());
                    }
                }
                Err(e) if e.classify() == serde_json::error::Category::Data => {
                    return Err(Rejection::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "unprocessable",
                        format!("line {}: {e}", self.first_line + i as i64),
                    ));
                }
                Err(_) => {}
            }
        }
        scope.require(&write_types(types.iter().map(String::as_str)))?;
        jobs::add_part(conn, self.id, self.next, self.first_line, part).map_err(|e| Rejection::fault(&e))?;
        self.next += 1;
        // A part ends with a newline unless it is the last: `lines` is its count of them.
        self.first_line += lines;
        Ok(())
    }
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
