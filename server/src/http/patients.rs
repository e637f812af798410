//! Patient demographics as the portal's JSON: `GET /api/patients/{id}`, read from the patients
//! table through the guard. (`GET /fhir/Patient/{id}` serves the resource as received: see
//! `http::fhir::read`.)

use actix_web::{HttpResponse, get, web};
use diesel::prelude::*;
use serde_json::json;
use vigil_store::models::Patient;
use vigil_store::schema::patients;

use crate::auth::policy::Action;
use crate::http::access::{Access, Guard};
use crate::http::surface::{Api, Rejection};

const READ_PATIENT: Access = Access { action: Action::Read, resource_type: "Patient", data_category: "demographics" };

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(api_read);
}

fn load(conn: &mut PgConnection, id: i64) -> QueryResult<Option<Patient>> {
    patients::table.find(id).select(Patient::as_select()).first(conn).optional()
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
