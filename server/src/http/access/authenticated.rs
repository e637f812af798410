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
use crate::auth::known::{Known, KnownPrincipals, Subject};
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
    /// The users and clients tokens name, as last read, while nothing changed since.
    pub known: Arc<KnownPrincipals>,
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
            // Most API calls carry a token already verified for a user or client that has not
            // changed since: no database, no thread hand-off.
            let remembered = match (&signed_for, &bearer) {
                (None, Some(Some(token))) => remembered(&state, token),
                _ => None,
            };
            let found = match remembered {
                Some(found) => Ok(found.map(|principal| Some((principal, None)))),
                None => {
                    let (shared, db) = (Arc::clone(&state), Arc::clone(&db));
                    web::block(move || match signed_for {
                        Some(endpoint) => authenticate_signed(&db, bearer, &endpoint),
                        None => authenticate(&db, &shared, bearer, cookie),
                    })
                    .await
                }
            };
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
                db.writing(&principal.actor());
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

impl AuthFailure {
    /// The database was out of reach (so another may answer).
    fn out_of_reach(&self) -> bool {
        use crate::http::fault::Fault;
        match self {
            Self::Store(e) => e.out_of_reach(),
            Self::User(e) => e.out_of_reach(),
            Self::Token(_) | Self::Stored(_) => false,
        }
    }
}

impl From<vigil_store::StoreError> for AuthFailure {
    fn from(e: vigil_store::StoreError) -> Self {
        Self::Store(e)
    }
}

/// What the database holds of a token's subject.
fn look_up(conn: &mut PgConnection, subject: &Subject) -> Result<Known, AuthFailure> {
    Ok(match subject {
        Subject::User(id) => Known::User(users::by_id(conn, *id).map_err(AuthFailure::User)?),
        Subject::Client(client_id) => Known::Client(
            api_clients::table
                .filter(api_clients::client_id.eq(client_id).and(api_clients::disabled_at.is_null()))
                .select(api_clients::id)
                .first::<i64>(conn)
                .optional()?
                .is_some(),
        ),
    })
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

/// The principal of a bearer token from what is remembered of its subject, without the database;
/// None when the token is not verified yet or its subject not remembered.
fn remembered(state: &AuthState, token: &str) -> Option<Result<Principal, AuthFailure>> {
    let claims = state.verified.verify(&state.keys, &state.tokens, token).ok()?;
    let known = state.known.get(&subject_of(&claims).ok()?)?;
    Some(principal_of(&claims, known))
}

fn subject_of(claims: &tokens::Claims) -> Result<Subject, AuthFailure> {
    if let Some(id) = claims.sub.strip_prefix("user:").and_then(|id| id.parse().ok()) {
        return Ok(Subject::User(id));
    }
    if let Some(client_id) = claims.sub.strip_prefix("client:") {
        return Ok(Subject::Client(client_id.to_owned()));
    }
    Err(AuthFailure::Token("unknown subject".into()))
}

/// Whether what the database holds of a token's subject still lets the token stand for it.
fn principal_of(claims: &tokens::Claims, known: Known) -> Result<Principal, AuthFailure> {
    match known {
        Known::User(Some(user)) if user.disabled => Err(AuthFailure::Token("the account is disabled".into())),
        Known::User(Some(user)) if claims.pwd != Some(user.password_changed_at.timestamp_micros()) => {
            Err(AuthFailure::Token("issued before the last password change".into()))
        }
        Known::User(Some(user)) => Ok(Principal::User(user)),
        Known::User(None) => Err(AuthFailure::Token("no such user".into())),
        Known::Client(active) => match (active, claims.scope.as_deref().map(Scopes::parse)) {
            (true, Some(Ok(scopes))) => {
                let client_id = claims.sub.strip_prefix("client:").unwrap_or(&claims.sub).to_owned();
                Ok(Principal::Client { client_id, scopes })
            }
            _ => Err(AuthFailure::Token("the client is disabled or the token has no scopes".into())),
        },
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
        let subject = subject_of(&claims)?;
        let stamp = state.known.stamp();
        let known = db.on_primary_or_replica(|conn| look_up(conn, &subject), AuthFailure::out_of_reach)?;
        state.known.remember(subject, known.clone(), stamp);
        return principal_of(&claims, known).map(|principal| Some((principal, None)));
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
