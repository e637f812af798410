//! A request id on every request and response, and one log line per request.
//!
//! An `X-Request-Id` sent by the caller (a proxy or the EHR) is kept when it is a plausible id,
//! so one id follows a request across systems; otherwise a UUID is generated. Handlers read it
//! with the [`RequestId`] extractor; the id is on the tracing span of everything the request logs.

use std::future::{Ready, ready};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use tracing::Instrument;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// Accepts a caller's id of 1 to 128 visible ASCII characters without spaces.
    pub fn parse(raw: &str) -> Option<Self> {
        let plausible = (1..=128).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic());
        plausible.then(|| Self(raw.to_owned()))
    }

    fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromRequest for RequestId {
    type Error = std::convert::Infallible;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        // The middleware always sets one; a handler mounted without it still gets a fresh id.
        ready(Ok(req.extensions().get::<RequestId>().cloned().unwrap_or_else(RequestId::generate)))
    }
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(&HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(RequestId::parse)
        .unwrap_or_else(RequestId::generate);
    req.extensions_mut().insert(id.clone());
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), route = tracing::field::Empty);
    let started = Instant::now();
    let mut res = next.call(req).instrument(span.clone()).await?;
    // Asked once routing has matched, the pattern is an index away; asked before, actix tries every
    // route's pattern again (a regular expression each), which was a twelfth of a read's CPU.
    let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    span.record("route", route.as_str());
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    crate::metrics::http_request(&route, res.request().method(), status, elapsed);
    span.in_scope(|| {
        tracing::info!(status, elapsed_ms = elapsed.as_secs_f64() * 1e3, "request finished");
    });
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        res.headers_mut().insert(HEADER, value);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::RequestId;

    #[test]
    fn keeps_plausible_caller_ids_only() {
        assert!(RequestId::parse("abc-123").is_some());
        assert!(RequestId::parse("").is_none());
        assert!(RequestId::parse("has space").is_none());
        assert!(RequestId::parse(&"x".repeat(129)).is_none());
        assert!(RequestId::parse("nul\u{0}").is_none());
    }
}
