//! What a request that changes something must show besides its credentials: a body of a type its
//! surface takes, and, when a portal session cookie authenticates it, that it comes from this
//! site's own pages (the browser's `Sec-Fetch-Site` or `Origin`, and the session's CSRF token).

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest};

use super::AuthState;
use crate::auth::sessions::Session;
use crate::http::surface::{Rejection, Surface};

/// A write to an API carries JSON (or NDJSON to `$import`): 415 otherwise, so that no cross-site
/// form (urlencoded, multipart or text/plain) can reach it.
pub(super) fn check_body_type<S: Surface>(req: &HttpRequest) -> Result<(), Rejection<S>> {
    if S::BODY_TYPES.is_empty() {
        return Ok(());
    }
    let headers = req.headers();
    let length = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let has_body = length.is_some_and(|n| n > 0)
        || headers.contains_key(header::TRANSFER_ENCODING)
        || headers.contains_key(header::CONTENT_TYPE);
    if !has_body {
        return Ok(());
    }
    let media = req.content_type().to_ascii_lowercase();
    if S::BODY_TYPES.contains(&media.as_str()) {
        return Ok(());
    }
    Err(Rejection::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        format!("a request body here must be one of {}", S::BODY_TYPES.join(", ")),
    ))
}

/// A write authenticated by a session cookie must come from this site: a browser says where a
/// request comes from (`Sec-Fetch-Site`, else `Origin`), and the session's CSRF token must be in
/// the `X-CSRF-Token` header (portal forms carry it in a field instead, which their handlers check).
pub(super) fn check_session_write<S: Surface>(
    req: &HttpRequest,
    state: &AuthState,
    session: &Session,
    csrf_header: Option<&str>,
) -> Result<(), Rejection<S>> {
    if cross_site(req, state) {
        return Err(Rejection::forbidden("a request from another site may not change anything here"));
    }
    let form = S::BODY_TYPES.is_empty() && req.content_type() == "application/x-www-form-urlencoded";
    if !form && csrf_header != Some(session.csrf_token.as_str()) {
        return Err(Rejection::forbidden("missing or wrong CSRF token"));
    }
    Ok(())
}

/// Whether the browser says the request comes from another site (`Sec-Fetch-Site`, else an
/// `Origin` that is not `server.public_url`); a client that says neither is not a browser form.
pub(crate) fn cross_site(req: &HttpRequest, state: &AuthState) -> bool {
    let headers = req.headers();
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some(site) => !matches!(site, "same-origin" | "none"),
        None => match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
            Some(origin) => origin != super::smart::base_url(state),
            None => false,
        },
    }
}
