//! Patient demographics: `GET /fhir/Patient/{id}` as a FHIR R4 Patient, and
//! `GET /api/patients/{id}` as the portal's JSON. Both read the patients table through the guard.

use actix_web::{HttpResponse, get, web};
use chrono::SecondsFormat;
use diesel::prelude::*;
use serde_json::{Value, json};
use vigil_store::models::Patient;
use vigil_store::schema::patients;

use crate::auth::policy::Action;
use crate::http::access::{Access, Guard};
use crate::http::surface::{Api, Fhir, Rejection};

const READ_PATIENT: Access = Access { action: Action::Read, resource_type: "Patient", data_category: "demographics" };

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(fhir_read).service(api_read);
}

fn load(conn: &mut PgConnection, id: i64) -> QueryResult<Option<Patient>> {
    patients::table.find(id).select(Patient::as_select()).first(conn).optional()
}

#[get("/fhir/Patient/{id}")]
async fn fhir_read(guard: Guard<Fhir>, id: web::Path<String>) -> Result<HttpResponse, Rejection<Fhir>> {
    let patient = guard.patient(READ_PATIENT, id.into_inner(), |conn, p| load(conn, p.id)).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/fhir+json")
        .insert_header(("ETag", format!("W/\"{}\"", patient.version)))
        .json(to_fhir(&patient)))
}

#[get("/api/patients/{id}")]
async fn api_read(guard: Guard<Api>, id: web::Path<String>) -> Result<HttpResponse, Rejection<Api>> {
    let (patient, units) = guard
        .patient(READ_PATIENT, id.into_inner(), |conn, p| {
            let units = p.units.clone();
            Ok(load(conn, p.id)?.map(|patient| (patient, units)))
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "id": patient.fhir_id,
        "mrn": patient.mrn,
        "name": { "family": patient.family_name, "given": patient.given_names },
        "birth_date": patient.birth_date,
        "sex": patient.sex,
        "deceased": patient.deceased,
        "units": units,
        "version": patient.version,
    })))
}

const US_CORE_RACE: &str = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race";
const US_CORE_ETHNICITY: &str = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity";
const OMB: &str = "urn:oid:2.16.840.1.113883.6.238";

/// The FHIR R4 Patient for a stored row.
pub fn to_fhir(p: &Patient) -> Value {
    let mut resource = json!({
        "resourceType": "Patient",
        "id": p.fhir_id,
        "meta": {
            "versionId": p.version.to_string(),
            "lastUpdated": p.stored_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        },
    });
    let obj = resource.as_object_mut().map(|o| o as &mut serde_json::Map<String, Value>);
    let Some(obj) = obj else { return resource };
    if p.identifiers.as_array().is_some_and(|a| !a.is_empty()) {
        obj.insert("identifier".into(), p.identifiers.clone());
    }
    if p.family_name.is_some() || p.given_names.is_some() {
        let given: Vec<&str> = p.given_names.as_deref().map(|g| g.split_whitespace().collect()).unwrap_or_default();
        obj.insert("name".into(), json!([{ "family": p.family_name, "given": given }]));
    }
    if let Some(sex) = &p.sex {
        obj.insert("gender".into(), json!(sex));
    }
    if let Some(birth) = p.birth_date {
        obj.insert("birthDate".into(), json!(birth.to_string()));
    }
    match p.deceased_at {
        Some(at) => obj.insert("deceasedDateTime".into(), json!(at.to_rfc3339_opts(SecondsFormat::Secs, true))),
        None => obj.insert("deceasedBoolean".into(), json!(p.deceased)),
    };
    if let Some(postal) = &p.postal_code {
        obj.insert("address".into(), json!([{ "postalCode": postal }]));
    }
    let mut extensions = Vec::new();
    for (url, code, display) in
        [(US_CORE_RACE, &p.race_code, &p.race_display), (US_CORE_ETHNICITY, &p.ethnicity_code, &p.ethnicity_display)]
    {
        if code.is_some() || display.is_some() {
            let mut parts = Vec::new();
            if let Some(code) = code {
                parts.push(
                    json!({ "url": "ombCategory", "valueCoding": { "system": OMB, "code": code, "display": display } }),
                );
            }
            if let Some(text) = display {
                parts.push(json!({ "url": "text", "valueString": text }));
            }
            extensions.push(json!({ "url": url, "extension": parts }));
        }
    }
    if !extensions.is_empty() {
        obj.insert("extension".into(), Value::Array(extensions));
    }
    resource
}
