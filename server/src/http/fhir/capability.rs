//! `GET /fhir/metadata`: a CapabilityStatement that lists exactly what this server does, built
//! from the same type table the routes use, so the two cannot disagree.

use actix_web::{HttpResponse, get, web};
use serde_json::{Value, json};

use super::TYPES;
use super::search::Param;
use crate::http::access::AuthState;

fn param_type(param: Param) -> &'static str {
    match param {
        Param::Patient => "reference",
        Param::Token(_) | Param::LoincCode | Param::ConditionCode | Param::Identifier => "token",
        Param::Instant(_) | Param::Period | Param::BirthDate => "date",
        Param::Name => "string",
    }
}

#[get("/fhir/metadata")]
pub async fn metadata(state: web::Data<AuthState>) -> HttpResponse {
    let token = crate::http::access::smart::token_url(&state);
    let resources: Vec<Value> = TYPES
        .iter()
        .map(|t| {
            let mut params: Vec<Value> = vec![json!({ "name": "_id", "type": "token" })];
            params.extend(t.params.iter().map(|(name, p)| json!({ "name": name, "type": param_type(*p) })));
            params.push(json!({ "name": "_lastUpdated", "type": "date" }));
            let interactions: Vec<Value> =
                ["read", "vread", "history-instance", "search-type", "create", "update", "delete"]
                    .iter()
                    .map(|code| json!({ "code": code }))
                    .collect();
            json!({
                "type": t.resource_type,
                "interaction": interactions,
                "versioning": "versioned-update",
                "readHistory": true,
                "updateCreate": true,
                "conditionalCreate": true,
                "searchParam": params,
            })
        })
        .collect();
    let mut resources = resources;
    resources.push(json!({
        "type": "RiskAssessment",
        "interaction": [{ "code": "read" }, { "code": "search-type" }],
        "searchParam": [
            { "name": "subject", "type": "reference", "documentation": "required" },
            { "name": "date", "type": "date" },
        ],
        "documentation": "Scores of Vigil's learned models; _sort=date or -date, _count",
    }));
    super::fhir_json(
        actix_web::http::StatusCode::OK,
        &json!({
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": "2026-11-23",
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
                "interaction": [{ "code": "transaction" }, { "code": "batch" }],
                "operation": [{ "name": "import", "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/import" }],
            }],
        }),
    )
}
