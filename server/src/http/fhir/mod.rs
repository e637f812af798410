//! The FHIR R4 API: the CapabilityStatement, read, vread, `_history` and search of the mapped
//! types (served as stored, with Vigil's version and time in `meta`), and the ways data is pushed
//! in: Bundles, create, update and `$import`. Access is decided on the patient a resource belongs
//! to; errors are OperationOutcomes.

pub mod capability;
pub mod import;
pub mod read;
pub mod search;
pub mod write;

use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use self::search::Param;
use crate::auth::policy::Action;
use crate::http::access::Access;
use crate::http::surface::{Fhir, Rejection};

pub fn routes(cfg: &mut actix_web::web::ServiceConfig) {
    // Fixed paths first: `/fhir/metadata` must not be taken for a search of type "metadata".
    cfg.service(capability::metadata)
        .service(import::start)
        .service(import::errors)
        .service(import::status)
        .service(write::bundle)
        .service(read::search)
        .service(write::create)
        .service(read::history)
        .service(read::vread)
        .service(read::read)
        .service(write::update)
        .service(write::remove);
}

/// The system pushed data is stored under, the same as `vigil ingest`'s default: resources of one
/// EHR loaded from files and pushed over HTTP are one set.
pub const PUSH_SOURCE: &str = "local";

/// A mapped resource type as this API serves it.
#[derive(Debug)]
pub struct TypeDef {
    pub resource_type: &'static str,
    /// Its table in the store.
    pub table: &'static str,
    /// The data category its reads are audited under.
    pub data_category: &'static str,
    pub params: &'static [(&'static str, Param)],
}

pub const TYPES: [TypeDef; 6] = [
    TypeDef {
        resource_type: "Patient",
        table: "patients",
        data_category: "demographics",
        params: &[("identifier", Param::Identifier), ("name", Param::Name), ("birthdate", Param::BirthDate)],
    },
    TypeDef {
        resource_type: "Encounter",
        table: "encounters",
        data_category: "encounters",
        params: &[
            ("patient", Param::Patient),
            ("date", Param::Period),
            ("class", Param::Token("class_code")),
            ("status", Param::Token("status")),
        ],
    },
    TypeDef {
        resource_type: "Condition",
        table: "conditions",
        data_category: "conditions",
        params: &[("patient", Param::Patient), ("code", Param::ConditionCode)],
    },
    TypeDef {
        resource_type: "Observation",
        table: "observations",
        data_category: "observations",
        params: &[("patient", Param::Patient), ("code", Param::LoincCode), ("date", Param::Instant("effective_at"))],
    },
    TypeDef {
        resource_type: "MedicationRequest",
        table: "medication_requests",
        data_category: "medications",
        params: &[("patient", Param::Patient)],
    },
    TypeDef {
        resource_type: "Procedure",
        table: "procedures",
        data_category: "procedures",
        params: &[("patient", Param::Patient)],
    },
];

pub fn type_def(resource_type: &str) -> Result<&'static TypeDef, Rejection<Fhir>> {
    TYPES
        .iter()
        .find(|t| t.resource_type == resource_type)
        .ok_or_else(|| Rejection::not_found(format!("this server does not serve {resource_type} resources")))
}

impl TypeDef {
    pub fn access(&self, action: Action) -> Access {
        Access { action, resource_type: self.resource_type, data_category: self.data_category }
    }
}

/// A stored version as served: the content as received, with Vigil's version and time in `meta`.
pub fn served(mut content: Value, version: i32, received: DateTime<Utc>) -> Value {
    if let Some(obj) = content.as_object_mut() {
        let meta = obj.entry("meta").or_insert_with(|| json!({}));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert("versionId".into(), json!(version.to_string()));
            meta.insert("lastUpdated".into(), json!(instant(received)));
        }
    }
    content
}

pub fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn etag(version: i32) -> String {
    format!("W/\"{version}\"")
}

/// The base of this FHIR server's URLs (`https://host/fhir`).
pub fn base(req: &HttpRequest) -> String {
    let state = req.app_data::<actix_web::web::Data<crate::http::access::AuthState>>();
    match state {
        Some(state) => format!("{}/fhir", crate::http::access::smart::base_url(state)),
        None => "/fhir".into(),
    }
}

/// A FHIR JSON response.
pub fn fhir_json(status: actix_web::http::StatusCode, body: &Value) -> HttpResponse {
    HttpResponse::build(status).content_type("application/fhir+json").json(body)
}

/// One version of a resource as a response, with its ETag and Last-Modified.
pub fn version_response(status: actix_web::http::StatusCode, version: i32, resource: &Value) -> HttpResponse {
    let mut response = fhir_json(status, resource);
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&etag(version)) {
        response.headers_mut().insert(actix_web::http::header::ETAG, value);
    }
    response
}
