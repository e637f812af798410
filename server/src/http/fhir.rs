//! The FHIR R4 API beyond Patient: `GET /fhir/metadata` (a CapabilityStatement listing exactly what
//! this server does), and read and vread of the mapped clinical types, served as stored, with
//! Vigil's version and time in `meta`. Access is decided on the patient a resource belongs to.

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, SecondsFormat, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};
use vigil_store::schema::raw_resources;

use crate::auth::policy::Action;
use crate::http::access::{Access, AuthState, Guard};
use crate::http::surface::{Fhir, Rejection};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(metadata).service(vread).service(read);
}

/// The mapped types served here, with the data category their reads are audited under.
const TYPES: [(&str, &str); 5] = [
    ("Encounter", "encounters"),
    ("Condition", "conditions"),
    ("Observation", "observations"),
    ("MedicationRequest", "medications"),
    ("Procedure", "procedures"),
];

fn access(resource_type: &str) -> Result<Access, Rejection<Fhir>> {
    TYPES
        .iter()
        .find(|(t, _)| *t == resource_type)
        .map(|(t, category)| Access { action: Action::Read, resource_type: t, data_category: category })
        .ok_or_else(|| Rejection::not_found(format!("this server does not serve {resource_type} resources")))
}

#[get("/fhir/metadata")]
async fn metadata(req: HttpRequest, state: web::Data<AuthState>) -> HttpResponse {
    let token = crate::http::access::smart::token_url(&req, &state);
    let mut resources = vec![json!({ "type": "Patient", "interaction": [{ "code": "read" }] })];
    resources.extend(
        TYPES.iter().map(|(t, _)| json!({ "type": t, "interaction": [{ "code": "read" }, { "code": "vread" }] })),
    );
    HttpResponse::Ok().content_type("application/fhir+json").json(json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-22",
        "kind": "instance",
        "software": { "name": "Vigil", "version": env!("CARGO_PKG_VERSION") },
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [{
            "mode": "server",
            "security": {
                "service": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "SMART-on-FHIR" }] }],
                "extension": [{
                    "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                    "extension": [{ "url": "token", "valueUri": token }],
                }],
            },
            "resource": resources,
        }],
    }))
}

/// A stored version as served: the content as received, with Vigil's version and time in `meta`.
fn served(mut content: Value, version: i32, received: DateTime<Utc>) -> Value {
    if let Some(obj) = content.as_object_mut() {
        let meta = obj.entry("meta").or_insert_with(|| json!({}));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert("versionId".into(), json!(version.to_string()));
            meta.insert("lastUpdated".into(), json!(received.to_rfc3339_opts(SecondsFormat::Millis, true)));
        }
    }
    content
}

fn respond(version: i32, body: Value) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/fhir+json")
        .insert_header(("ETag", format!("W/\"{version}\"")))
        .json(body)
}

#[get("/fhir/{type}/{id}")]
async fn read(guard: Guard<Fhir>, path: web::Path<(String, String)>) -> Result<HttpResponse, Rejection<Fhir>> {
    let (resource_type, id) = path.into_inner();
    let access = access(&resource_type)?;
    let (ty, fhir_id) = (access.resource_type, id.clone());
    let (content, version, received) = guard
        .resource(access, id, move |conn, _| {
            raw_resources::table
                .filter(raw_resources::resource_type.eq(ty).and(raw_resources::fhir_id.eq(&fhir_id)))
                .filter(raw_resources::superseded_at.is_null())
                .select((raw_resources::content, raw_resources::version, raw_resources::received_at))
                .order(raw_resources::id)
                .first::<(Value, i32, DateTime<Utc>)>(conn)
                .optional()
        })
        .await?;
    Ok(respond(version, served(content, version, received)))
}

#[get("/fhir/{type}/{id}/_history/{version}")]
async fn vread(guard: Guard<Fhir>, path: web::Path<(String, String, String)>) -> Result<HttpResponse, Rejection<Fhir>> {
    let (resource_type, id, version) = path.into_inner();
    let access = access(&resource_type)?;
    let Ok(version) = version.parse::<i32>() else {
        return Err(Rejection::not_found(format!("no version {version} of {resource_type}/{id}")));
    };
    let (ty, fhir_id) = (access.resource_type, id.clone());
    let (content, received) = guard
        .resource(access, id, move |conn, _| {
            raw_resources::table
                .filter(raw_resources::resource_type.eq(ty).and(raw_resources::fhir_id.eq(&fhir_id)))
                .filter(raw_resources::version.eq(version))
                .select((raw_resources::content, raw_resources::received_at))
                .order(raw_resources::id)
                .first::<(Value, DateTime<Utc>)>(conn)
                .optional()
        })
        .await?;
    Ok(respond(version, served(content, version, received)))
}
