//! SMART Backend Services: `POST /auth/token` (client_credentials with a signed client assertion)
//! and `GET /.well-known/smart-configuration`. Errors follow OAuth 2.0 (RFC 6749 section 5.2).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;
use serde_json::json;
use vigil_store::audit::{self, AuditEvent, Outcome};

use super::{AuthState, RequestContext};
use crate::auth::clients::{self, ASSERTION_TYPE, ClientError, MAX_ASSERTION_SECS};
use crate::auth::principal::Scopes;
use crate::auth::tokens;
use crate::http::access::database::Database;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(token).service(configuration);
}

/// The token endpoint's URL, which client assertions must name as their audience: made from
/// `server.public_url`, never from the request (its Host header is the client's to choose).
pub(crate) fn token_url(state: &AuthState) -> String {
    format!("{}/auth/token", state.public_url)
}

/// The base URL clients reach this server at (`server.public_url`).
pub(crate) fn base_url(state: &AuthState) -> &str {
    &state.public_url
}

#[get("/.well-known/smart-configuration")]
async fn configuration(state: web::Data<AuthState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "token_endpoint": token_url(&state),
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "grant_types_supported": ["client_credentials"],
        "scopes_supported": ["system/*.read", "system/*.write", "system/*.*"],
        "capabilities": ["client-confidential-asymmetric"],
    }))
}

#[derive(Deserialize)]
struct TokenRequest {
    grant_type: String,
    scope: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({ "error": error, "error_description": description }))
}

#[post("/auth/token")]
async fn token(
    req: HttpRequest,
    form: web::Form<TokenRequest>,
    db: web::Data<Database>,
    state: web::Data<AuthState>,
) -> HttpResponse {
    let form = form.into_inner();
    if form.grant_type != "client_credentials" {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "only client_credentials is supported");
    }
    if form.client_assertion_type.as_deref() != Some(ASSERTION_TYPE) {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "client_assertion_type must be jwt-bearer");
    }
    let Some(assertion) = form.client_assertion else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "client_assertion is missing");
    };
    let requested = match form.scope.as_deref().map(Scopes::parse) {
        Some(Ok(scopes)) => scopes,
        Some(Err(e)) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", &e),
        None => return oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", "scope is missing"),
    };
    let url = token_url(&state);
    let context = RequestContext::of(&req);
    let db = db.into_inner();
    let outcome = web::block(move || {
        let mut conn = db.conn().map_err(|e| e.to_string())?;
        let verified = clients::verify_assertion(&mut conn, &assertion, &url);
        let (actor, outcome, detail) = match &verified {
            Ok(client) => (format!("client:{}", client.client_id), Outcome::Success, "token issued".to_owned()),
            Err(e) => ("anonymous".to_owned(), Outcome::Failure, e.to_string()),
        };
        let event = AuditEvent { detail: Some(detail), ..context.event(actor, "system", "token", outcome) };
        audit::append(&mut conn, &event).map_err(|e| e.to_string())?;
        Ok::<_, String>(verified)
    })
    .await;
    let client = match outcome {
        Ok(Ok(Ok(client))) => client,
        Ok(Ok(Err(ClientError::Database(e)))) => {
            tracing::warn!(error = %e, "token request failed");
            return oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "retry shortly");
        }
        Ok(Ok(Err(e @ ClientError::Stored(_)))) => {
            tracing::error!(error = %e, "a registered client's data is unusable");
            return oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "the client's registration is unusable",
            );
        }
        Ok(Ok(Err(e))) => {
            tracing::info!(reason = %e, "client assertion rejected");
            return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", &e.to_string());
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "token request failed");
            return oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "retry shortly");
        }
        Err(e) => {
            tracing::warn!(error = %e, "token request failed");
            return oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "retry shortly");
        }
    };
    let Some(granted) = client.registered.grant(&requested) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "none of the requested scopes is registered for this client",
        );
    };
    let ttl = state.token_ttl_secs.min(MAX_ASSERTION_SECS);
    match tokens::issue(
        &state.keys,
        &state.tokens,
        &format!("client:{}", client.client_id),
        ttl,
        Some(granted.to_string()),
        None,
    ) {
        Ok((token, claims)) => HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(json!({
            "access_token": token,
            "token_type": "bearer",
            "expires_in": claims.exp - claims.iat,
            "scope": granted.to_string(),
        })),
        Err(e) => {
            tracing::error!(error = %e, "could not sign an access token");
            oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "could not issue a token")
        }
    }
}
