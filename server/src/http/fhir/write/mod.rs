//! Pushing data in: `POST /fhir` with a transaction Bundle (all or nothing) or a batch Bundle
//! (each entry on its own), `POST /fhir/{type}` (create, with `If-None-Exist`) and
//! `PUT /fhir/{type}/{id}` (update or create with a client id, with `If-Match`).
//!
//! Everything goes through the same ingestion as `vigil ingest` (validation, versions, content
//! hashes, rejects, the change feed), under [`PUSH_SOURCE`]. Rejected resources are kept in the
//! reject list even when the request as a whole fails.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};
use vigil_ehr_adapter::ingest::{self, Change, Fate, Stored, problems};
use vigil_ehr_adapter::read::{Incoming, bundle_entries};
use vigil_store::audit::AuditEvent;
use vigil_store::schema::raw_resources;

use super::{PUSH_SOURCE, TypeDef, base, etag, fhir_json, instant, served, version_response};
use crate::http::access::{Declared, Guard};
use crate::http::surface::{Fhir, Rejection};

mod resource;
mod transaction;

pub use resource::{create, remove, update};
pub use transaction::bundle;

/// How much a FHIR push may hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest body of a Bundle or a resource, in bytes (read whole, then parsed).
    pub body: usize,
    /// The most entries a Bundle may have.
    pub bundle_entries: usize,
    /// The largest `$import` body, in bytes (streamed into the queue, never held whole).
    pub import: u64,
}

impl Limits {
    pub fn of(req: &HttpRequest) -> Limits {
        req.app_data::<web::Data<Limits>>().map(|l| *l.get_ref()).unwrap_or(Limits {
            body: 1 << 20,
            bundle_entries: 1000,
            import: 1 << 20,
        })
    }
}

/// Reads a request body of at most the configured size. Only reads: parsing happens on a
/// blocking thread, once the write is known to be allowed.
async fn read_body(req: &HttpRequest, payload: web::Payload) -> Result<web::Bytes, Rejection<Fhir>> {
    let limit = Limits::of(req).body;
    match payload.to_bytes_limited(limit).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => Err(Rejection::bad_request(format!("the request body could not be read: {e}"))),
        Err(_) => Err(Rejection::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the body is larger than {limit} bytes (server.max_fhir_body_bytes)"),
        )),
    }
}

/// Parses a body read by [`read_body`] (on a blocking thread: a large Bundle takes a while).
fn parse_json(bytes: &[u8]) -> Result<Value, Rejection<Fhir>> {
    let text = std::str::from_utf8(bytes).map_err(|_| Rejection::bad_request("the body is not UTF-8"))?;
    vigil_ehr_adapter::json::parse(text).map_err(|e| Rejection::bad_request(format!("the body is not valid JSON: {e}")))
}

/// Where pushed resources are said to come from, in rejects and OperationOutcomes.
fn origin(guard: &Guard<Fhir>, what: &str) -> String {
    format!("{what} (request {})", guard.auth.context.request_id)
}

/// The resource types an incoming set names, for the write permission check.
fn types_of(items: &[Incoming]) -> Vec<String> {
    write_types(items.iter().filter_map(|i| i.resource.as_ref().ok()).filter_map(|r| r.get("resourceType")?.as_str()))
}

/// The distinct resource types among `named` that look like types (anything else is rejected by
/// validation later); `Bundle` when there are none, so that the permission check still applies.
pub fn write_types<'a>(named: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut types: Vec<String> = named
        .filter(|t| t.starts_with(|c: char| c.is_ascii_uppercase()) && t.chars().all(|c| c.is_ascii_alphabetic()))
        .map(str::to_owned)
        .collect();
    types.sort();
    types.dedup();
    if types.is_empty() {
        types.push("Bundle".into());
    }
    types
}

/// A stored version's content and when it was received.
type StoredVersion = (Value, DateTime<Utc>);

/// A stored version, to answer with.
fn stored_version(conn: &mut PgConnection, ty: &str, id: &str, version: i32) -> QueryResult<StoredVersion> {
    raw_resources::table
        .filter(raw_resources::resource_type.eq(ty).and(raw_resources::fhir_id.eq(id)))
        .filter(raw_resources::version.eq(version))
        .select((raw_resources::content, raw_resources::received_at))
        .first(conn)
}

