//! Each HTTP surface has one error shape: the JSON API an envelope
//! `{"error": {"code", "message"}}`, the FHIR API an OperationOutcome, the portal an HTML page.
//! Extractors and handlers are generic over the surface, so one rejection renders right wherever
//! it happens.

use std::marker::PhantomData;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

pub trait Surface: 'static {
    /// The media types a request body that changes something may have on this surface; empty
    /// for the portal, whose forms carry and check their own CSRF token. Keeping the types a
    /// cross-site form can send (urlencoded, multipart, text/plain) off the APIs keeps their
    /// writes out of a forged form's reach.
    const BODY_TYPES: &'static [&'static str];

    /// Requests carry a JWT their client signed for the endpoint called (CDS Hooks), not an
    /// access token Vigil issued.
    const SIGNED_REQUESTS: bool = false;

    /// Reads on this surface may be answered from a read replica (`database.read_url`).
    const READS_FROM_REPLICA: bool = false;

    fn render(status: StatusCode, code: &'static str, message: &str) -> HttpResponse;
}

#[derive(Debug)]
pub struct Api;
#[derive(Debug)]
pub struct Fhir;
#[derive(Debug)]
pub struct Portal;
/// The CDS Hooks services: errors in the JSON API's envelope, requests signed by the CDS client.
#[derive(Debug)]
pub struct Cds;

impl Surface for Api {
    const BODY_TYPES: &'static [&'static str] = &["application/json"];

    fn render(status: StatusCode, code: &'static str, message: &str) -> HttpResponse {
        HttpResponse::build(status).json(json!({ "error": { "code": code, "message": message } }))
    }
}

impl Surface for Fhir {
    const BODY_TYPES: &'static [&'static str] = &[
        "application/fhir+json",
        "application/json",
        "application/fhir+ndjson",
        "application/ndjson",
        "application/x-ndjson",
    ];

    const READS_FROM_REPLICA: bool = true;

    fn render(status: StatusCode, code: &'static str, message: &str) -> HttpResponse {
        // FHIR issue-type codes for the statuses Vigil answers with.
        let issue_code = match status.as_u16() {
            400 | 422 => "invalid",
            401 => "login",
            403 => "forbidden",
            404 => "not-found",
            409 => "conflict",
            410 => "deleted",
            412 => "conflict",
            413 => "too-costly",
            429 => "throttled",
            _ => "exception",
        };
        HttpResponse::build(status).content_type("application/fhir+json").json(json!({
            "resourceType": "OperationOutcome",
            "issue": [{ "severity": "error", "code": issue_code, "details": { "text": code }, "diagnostics": message }],
        }))
    }
}

impl Surface for Cds {
    const BODY_TYPES: &'static [&'static str] = &["application/json"];
    const SIGNED_REQUESTS: bool = true;

    fn render(status: StatusCode, code: &'static str, message: &str) -> HttpResponse {
        Api::render(status, code, message)
    }
}

impl Surface for Portal {
    const BODY_TYPES: &'static [&'static str] = &[];

    fn render(status: StatusCode, code: &'static str, message: &str) -> HttpResponse {
        let page = crate::http::portal::ErrorPage { status: status.as_u16(), code, message };
        HttpResponse::build(status).insert_header(ContentType::html()).body(page.render_or_plain())
    }
}

/// A refused request, rendered in the surface's error shape. 5xx messages never say anything
/// internal; the cause goes to the log with the request id.
pub struct Rejection<S> {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    retry_after: Option<u64>,
    authenticate: bool,
    _surface: PhantomData<fn() -> S>,
}

impl<S> Rejection<S> {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), retry_after: None, authenticate: false, _surface: PhantomData }
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self { authenticate: true, ..Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message) }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, "gone", message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn throttled(wait_secs: u64) -> Self {
        Self {
            retry_after: Some(wait_secs.max(1)),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "throttled", "too many failed attempts; try again later")
        }
    }

    /// The principal's API rate limit is used up.
    pub fn rate_limited(wait_secs: u64) -> Self {
        Self {
            retry_after: Some(wait_secs.max(1)),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many requests; retry after the given time")
        }
    }

    /// A server-side failure: logged with its cause and an error id, answered with the id only.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        let id = uuid::Uuid::new_v4();
        tracing::error!(error_id = %id, error = %cause, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("the server could not complete the request (error id {id})"),
        )
    }

    /// A failure on the way to the database: 503 when it was out of reach, else the server's own
    /// fault (500 with an error id).
    pub fn fault(cause: &dyn crate::http::fault::Fault) -> Self {
        if cause.out_of_reach() {
            vigil_store::pool::connection_lost();
            Self::unavailable(&cause)
        } else {
            Self::internal(&cause)
        }
    }

    /// The database is out of reach: the client may retry. (Use [`Rejection::fault`] for an error
    /// that may also be the server's own.)
    pub fn unavailable(cause: &dyn std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "database unavailable for a request");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the service is temporarily unavailable; retry shortly",
        )
    }
}

impl<S> std::fmt::Debug for Rejection<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Rejection({} {})", self.status, self.code)
    }
}

impl<S> std::fmt::Display for Rejection<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl<S: Surface> ResponseError for Rejection<S> {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = S::render(self.status, self.code, &self.message);
        if let Some(secs) = self.retry_after
            && let Ok(value) = header::HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        if self.authenticate {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        response
    }
}
