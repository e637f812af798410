//! One resource at a time: create (`POST /fhir/{type}`, with `If-None-Exist`), update or create
//! with a client id (`PUT /fhir/{type}/{id}`, with `If-Match`) and delete.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, delete, post, put, web};
use diesel::prelude::*;
use serde_json::Value;
use vigil_ehr_adapter::deletion::{self, Deletion};
use vigil_ehr_adapter::identity;
use vigil_ehr_adapter::read::Incoming;
use vigil_store::schema::raw_resources;

use super::{Written, answer, origin, read_body, resource_body, store_one};
use crate::auth::policy::Visibility;
use crate::http::access::{Declared, Guard};
use crate::http::fhir::search::{self, Search};
use crate::http::fhir::{PUSH_SOURCE, etag, type_def};
use crate::http::surface::{Fhir, Rejection};

#[post("/fhir/{type}")]
pub async fn create(
    req: HttpRequest,
    guard: Guard<Fhir>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, Rejection<Fhir>> {
    let def = type_def(&path.into_inner())?;
    let condition: Option<(String, Search)> = match req.headers().get("if-none-exist") {
        None => None,
        Some(value) => {
            let raw = value.to_str().map_err(|_| Rejection::bad_request("If-None-Exist is not text"))?.to_owned();
            let query = raw.split_once('?').map(|(_, q)| q).unwrap_or(&raw);
            let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
            let mut search =
                search::parse(def, &pairs).map_err(|e| Rejection::bad_request(format!("If-None-Exist: {e}")))?;
            if search.filters.is_empty() {
                return Err(Rejection::bad_request("If-None-Exist names no search criteria"));
            }
            search.count = 2;
            Some((raw, search))
        }
    };
    guard.check_write(Declared::Type(def.resource_type)).await?;
    let bytes = read_body(&req, payload).await?;
    let origin = origin(&guard, &format!("POST /fhir/{}", def.resource_type));
    let written = guard
        .write(Declared::Type(def.resource_type), move |conn, scope| {
            let mut resource = resource_body(&bytes, def)?;
            // The server assigns the id of a created resource; PUT is for ids the client chooses.
            resource.insert("id".into(), Value::String(uuid::Uuid::new_v4().to_string()));
            let resource = Value::Object(resource);
            let item = Incoming::parsed(origin, "body", resource);
            if let Some((raw, search)) = condition {
                // A match is answered with the matching resource: only to who may read it.
                if !scope.may_read(def.resource_type) {
                    return Err(Rejection::forbidden(format!(
                        "If-None-Exist needs permission to read {} as well: a match would be returned",
                        def.resource_type
                    )));
                }
                // Two conditional creates with the same criteria must not both create.
                identity::lock(conn, &[(def.resource_type, &format!("?{raw}"))]).map_err(|e| Rejection::fault(&e))?;
                let mut hits = search::run(conn, def, &search, &Visibility::All).map_err(|e| Rejection::fault(&e))?;
                if hits.len() > 1 {
                    return Err(Rejection::new(
                        StatusCode::PRECONDITION_FAILED,
                        "precondition_failed",
                        "If-None-Exist matches more than one resource",
                    ));
                }
                if let Some(hit) = hits.pop() {
                    scope.revealed(conn, def.resource_type, hit.patient_id).map_err(|e| Rejection::fault(&e))?;
                    let id = hit.content.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
                    return Ok(Written::Exists {
                        id,
                        version: hit.version,
                        content: hit.content,
                        received: hit.received_at,
                    });
                }
            }
            store_one(conn, &scope.audit, item)
        })
        .await?;
    Ok(answer(&req, def, written))
}

/// `W/"3"` or `"3"` as 3.
fn parse_etag(raw: &str) -> Option<i32> {
    let raw = raw.trim();
    let raw = raw.strip_prefix("W/").unwrap_or(raw);
    raw.strip_prefix('"')?.strip_suffix('"')?.parse().ok()
}

#[put("/fhir/{type}/{id}")]
pub async fn update(
    req: HttpRequest,
    guard: Guard<Fhir>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, Rejection<Fhir>> {
    let (resource_type, id) = path.into_inner();
    let def = type_def(&resource_type)?;
    if !vigil_ehr_adapter::reference::is_valid_id(&id) {
        return Err(Rejection::bad_request("the id in the URL is not a FHIR id"));
    }
    let if_match = match req.headers().get(header::IF_MATCH) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(parse_etag)
                .ok_or_else(|| Rejection::bad_request("If-Match must be an ETag such as W/\"3\""))?,
        ),
    };
    guard.check_write(Declared::Type(def.resource_type)).await?;
    let bytes = read_body(&req, payload).await?;
    let origin = origin(&guard, &format!("PUT /fhir/{resource_type}/{id}"));
    let written = guard
        .write(Declared::Type(def.resource_type), move |conn, scope| {
            let resource = resource_body(&bytes, def)?;
            match resource.get("id").and_then(Value::as_str) {
                Some(body_id) if body_id == id => {}
                Some(body_id) => {
                    return Err(Rejection::bad_request(format!("the body's id {body_id:?} is not the id in the URL")));
                }
                None => return Err(Rejection::bad_request("an update needs the resource's id in the body")),
            }
            let resource = Value::Object(resource);
            let item = Incoming::parsed(origin, "body", resource);
            if let Some(expected) = if_match {
                identity::lock(conn, &[(def.resource_type, &id)]).map_err(|e| Rejection::fault(&e))?;
                let current: Option<i32> = raw_resources::table
                    .filter(raw_resources::resource_type.eq(def.resource_type).and(raw_resources::fhir_id.eq(&id)))
                    .filter(raw_resources::superseded_at.is_null())
                    .select(raw_resources::version)
                    .first(conn)
                    .optional()
                    .map_err(|e| Rejection::fault(&e))?;
                if current != Some(expected) {
                    let now = current.map(|v| format!("version {v}")).unwrap_or_else(|| "no version".into());
                    return Err(Rejection::new(
                        StatusCode::PRECONDITION_FAILED,
                        "precondition_failed",
                        format!("If-Match asks for version {expected}, but {now} is current"),
                    ));
                }
            }
            store_one(conn, &scope.audit, item)
        })
        .await?;
    Ok(answer(&req, def, written))
}

