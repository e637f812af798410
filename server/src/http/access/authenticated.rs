//! Who is asking: [`Authenticated`] establishes the principal of a request from an API token, a
//! SMART access token or a portal session (checking the user or client is still active), then the
//! CSRF rules of cookie writes and the per-principal rate limit.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::http::Method;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use diesel::prelude::*;
use vigil_store::schema::api_clients;

use super::RequestContext;
use super::csrf;
use crate::auth::keys::SigningKeys;
use crate::auth::principal::{Principal, Scopes};
use crate::auth::sessions::{self, Session, SessionLimits};
use crate::auth::tokens::{self, TokenSettings};
use crate::auth::users;
use crate::http::access::database::Database;
use crate::http::access::security_events::SecurityEvents;
use crate::http::rate_limit::ApiRateLimit;
use crate::http::surface::{Rejection, Surface};

/// What authentication needs, shared by all workers.
#[derive(Debug)]
pub struct AuthState {
    pub keys: SigningKeys,
    pub tokens: TokenSettings,
    pub token_ttl_secs: u64,
    pub sessions: SessionLimits,
    pub break_glass: std::time::Duration,
    /// `server.public_url`, without a trailing slash.
    pub public_url: String,
    /// Roles that must sign in with a second factor.
    pub mfa_required: Vec<crate::auth::Role>,
    /// Access tokens whose signature was verified already.
    pub verified: tokens::VerifiedTokens,
}

/// The authenticated principal of a request, and the portal session it came through, if any.
#[derive(Debug)]
pub struct Authenticated<S> {
    pub principal: Principal,
    pub session: Option<Session>,
    pub context: RequestContext,
    _surface: PhantomData<fn() -> S>,
}

impl<S: Surface> FromRequest for Authenticated<S> {
    type Error = Rejection<S>;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (Some(db), Some(state)) =
                (req.app_data::<web::Data<Database>>(), req.app_data::<web::Data<AuthState>>())
            else {
                return Err(Rejection::internal(&"authentication is not configured for this route"));
            };
            let context = RequestContext::of(&req);
            let bearer = req
                .headers()
                .get(actix_web::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")).map(str::to_owned));
            let cookie = req.cookie(sessions::COOKIE).map(|c| c.value().to_owned());
            let csrf_header = req.headers().get("x-csrf-token").and_then(|v| v.to_str().ok()).map(str::to_owned);
            let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
            let (db, state) = (db.clone().into_inner(), state.clone().into_inner());
            // A CDS client signs each request for the endpoint it calls.
            let signed_for = S::SIGNED_REQUESTS.then(|| format!("{}{}", state.public_url, req.path()));
            let shared = Arc::clone(&state);
            let found = web::block(move || match signed_for {
                Some(endpoint) => authenticate_signed(&db, bearer, &endpoint),
                None => authenticate(&db, &shared, bearer, cookie),
            })
            .await;
            let (principal, session) = match found {
                Ok(Ok(Some(found))) => found,
                Ok(Ok(None)) => return Err(Rejection::unauthenticated("sign in, or send a valid bearer token")),
                Ok(Err(AuthFailure::Token(e))) => {
                    tracing::info!(reason = %e, "bearer token rejected");
                    if let Some(events) = req.app_data::<web::Data<SecurityEvents>>() {
                        events.record(context.source_address.as_deref(), "token-rejected", &e);
                    }
                    return Err(Rejection::unauthenticated("the bearer token is not valid"));
                }
                Ok(Err(AuthFailure::Store(e))) => return Err(Rejection::fault(&e)),
                Ok(Err(AuthFailure::User(e))) => return Err(Rejection::fault(&e)),
                Ok(Err(AuthFailure::Stored(e))) => return Err(Rejection::internal(&e)),
                Err(e) => return Err(Rejection::internal(&e)),
            };
            if unsafe_method {
                csrf::check_body_type::<S>(&req)?;
                if let Some(session) = &session
                    && let Err(rejection) =
                        csrf::check_session_write::<S>(&req, &state, session, csrf_header.as_deref())
                {
                    if let Some(events) = req.app_data::<web::Data<SecurityEvents>>() {
                        events.record(context.source_address.as_deref(), "csrf-rejected", &rejection.message);
                    }
                    return Err(rejection);
                }
            }
            if let Some(limit) = req.app_data::<web::Data<ApiRateLimit>>()
                && let Err(wait) = limit.check(&principal.actor())
            {
                return Err(Rejection::rate_limited(wait.as_secs() + 1));
            }
            req.extensions_mut().insert(principal.actor());
            Ok(Self { principal, session, context, _surface: PhantomData })
        })
    }
}