/// The stored versions the accepted fates name, in their order (None for a reject), read in one
/// query per resource type rather than one per entry.
fn stored_versions(conn: &mut PgConnection, fates: &[Fate]) -> QueryResult<Vec<Option<StoredVersion>>> {
    // By type, so that each look-up uses the (resource_type, fhir_id) index: this runs inside the
    // write's transaction, which holds the change feed's lock until it commits.
    let mut ids: std::collections::BTreeMap<&str, Vec<&str>> = std::collections::BTreeMap::new();
    for fate in fates {
        if let Fate::Accepted { resource_type, id, .. } = fate {
            ids.entry(resource_type.as_str()).or_default().push(id.as_str());
        }
    }
    type Found = (String, String, i32, Value, DateTime<Utc>);
    let mut rows: Vec<Found> = Vec::new();
    for (ty, ids) in ids {
        rows.extend(
            raw_resources::table
                .filter(raw_resources::resource_type.eq(ty).and(raw_resources::fhir_id.eq_any(&ids)))
                .select((
                    raw_resources::resource_type,
                    raw_resources::fhir_id,
                    raw_resources::version,
                    raw_resources::content,
                    raw_resources::received_at,
                ))
                .load::<Found>(conn)?,
        );
    }
    let by_key: std::collections::HashMap<(String, String, i32), StoredVersion> =
        rows.into_iter().map(|(ty, id, version, content, at)| ((ty, id, version), (content, at))).collect();
    Ok(fates
        .iter()
        .map(|f| match f {
            Fate::Accepted { resource_type, id, version, .. } => {
                by_key.get(&(resource_type.clone(), id.clone(), *version)).cloned()
            }
            Fate::Rejected { .. } => None,
        })
        .collect())
}

/// What a create or update came to.
enum Written {
    /// Stored (or found unchanged) as this version.
    Done {
        change: Change,
        id: String,
        version: i32,
        content: Value,
        received: DateTime<Utc>,
    },
    /// `If-None-Exist` matched one resource: nothing created.
    Exists {
        id: String,
        version: i32,
        content: Value,
        received: DateTime<Utc>,
    },
    Invalid(Value),
}

/// The body of a create or update: a resource of the type in the path.
fn resource_body(bytes: &[u8], def: &TypeDef) -> Result<serde_json::Map<String, Value>, Rejection<Fhir>> {
    let Value::Object(mut resource) = parse_json(bytes)? else {
        return Err(Rejection::bad_request("the body must be a JSON object"));
    };
    // This server numbers the versions of what is created or updated through it: whatever
    // version and time the client echoes back, the resource it sends is the newest.
    if let Some(Value::Object(meta)) = resource.get_mut("meta") {
        meta.remove("versionId");
        meta.remove("lastUpdated");
    }
    let ty = resource.get("resourceType").and_then(Value::as_str).unwrap_or("(none)");
    if ty != def.resource_type {
        return Err(Rejection::bad_request(format!(
            "the body is a {ty} resource; this URL takes {}",
            def.resource_type
        )));
    }
    Ok(resource)
}

fn store_one(
    conn: &mut PgConnection,
    audit: &vigil_store::audit::AuditEvent,
    item: Incoming,
) -> Result<Written, Rejection<Fhir>> {
    let stored = ingest::store(conn, PUSH_SOURCE, audit, vec![item]).map_err(|e| Rejection::fault(&e))?;
    crate::metrics::ingested(&stored.summary);
    match stored.fates.into_iter().next() {
        Some(Fate::Accepted { resource_type, id, change, version }) => {
            let (content, received) =
                stored_version(conn, &resource_type, &id, version).map_err(|e| Rejection::fault(&e))?;
            Ok(Written::Done { change, id, version, content, received })
        }
        Some(Fate::Rejected { outcome }) => Ok(Written::Invalid(outcome)),
        None => Err(Rejection::internal(&"ingestion returned no fate for the resource")),
    }
}

/// 409 for a resource refused because its id or its patient is held by another source (it is
/// valid, but conflicts with the server's state), else 422.
fn refusal_status(outcome: &Value) -> StatusCode {
    let issues = outcome.get("issue").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    if !issues.is_empty() && issues.iter().all(|i| i.get("code").and_then(Value::as_str) == Some("conflict")) {
        StatusCode::CONFLICT
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    }
}

fn answer(req: &HttpRequest, def: &TypeDef, written: Written) -> HttpResponse {
    let (status, id, version, content, received) = match written {
        Written::Invalid(outcome) => return fhir_json(refusal_status(&outcome), &outcome),
        Written::Done { change: Change::Outdated, id, version, .. } => {
            return fhir_json(
                StatusCode::CONFLICT,
                &json!({ "resourceType": "OperationOutcome", "issue": [{
                    "severity": "error", "code": "conflict",
                    "diagnostics": format!("a newer version of {}/{id} (by meta.lastUpdated or meta.versionId) is current; this one was kept in its history as version {version}", def.resource_type),
                }] }),
            );
        }
        Written::Done { change, id, version, content, received } => {
            let status = if change == Change::Created { StatusCode::CREATED } else { StatusCode::OK };
            (status, id, version, content, received)
        }
        Written::Exists { id, version, content, received } => (StatusCode::OK, id, version, content, received),
    };
    let mut response = version_response(status, version, &served(content, version, received));
    let location = format!("{}/{}/{id}/_history/{version}", base(req), def.resource_type);
    for (name, value) in [(header::LOCATION, location), (header::LAST_MODIFIED, received.to_rfc2822())] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}
