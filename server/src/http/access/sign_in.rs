//! Signing in with a username and password: `POST /auth/login` for an API token, and the shared
//! credential check the portal's sign-in form uses. `GET /.well-known/jwks.json` publishes the
//! keys Vigil's tokens are signed with.
//!
//! An unknown user, a wrong password, and a disabled account all get the same answer
//! after the same work (one argon2 verification), so the response says nothing about which
//! accounts exist.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use diesel::PgConnection;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use vigil_store::audit::{AuditEvent, Outcome};

use super::{AuthState, RequestContext};
use crate::auth::password::{self, NewPassword, Verified};
use crate::auth::users::{self, User, Username};
use crate::auth::{Role, mfa, throttle, tokens};
use crate::http::access::database::Database;
use crate::http::surface::{Api, Rejection, Surface};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(login).service(jwks);
}

#[derive(Deserialize)]
pub struct Credentials {
    pub username: String,
    pub password: SecretString,
    /// The second factor: a code from the authenticator, or a recovery code.
    #[serde(default)]
    pub code: Option<SecretString>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").finish_non_exhaustive()
    }
}

/// How far a sign-in got.
#[derive(Debug)]
pub enum SignedIn {
    /// Every factor given.
    Done(User),
    /// The password was right; the second factor is awaited (the attempt stays counted until it
    /// is given).
    NeedsCode(User),
    /// The password was right; the role requires a second factor that is not enrolled yet.
    MustEnrol(User),
}

#[post("/auth/login")]
async fn login(
    req: actix_web::HttpRequest,
    body: web::Json<Credentials>,
    db: web::Data<Database>,
    state: web::Data<AuthState>,
) -> Result<HttpResponse, Rejection<Api>> {
    let context = RequestContext::of(&req);
    let user = match check_credentials::<Api>(&db, &state, &context, body.into_inner()).await? {
        SignedIn::Done(user) => user,
        SignedIn::NeedsCode(_) => {
            return Err(Rejection::new(
                StatusCode::UNAUTHORIZED,
                "mfa_required",
                "send the code from your authenticator app (or a recovery code) as \"code\"",
            ));
        }
        SignedIn::MustEnrol(_) => {
            return Err(Rejection::new(
                StatusCode::FORBIDDEN,
                "mfa_enrollment_required",
                "your role requires a second factor: sign in to the portal to enrol one",
            ));
        }
    };
    let pwd = Some(user.password_changed_at.timestamp_micros());
    let subject = format!("user:{}", user.id);
    let (token, claims) = tokens::issue(&state.keys, &state.tokens, &subject, state.token_ttl_secs, None, pwd)
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

/// Checks a username, password and (when enrolled) second factor with throttling, and audits the
/// attempt. Every failure looks the same to the caller. The attempt is counted before the password
/// is checked, and no database connection is held while argon2 runs.
pub async fn check_credentials<S: Surface>(
    db: &web::Data<Database>,
    state: &AuthState,
    context: &RequestContext,
    credentials: Credentials,
) -> Result<SignedIn, Rejection<S>> {
    let db = db.clone().into_inner();
    let context = context.clone();
    let required = state.mfa_required.clone();
    web::block(move || sign_in(&db, &required, &context, &credentials)).await.map_err(|e| Rejection::internal(&e))?
}

fn sign_in<S>(
    db: &Database,
    mfa_required: &[Role],
    context: &RequestContext,
    credentials: &Credentials,
) -> Result<SignedIn, Rejection<S>> {
    let address = context.source_address.clone().unwrap_or_else(|| "unknown".into());
    let unavailable = |e: &dyn crate::http::fault::Fault| Rejection::fault(e);
    let wrong = || Rejection::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "wrong username or password");
    // A name that cannot be a username is counted against the address only and never stored.
    let account = Username::parse(&credentials.username).ok().map(|u| u.as_str().to_owned());
    let throttle_key = account.clone().unwrap_or_else(|| "(invalid)".into());
    // The name tried goes into the audit row, escaped and bounded: it is whatever the client sent.
    let tried: String = credentials.username.escape_debug().take(64).collect();
    let record = |conn: &mut PgConnection, user: Option<&User>, outcome, detail: &str| {
        record(conn, context, &tried, user, outcome, detail)
    };
    let found = {
        let mut conn = db.conn().map_err(|e| unavailable(&e))?;
        if let Some(wait) = throttle::attempt(&mut conn, &throttle_key, &address).map_err(|e| unavailable(&e))? {
            record(&mut conn, None, Outcome::Denied, "throttled")?;
            return Err(Rejection::throttled(wait.as_secs()));
        }
        match &account {
            Some(name) => users::find(&mut conn, name).map_err(|e| unavailable(&e))?,
            None => None,
        }
    };
    let verified = password::verify(found.as_ref().map(|(_, hash)| hash.as_str()), &credentials.password);
    let mut conn = db.conn().map_err(|e| unavailable(&e))?;
    let user = match found {
        Some((user, _)) if verified != Verified::No && !user.disabled => user,
        _ => {
            record(&mut conn, None, Outcome::Failure, "wrong credentials")?;
            return Err(wrong());
        }
    };
    if verified == Verified::YesRehash
        && let Ok(new) = NewPassword::parse(credentials.password.clone()).and_then(|p| p.hash())
    {
        users::rehash(&mut conn, user.id, &new).map_err(|e| unavailable(&e))?;
    }
    if user.mfa_enrolled {
        let Some(code) = &credentials.code else {
            record(&mut conn, Some(&user), Outcome::Failure, "password right; second factor awaited")?;
            return Ok(SignedIn::NeedsCode(user));
        };
        if !mfa::verify(&mut conn, &user, code.expose_secret()).map_err(|e| unavailable(&e))? {
            record(&mut conn, Some(&user), Outcome::Failure, "wrong second factor")?;
            return Err(wrong());
        }
    }
    throttle::succeeded(&mut conn, &throttle_key, &address).map_err(|e| unavailable(&e))?;
    if !user.mfa_enrolled && mfa_required.contains(&user.role) {
        record(&mut conn, Some(&user), Outcome::Success, "password right; must enrol a second factor")?;
        return Ok(SignedIn::MustEnrol(user));
    }
    let how = if user.mfa_enrolled { "signed in with a second factor" } else { "signed in" };
    record(&mut conn, Some(&user), Outcome::Success, how)?;
    Ok(SignedIn::Done(user))
}

