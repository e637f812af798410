//! The clinician portal: server-rendered pages that work without JavaScript.
//!
//! Sign-in: the form carries a CSRF token that must match a short-lived `__Host-vigil-csrf`
//! cookie (double submit, since there is no session yet). A successful sign-in starts a
//! server-side session whose secret travels in a `__Host-vigil-session` cookie (Secure, HttpOnly,
//! SameSite=Strict). Every form after that carries the session's CSRF token.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::StatusCode;
use actix_web::http::header::{ContentType, LOCATION};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use secrecy::SecretString;
use serde::Deserialize;

mod admin;
mod alert_page;
mod capacity_page;
mod chart;
pub(crate) mod format;
mod mfa;
mod model_change;
mod models_page;
mod monitoring_page;
mod password;
mod patient_page;
mod settings;
mod worklist;

use crate::auth::sessions::{self, Stage};
use crate::http::access::database::Database;
use crate::http::access::sign_in::{Credentials, SignedIn, check_credentials};
use crate::http::access::{AuthState, Authenticated, RequestContext, start_session};
use crate::http::surface::{Portal, Rejection};

const CSRF_COOKIE: &str = "__Host-vigil-csrf";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(home)
        .service(sign_in_page)
        .service(sign_in)
        .service(sign_out)
        .service(stylesheet)
        .service(icon)
        .service(worklist::worklist)
        .service(alert_page::alert)
        .service(alert_page::give_feedback)
        .service(alert_page::act)
        .service(patient_page::show)
        .service(capacity_page::show)
        .service(patient_page::break_glass)
        .service(models_page::registry)
        .service(models_page::model)
        .service(models_page::model_card)
        .service(monitoring_page::monitoring)
        .service(model_change::confirm)
        .service(model_change::apply)
        .service(password::page)
        .service(password::change)
        .service(settings::notifications)
        .service(settings::save_notifications);
    mfa::routes(cfg);
    admin::routes(cfg);
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage<'a> {
    csrf_token: &'a str,
    username: &'a str,
    problem: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    display_name: &'a str,
    role: &'a str,
    units: &'a [String],
    csrf_token: &'a str,
}

/// What every signed-in page shows around its content: who is signed in, and the session's CSRF
/// token for the sign-out form.
pub(crate) struct Chrome {
    pub display_name: String,
    pub role: String,
    pub csrf_token: String,
}

impl Chrome {
    pub fn of(guard: &crate::http::access::Guard<Portal>) -> Result<Self, Rejection<Portal>> {
        let crate::auth::principal::Principal::User(user) = guard.principal() else {
            return Err(Rejection::forbidden("the portal is for people; systems use the API"));
        };
        let csrf_token = guard.auth.session.as_ref().map(|s| s.csrf_token.clone()).unwrap_or_default();
        Ok(Self { display_name: user.display_name.clone(), role: user.role.as_str().to_owned(), csrf_token })
    }
}

#[derive(Debug, Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub status: u16,
    pub code: &'a str,
    pub message: &'a str,
}

impl ErrorPage<'_> {
    pub fn render_or_plain(&self) -> String {
        self.render().unwrap_or_else(|_| self.message.to_owned())
    }
}

pub(crate) fn html(status: StatusCode, page: &impl Template) -> Result<HttpResponse, Rejection<Portal>> {
    let body = page.render().map_err(|e| Rejection::internal(&e))?;
    Ok(HttpResponse::build(status).insert_header(ContentType::html()).body(body))
}

pub(crate) fn host_cookie(name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build(name, value).path("/").secure(true).http_only(true).same_site(SameSite::Strict).finish()
}