#[delete("/fhir/{type}/{id}")]
pub async fn remove(guard: Guard<Fhir>, path: web::Path<(String, String)>) -> Result<HttpResponse, Rejection<Fhir>> {
    let (resource_type, id) = path.into_inner();
    let def = type_def(&resource_type)?;
    if !vigil_ehr_adapter::reference::is_valid_id(&id) {
        return Err(Rejection::not_found(format!("no {resource_type} with that id")));
    }
    let ty = def.resource_type;
    let shown = id.clone();
    let deletion = guard
        .write(Declared::Type(ty), move |conn, scope| {
            deletion::delete(conn, PUSH_SOURCE, &scope.audit, ty, &id).map_err(|e| Rejection::fault(&e))
        })
        .await?;
    match deletion {
        Deletion::Deleted { version } | Deletion::AlreadyDeleted { version } => {
            let mut response = HttpResponse::NoContent().finish();
            if let Ok(value) = HeaderValue::from_str(&etag(version)) {
                response.headers_mut().insert(header::ETAG, value);
            }
            Ok(response)
        }
        Deletion::NotFound => Err(Rejection::not_found(format!("no {ty} with id {shown}"))),
        Deletion::StillReferenced { resources } => Err(Rejection::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("{resources} other resources still belong to Patient/{shown}; delete them first"),
        )),
        Deletion::HeldElsewhere { source_system } => Err(Rejection::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("{ty}/{shown} is held by source {source_system:?}; only that source's feed changes it"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_etag;

    #[test]
    fn etags_weak_or_strong() {
        assert_eq!(parse_etag("W/\"3\""), Some(3));
        assert_eq!(parse_etag("\"12\""), Some(12));
        assert_eq!(parse_etag("3"), None);
        assert_eq!(parse_etag("W/\"x\""), None);
    }
}