#[derive(Debug)]
enum AuthFailure {
    Token(String),
    Store(vigil_store::StoreError),
    User(users::UserError),
    /// What is stored for a client is unusable: a server fault.
    Stored(String),
}

impl From<diesel::result::Error> for AuthFailure {
    fn from(e: diesel::result::Error) -> Self {
        Self::Store(e.into())
    }
}

/// A request signed by a CDS client for `endpoint` (no session, no Vigil token).
fn authenticate_signed(
    db: &Arc<Database>,
    bearer: Option<Option<String>>,
    endpoint: &str,
) -> Result<Option<(Principal, Option<Session>)>, AuthFailure> {
    let Some(header) = bearer else { return Ok(None) };
    let token = header.ok_or_else(|| AuthFailure::Token("not a bearer authorization".into()))?;
    let mut conn = db.conn().map_err(AuthFailure::Store)?;
    match crate::auth::clients::verify_cds_jwt(&mut conn, &token, endpoint) {
        Ok(client) => Ok(Some((Principal::Client { client_id: client.client_id, scopes: client.registered }, None))),
        Err(crate::auth::clients::ClientError::Database(e)) => Err(AuthFailure::Store(e.into())),
        Err(crate::auth::clients::ClientError::Stored(e)) => Err(AuthFailure::Stored(e)),
        Err(e) => Err(AuthFailure::Token(e.to_string())),
    }
}

fn authenticate(
    db: &Arc<Database>,
    state: &AuthState,
    bearer: Option<Option<String>>,
    cookie: Option<String>,
) -> Result<Option<(Principal, Option<Session>)>, AuthFailure> {
    if let Some(header) = bearer {
        let token = header.ok_or_else(|| AuthFailure::Token("not a bearer authorization".into()))?;
        let claims =
            state.verified.verify(&state.keys, &state.tokens, &token).map_err(|e| AuthFailure::Token(e.to_string()))?;
        let mut conn = db.conn().map_err(AuthFailure::Store)?;
        if let Some(id) = claims.sub.strip_prefix("user:").and_then(|id| id.parse().ok()) {
            let user = users::by_id(&mut conn, id).map_err(AuthFailure::User)?;
            return match user {
                Some(user) if user.disabled => Err(AuthFailure::Token("the account is disabled".into())),
                Some(user) if claims.pwd != Some(user.password_changed_at.timestamp_micros()) => {
                    Err(AuthFailure::Token("issued before the last password change".into()))
                }
                Some(user) => Ok(Some((Principal::User(user), None))),
                None => Err(AuthFailure::Token("no such user".into())),
            };
        }
        if let Some(client_id) = claims.sub.strip_prefix("client:") {
            let active: Option<String> = api_clients::table
                .filter(api_clients::client_id.eq(client_id).and(api_clients::disabled_at.is_null()))
                .select(api_clients::client_id)
                .first(&mut conn)
                .optional()?;
            let scopes = claims.scope.as_deref().map(Scopes::parse);
            return match (active, scopes) {
                (Some(client_id), Some(Ok(scopes))) => Ok(Some((Principal::Client { client_id, scopes }, None))),
                _ => Err(AuthFailure::Token("the client is disabled or the token has no scopes".into())),
            };
        }
        return Err(AuthFailure::Token("unknown subject".into()));
    }
    let Some(secret) = cookie else { return Ok(None) };
    let mut conn = db.conn().map_err(AuthFailure::Store)?;
    let Some(session) = sessions::resume(&mut conn, &secret, &state.sessions)? else { return Ok(None) };
    // A sign-in still awaiting its second factor (or an enrolment) is no sign-in.
    if session.stage != sessions::Stage::Full {
        return Ok(None);
    }
    match users::by_id(&mut conn, session.user_id).map_err(AuthFailure::User)? {
        // A lock stops new sign-ins, not the sessions its owner already has.
        Some(user) if !user.disabled => Ok(Some((Principal::User(user), Some(session)))),
        _ => {
            sessions::end(&mut conn, session.id)?;
            Ok(None)
        }
    }
}
