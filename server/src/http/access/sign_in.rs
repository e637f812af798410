//! Signing in with a username and password: `POST /auth/login` for an API token, and the shared
//! credential check the portal's sign-in form uses. `GET /.well-known/jwks.json` publishes the
//! keys Vigil's tokens are signed with.
//!
//! An unknown user, a wrong password, and a disabled or locked account all get the same answer
//! after the same work (one argon2 verification), so the response says nothing about which
//! accounts exist.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use diesel::PgConnection;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;
use vigil_store::audit::{self, AuditEvent, Outcome};

use super::{AuthState, RequestContext};
use crate::auth::password::{self, NewPassword, Verified};
use crate::auth::users::{self, User};
use crate::auth::{throttle, tokens};
use crate::http::access::database::Database;
use crate::http::surface::{Api, Rejection, Surface};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(login).service(jwks);
}

#[derive(Deserialize)]
pub struct Credentials {
    pub username: String,
    pub password: SecretString,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").finish_non_exhaustive()
    }
}

#[post("/auth/login")]
async fn login(
    req: actix_web::HttpRequest,
    body: web::Json<Credentials>,
    db: web::Data<Database>,
    state: web::Data<AuthState>,
) -> Result<HttpResponse, Rejection<Api>> {
    let context = RequestContext::of(&req);
    let user = check_credentials::<Api>(&db, &context, body.into_inner()).await?;
    let (token, claims) =
        tokens::issue(&state.keys, &state.tokens, &format!("user:{}", user.id), state.token_ttl_secs, None)
            .map_err(|e| Rejection::internal(&e))?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": claims.exp - claims.iat,
    })))
}

#[get("/.well-known/jwks.json")]
async fn jwks(state: web::Data<AuthState>) -> HttpResponse {
    HttpResponse::Ok().json(state.keys.jwks())
}

/// Checks a username and password with throttling, and audits the attempt. Returns the user on
/// success; every failure looks the same to the caller.
pub async fn check_credentials<S: Surface>(
    db: &web::Data<Database>,
    context: &RequestContext,
    credentials: Credentials,
) -> Result<User, Rejection<S>> {
    let db = db.clone().into_inner();
    let context = context.clone();
    web::block(move || {
        let mut conn = db.conn().map_err(|e| Rejection::unavailable(&e))?;
        sign_in(&mut conn, &context, &credentials)
    })
    .await
    .map_err(|e| Rejection::internal(&e))?
}

fn sign_in<S>(
    conn: &mut PgConnection,
    context: &RequestContext,
    credentials: &Credentials,
) -> Result<User, Rejection<S>> {
    let address = context.source_address.clone().unwrap_or_else(|| "unknown".into());
    let account = credentials.username.trim().to_lowercase();
    let unavailable = |e: &dyn std::fmt::Display| Rejection::unavailable(e);
    if let Some(wait) = throttle::wait_needed(conn, &account, &address).map_err(|e| unavailable(&e))? {
        record(conn, context, None, Outcome::Denied, "throttled")?;
        return Err(Rejection::throttled(wait.as_secs()));
    }
    let found = users::find(conn, &account).map_err(|e| unavailable(&e))?;
    let verified = password::verify(found.as_ref().map(|(_, hash)| hash.as_str()), &credentials.password);
    match found {
        Some((user, _)) if verified != Verified::No && !user.disabled && !user.locked => {
            throttle::succeeded(conn, &account, &address).map_err(|e| unavailable(&e))?;
            if verified == Verified::YesRehash
                && let Ok(new) = NewPassword::parse(credentials.password.clone()).and_then(|p| p.hash())
            {
                users::rehash(conn, user.id, &new).map_err(|e| unavailable(&e))?;
            }
            record(conn, context, Some(&user), Outcome::Success, "signed in")?;
            Ok(user)
        }
        _ => {
            throttle::failed(conn, &account, &address).map_err(|e| unavailable(&e))?;
            record(conn, context, None, Outcome::Failure, "wrong credentials")?;
            Err(Rejection::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "wrong username or password"))
        }
    }
}

fn record<S>(
    conn: &mut PgConnection,
    context: &RequestContext,
    user: Option<&User>,
    outcome: Outcome,
    detail: &str,
) -> Result<(), Rejection<S>> {
    let actor = user.map_or_else(|| "anonymous".to_owned(), |u| format!("user:{}", u.username));
    let event = AuditEvent {
        detail: Some(detail.into()),
        ..context.event(actor, user.map_or("none", |u| u.role.as_str()), "sign-in", outcome)
    };
    audit::append(conn, &event).map(|_| ()).map_err(|e| Rejection::unavailable(&e))
}
