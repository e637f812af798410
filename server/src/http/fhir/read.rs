//! Reading the mapped types: read, vread and `_history` of one resource (from the versions kept in
//! `raw_resources`), and search (see [`super::search`]) with paging links.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use diesel::prelude::*;
use serde_json::{Value, json};
use vigil_store::schema::raw_resources;

use super::search::{self as searching, Cursor};
use super::{base, fhir_json, instant, served, type_def, version_response};
use crate::auth::policy::Action;
use crate::http::access::{Found, Guard};
use crate::http::surface::{Fhir, Rejection};

use crate::http::access::StoredVersion as Version;

const VERSION_COLUMNS: (
    raw_resources::content,
    raw_resources::version,
    raw_resources::received_at,
    raw_resources::deleted,
) = (raw_resources::content, raw_resources::version, raw_resources::received_at, raw_resources::deleted);

fn gone(resource_type: &str, id: &str) -> Rejection<Fhir> {
    Rejection::gone(format!("{resource_type}/{id} was deleted"))
}

fn versions_of(resource_type: &'static str, fhir_id: String) -> raw_resources::BoxedQuery<'static, diesel::pg::Pg> {
    raw_resources::table
        .filter(raw_resources::resource_type.eq(resource_type).and(raw_resources::fhir_id.eq(fhir_id)))
        .into_boxed()
}

/// One version of a resource, through the guard: the current one, or a numbered one. A
/// deletion's tombstone is 410 Gone.
async fn one_version(
    guard: Guard<Fhir>,
    resource_type: &str,
    id: String,
    number: Option<i32>,
) -> Result<HttpResponse, Rejection<Fhir>> {
    let def = type_def(resource_type)?;
    let (content, version, received, deleted) =
        guard.read_version(def.access(Action::Read), id.clone(), number).await?;
    if deleted {
        return Err(gone(def.resource_type, &id));
    }
    Ok(version_response(StatusCode::OK, version, &served(content, version, received)))
}

#[get("/fhir/{type}/{id}")]
pub async fn read(guard: Guard<Fhir>, path: web::Path<(String, String)>) -> Result<HttpResponse, Rejection<Fhir>> {
    let (resource_type, id) = path.into_inner();
    one_version(guard, &resource_type, id, None).await
}

#[get("/fhir/{type}/{id}/_history/{version}")]
pub async fn vread(
    guard: Guard<Fhir>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, Rejection<Fhir>> {
    let (resource_type, id, version) = path.into_inner();
    type_def(&resource_type)?;
    let Ok(version) = version.parse::<i32>() else {
        return Err(Rejection::not_found(format!("no version {version} of {resource_type}/{id}")));
    };
    one_version(guard, &resource_type, id, Some(version)).await
}

#[get("/fhir/{type}/{id}/_history")]
pub async fn history(
    req: HttpRequest,
    guard: Guard<Fhir>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Rejection<Fhir>> {
    let (resource_type, id) = path.into_inner();
    let def = type_def(&resource_type)?;
    let (ty, fhir_id) = (def.resource_type, id.clone());
    let versions = guard
        .resource(def.access(Action::Read), id.clone(), move |conn, _| {
            let all: Vec<Version> =
                versions_of(ty, fhir_id).select(VERSION_COLUMNS).order(raw_resources::version.desc()).load(conn)?;
            Ok((!all.is_empty()).then_some(all))
        })
        .await?;
    let url = format!("{}/{resource_type}/{id}", base(&req));
    let entries: Vec<Value> = versions
        .into_iter()
        .map(|(content, version, received, deleted)| {
            let request = |method| json!({ "method": method, "url": format!("{resource_type}/{id}") });
            let response =
                |status| json!({ "status": status, "etag": super::etag(version), "lastModified": instant(received) });
            if deleted {
                // A deletion has no resource: only its request and response.
                json!({ "fullUrl": url, "request": request("DELETE"), "response": response("204") })
            } else {
                json!({
                    "fullUrl": url,
                    "resource": served(content, version, received),
                    "request": request(if version == 1 { "POST" } else { "PUT" }),
                    "response": response("200"),
                })
            }
        })
        .collect();
    Ok(fhir_json(
        StatusCode::OK,
        &json!({
            "resourceType": "Bundle",
            "type": "history",
            "total": entries.len(),
            "link": [{ "relation": "self", "url": format!("{url}/_history") }],
            "entry": entries,
        }),
    ))
}

/// The query parameters of a request, in order.
pub fn query_pairs(req: &HttpRequest) -> Vec<(String, String)> {
    url::form_urlencoded::parse(req.query_string().as_bytes()).into_owned().collect()
}

/// What a search page holds: its matches (one more than a page, to tell whether another
/// follows), what they include, and the total when asked for.
struct Page {
    hits: Vec<searching::Hit>,
    included: Vec<(&'static str, searching::Hit)>,
    total: Option<i64>,
}

#[get("/fhir/{type}")]
pub async fn search(
    req: HttpRequest,
    guard: Guard<Fhir>,
    path: web::Path<String>,
) -> Result<HttpResponse, Rejection<Fhir>> {
    let def = type_def(&path.into_inner())?;
    let parsed = searching::parse(def, &query_pairs(&req)).map_err(Rejection::bad_request)?;
    let included_types = parsed.included_types();
    for included in &included_types {
        guard.check_read(included.access(Action::Read)).await?;
    }
    let query = parsed.clone();
    let page = guard
        .search(def.access(Action::Read), move |conn, visibility| {
            let hits = searching::run(conn, def, &query, visibility)?;
            let total = if query.total { Some(searching::count(conn, def, &query, visibility)?) } else { None };
            let shown = &hits[..hits.len().min(query.count as usize)];
            let mut patients: Vec<(i64, bool)> = shown.iter().map(|h| (h.patient_id, h.flagged)).collect();
            patients.dedup();
            let ids: Vec<i64> = patients.iter().map(|(id, _)| *id).collect();
            let mut included = Vec::new();
            if !ids.is_empty() {
                for t in &included_types {
                    included.extend(searching::included(conn, t, &ids)?.into_iter().map(|h| (t.resource_type, h)));
                }
            }
            Ok(Found { value: Page { hits, included, total }, patients })
        })
        .await?;
    let Page { mut hits, included, total } = page;
    let next = (hits.len() as i64 > parsed.count).then(|| {
        hits.truncate(parsed.count as usize);
        hits.last().map(|h| Cursor { key: h.sort_key, row: h.row_id })
    });
    let base = base(&req);
    let link = |cursor: Option<Cursor>| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &parsed.echo {
            query.append_pair(k, v);
        }
        if let Some(cursor) = cursor {
            query.append_pair("_cursor", &cursor.encode());
        }
        format!("{base}/{}?{}", def.resource_type, query.finish())
    };
    let mut links = vec![json!({ "relation": "self", "url": link(parsed.after) })];
    if let Some(Some(cursor)) = next {
        links.push(json!({ "relation": "next", "url": link(Some(cursor)) }));
    }
    let entry = |resource_type: &str, hit: searching::Hit, mode: &str| {
        let id = hit.content.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
        json!({
            "fullUrl": format!("{base}/{resource_type}/{id}"),
            "resource": served(hit.content, hit.version, hit.received_at),
            "search": { "mode": mode },
        })
    };
    let mut entries: Vec<Value> = hits.into_iter().map(|hit| entry(def.resource_type, hit, "match")).collect();
    entries.extend(included.into_iter().map(|(ty, hit)| entry(ty, hit, "include")));
    let mut bundle = json!({ "resourceType": "Bundle", "type": "searchset", "link": links });
    if let Some(total) = total {
        bundle["total"] = json!(total);
    }
    if !parsed.summary_count {
        bundle["entry"] = json!(entries);
    }
    Ok(fhir_json(StatusCode::OK, &bundle))
}
