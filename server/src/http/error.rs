//! The answer for a path no route matches, in the error shape of the surface the path belongs to:
//! an OperationOutcome under `/fhir`, the JSON envelope under `/api` and `/auth`, a page elsewhere.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};

use crate::http::surface::{Api, Fhir, Portal, Surface};

pub async fn not_found(req: HttpRequest) -> HttpResponse {
    let path = req.path();
    let (status, code, message) = (StatusCode::NOT_FOUND, "not_found", "no such resource");
    if path == "/fhir" || path.starts_with("/fhir/") {
        Fhir::render(status, code, message)
    } else if path.starts_with("/api/") || path.starts_with("/auth/") || path.starts_with("/.well-known/") {
        Api::render(status, code, message)
    } else {
        Portal::render(status, code, "There is no page at this address.")
    }
}
