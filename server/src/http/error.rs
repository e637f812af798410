//! The JSON API's one error shape: `{"error": {"code": "...", "message": "..."}}`, with the
//! request id in the `X-Request-Id` header. A 5xx message never says anything internal.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no such resource")]
    NotFound,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: String,
}

impl ApiError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            .json(Envelope { error: Body { code: self.code(), message: self.to_string() } })
    }
}

/// The answer for any path no route matches.
pub async fn not_found() -> HttpResponse {
    ApiError::NotFound.error_response()
}