/// Checks the second factor of a portal sign-in awaiting it (throttled like a password); true when
/// it is right, which also clears the attempts counted.
pub(crate) fn second_factor<S>(
    db: &Database,
    context: &RequestContext,
    user: &User,
    code: &str,
) -> Result<bool, Rejection<S>> {
    let address = context.source_address.clone().unwrap_or_else(|| "unknown".into());
    let unavailable = |e: &dyn crate::http::fault::Fault| Rejection::fault(e);
    let mut conn = db.conn().map_err(|e| unavailable(&e))?;
    if let Some(wait) = throttle::attempt(&mut conn, &user.username, &address).map_err(|e| unavailable(&e))? {
        record(&mut conn, context, &user.username, Some(user), Outcome::Denied, "throttled")?;
        return Err(Rejection::throttled(wait.as_secs()));
    }
    if !mfa::verify(&mut conn, user, code).map_err(|e| unavailable(&e))? {
        record(&mut conn, context, &user.username, Some(user), Outcome::Failure, "wrong second factor")?;
        return Ok(false);
    }
    throttle::succeeded(&mut conn, &user.username, &address).map_err(|e| unavailable(&e))?;
    record(&mut conn, context, &user.username, Some(user), Outcome::Success, "signed in with a second factor")?;
    Ok(true)
}

/// Audits a sign-in attempt: who it was (when known), the account name tried, how it ended.
fn record<S>(
    conn: &mut PgConnection,
    context: &RequestContext,
    tried: &str,
    user: Option<&User>,
    outcome: Outcome,
    detail: &str,
) -> Result<(), Rejection<S>> {
    let actor = user.map_or_else(|| "anonymous".to_owned(), |u| format!("user:{}", u.username));
    let event = AuditEvent {
        resource_type: Some("User".into()),
        resource_id: Some(tried.to_owned()),
        detail: Some(detail.into()),
        ..context.event(actor, user.map_or("none", |u| u.role.as_str()), "sign-in", outcome)
    };
    super::audit_or_refuse(conn, &event)
}