pub(crate) fn removal(name: &'static str) -> Cookie<'static> {
    let mut cookie = host_cookie(name, String::new());
    cookie.make_removal();
    cookie
}

/// Refuses a form that did not come from this session's own pages: no portal session, or a
/// CSRF token other than the session's.
pub(crate) fn check_form(guard: &crate::http::access::Guard<Portal>, token: &str) -> Result<(), Rejection<Portal>> {
    let Some(session) = &guard.auth.session else { return Err(Rejection::forbidden("sign in through the portal")) };
    if !same_token(&session.csrf_token, token) {
        return Err(Rejection::forbidden("the form expired or did not come from this site; reload the page"));
    }
    Ok(())
}

/// Constant-time comparison, so a CSRF token cannot be guessed byte by byte from timings.
pub(crate) fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[get("/")]
async fn home(auth: Result<Authenticated<Portal>, Rejection<Portal>>) -> Result<HttpResponse, Rejection<Portal>> {
    // Signed out (or signed in only partly): the start page is the sign-in page.
    let auth = match auth {
        Ok(auth) => auth,
        Err(rejection) if rejection.status == StatusCode::UNAUTHORIZED => {
            return Ok(HttpResponse::SeeOther().insert_header((LOCATION, "/sign-in")).finish());
        }
        Err(rejection) => return Err(rejection),
    };
    let crate::auth::principal::Principal::User(user) = &auth.principal else {
        return Err(Rejection::forbidden("the portal is for people; systems use the API"));
    };
    // Each role starts at its work.
    let start = match user.role {
        crate::auth::Role::Clinician => Some("/worklist"),
        crate::auth::Role::Informatics => Some("/models"),
        crate::auth::Role::Admin => Some("/admin"),
        _ => None,
    };
    if let Some(start) = start {
        return Ok(HttpResponse::SeeOther().insert_header((LOCATION, start)).finish());
    }
    let csrf = auth.session.as_ref().map(|s| s.csrf_token.as_str()).unwrap_or_default();
    html(
        StatusCode::OK,
        &HomePage { display_name: &user.display_name, role: user.role.as_str(), units: &user.units, csrf_token: csrf },
    )
}

fn sign_in_form(status: StatusCode, username: &str, problem: Option<&str>) -> Result<HttpResponse, Rejection<Portal>> {
    let token = sessions::random_token().map_err(|e| Rejection::internal(&e))?;
    let mut response = html(status, &SignInPage { csrf_token: &token, username, problem })?;
    let mut cookie = host_cookie(CSRF_COOKIE, token);
    cookie.set_max_age(CookieDuration::minutes(30));
    response.add_cookie(&cookie).map_err(|e| Rejection::internal(&e))?;
    Ok(response)
}

#[get("/sign-in")]
async fn sign_in_page() -> Result<HttpResponse, Rejection<Portal>> {
    sign_in_form(StatusCode::OK, "", None)
}

#[derive(Deserialize)]
struct SignInForm {
    username: String,
    password: SecretString,
    /// Absent in a cross-site post: refused like a wrong one, with 403.
    #[serde(default)]
    csrf_token: String,
}

#[post("/sign-in")]
async fn sign_in(
    req: HttpRequest,
    form: web::Form<SignInForm>,
    db: web::Data<Database>,
    state: web::Data<AuthState>,
) -> Result<HttpResponse, Rejection<Portal>> {
    let form = form.into_inner();
    let expected = req.cookie(CSRF_COOKIE).map(|c| c.value().to_owned()).unwrap_or_default();
    if expected.is_empty() || !same_token(&expected, &form.csrf_token) {
        return Err(Rejection::forbidden("the form expired or did not come from this site; reload the page"));
    }
    let context = RequestContext::of(&req);
    let username = form.username.clone();
    let credentials = Credentials { username: form.username, password: form.password, code: None };
    let (user, stage, next) = match check_credentials::<Portal>(&db, &state, &context, credentials).await {
        Ok(SignedIn::Done(user)) => (user, Stage::Full, "/"),
        Ok(SignedIn::NeedsCode(user)) => (user, Stage::AwaitingCode, "/sign-in/code"),
        Ok(SignedIn::MustEnrol(user)) => (user, Stage::MustEnrol, "/settings/mfa"),
        Err(rejection) if rejection.status == StatusCode::UNAUTHORIZED => {
            return sign_in_form(StatusCode::UNAUTHORIZED, &username, Some("Wrong username or password."));
        }
        Err(rejection) => return Err(rejection),
    };
    let secret = start_session(&db, &state, user.id, stage).await?;
    let mut response = HttpResponse::SeeOther().insert_header((LOCATION, next)).finish();
    response.add_cookie(&host_cookie(sessions::COOKIE, secret)).map_err(|e| Rejection::internal(&e))?;
    response.add_removal_cookie(&removal(CSRF_COOKIE)).map_err(|e| Rejection::internal(&e))?;
    Ok(response)
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf_token: String,
}

#[post("/sign-out")]
async fn sign_out(
    auth: Authenticated<Portal>,
    form: web::Form<CsrfForm>,
    db: web::Data<Database>,
) -> Result<HttpResponse, Rejection<Portal>> {
    let Some(session) = auth.session else {
        return Err(Rejection::bad_request("not signed in through the portal"));
    };
    if !same_token(&session.csrf_token, &form.csrf_token) {
        return Err(Rejection::forbidden("the form expired or did not come from this site; reload the page"));
    }
    crate::http::access::end_session(&db, session.id).await?;
    let mut response = HttpResponse::SeeOther().insert_header((LOCATION, "/sign-in")).finish();
    response.add_removal_cookie(&removal(sessions::COOKIE)).map_err(|e| Rejection::internal(&e))?;
    Ok(response)
}

/// A file the pages use, cached by browsers for `max_age` seconds.
fn asset(content_type: &'static str, max_age: u32, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("Cache-Control", format!("public, max-age={max_age}")))
        .body(body)
}

const STYLESHEET: &str = include_str!("../../../../templates/portal.css");

/// The stylesheet's address, named by its content: a browser keeps it for a year and fetches the
/// new one as soon as a release changes it (every page's layout links it through this).
pub fn stylesheet_href() -> &'static str {
    static HREF: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(STYLESHEET.as_bytes());
        format!("/static/portal-{}.css", &hex::encode(digest)[..12])
    });
    &HREF
}

#[get("/static/{name}")]
async fn stylesheet(name: web::Path<String>) -> Result<HttpResponse, Rejection<Portal>> {
    // Only the current name: an old page asking for an old stylesheet gets today's.
    if !name.starts_with("portal") || !name.ends_with(".css") {
        return Err(Rejection::not_found(format!("no file {name:?}")));
    }
    Ok(asset("text/css; charset=utf-8", 31_536_000, STYLESHEET))
}

#[get("/favicon.svg")]
async fn icon() -> HttpResponse {
    asset("image/svg+xml", 86_400, include_str!("../../../../templates/favicon.svg"))
}
