//! The portal's second factor: the code step of a sign-in (`/sign-in/code`) and enrolment
//! (`/settings/mfa`: a QR code and the secret as text, confirmed by a code, then the recovery codes
//! shown once). A session that is not fully signed in reaches these pages and nothing else; moving
//! to a full sign-in ends it and starts a new one, so a session id known before never becomes one.

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use serde::Deserialize;

use super::{host_cookie, html, same_token};
use crate::auth::sessions::{self, Session, Stage};
use crate::auth::users::User;
use crate::http::access::csrf::cross_site;
use crate::http::access::database::Database;
use crate::http::access::portal_session::{any_stage, begin_enrolment, check_second_factor, confirm_enrolment};
use crate::http::access::{AuthState, RequestContext, end_session, start_session};
use crate::http::surface::{Portal, Rejection};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(code_page).service(code_form).service(enrol_page).service(enrol_form);
}

#[derive(Template)]
#[template(path = "mfa_code.html")]
struct CodePage<'a> {
    csrf_token: &'a str,
    problem: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "mfa_enrol.html")]
struct EnrolPage<'a> {
    csrf_token: &'a str,
    qr: &'a str,
    secret: &'a str,
    required: bool,
    enrolled: bool,
    problem: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "mfa_recovery.html")]
struct RecoveryPage<'a> {
    codes: &'a [String],
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    code: String,
}

fn to(location: &'static str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((LOCATION, location)).finish()
}

/// The session of this request if it is at one of `stages`, with its user.
async fn session_at(req: &HttpRequest, stages: &[Stage]) -> Result<Option<(Session, User)>, Rejection<Portal>> {
    Ok(any_stage(req).await?.filter(|(session, _)| stages.contains(&session.stage)))
}

/// A form post from this site with the session's own token, else 403.
fn checked(req: &HttpRequest, state: &AuthState, session: &Session, form: &CodeForm) -> Result<(), Rejection<Portal>> {
    if cross_site(req, state) || !same_token(&session.csrf_token, &form.csrf_token) {
        return Err(Rejection::forbidden("the form expired or did not come from this site; reload the page"));
    }
    Ok(())
}

/// Ends `old` and answers with a new, fully signed-in session's cookie.
async fn signed_in(
    db: &web::Data<Database>,
    state: &AuthState,
    old: &Session,
    mut response: HttpResponse,
) -> Result<HttpResponse, Rejection<Portal>> {
    end_session::<Portal>(db, old.id).await?;
    let secret = start_session::<Portal>(db, state, old.user_id, Stage::Full).await?;
    response.add_cookie(&host_cookie(sessions::COOKIE, secret)).map_err(|e| Rejection::internal(&e))?;
    Ok(response)
}

#[get("/sign-in/code")]
async fn code_page(req: HttpRequest) -> Result<HttpResponse, Rejection<Portal>> {
    let Some((session, _)) = session_at(&req, &[Stage::AwaitingCode]).await? else { return Ok(to("/sign-in")) };
    html(StatusCode::OK, &CodePage { csrf_token: &session.csrf_token, problem: None })
}

#[post("/sign-in/code")]
async fn code_form(
    req: HttpRequest,
    form: web::Form<CodeForm>,
    db: web::Data<Database>,
    state: web::Data<AuthState>,
) -> Result<HttpResponse, Rejection<Portal>> {
    let Some((session, user)) = session_at(&req, &[Stage::AwaitingCode]).await? else { return Ok(to("/sign-in")) };
    let form = form.into_inner();
    checked(&req, &state, &session, &form)?;
    let context = RequestContext::of(&req);
    if !check_second_factor(&db, &context, user, form.code).await? {
        let page = CodePage { csrf_token: &session.csrf_token, problem: Some("That code is not right.") };
        return html(StatusCode::UNAUTHORIZED, &page);
    }
    signed_in(&db, &state, &session, to("/")).await
}

#[get("/settings/mfa")]
async fn enrol_page(
    req: HttpRequest,
    db: web::Data<Database>,
    state: web::Data<AuthState>,
) -> Result<HttpResponse, Rejection<Portal>> {
    let Some((session, user)) = session_at(&req, &[Stage::Full, Stage::MustEnrol]).await? else {
        return Ok(to("/sign-in"));
    };
    let wrong = req.query_string().contains("wrong");
    let (required, enrolled) = (state.mfa_required.contains(&user.role), user.mfa_enrolled);
    let enrolment = begin_enrolment(&db, user).await?;
    let page = EnrolPage {
        csrf_token: &session.csrf_token,
        qr: &enrolment.qr,
        secret: &enrolment.secret,
        required,
        enrolled,
        problem: wrong.then_some("That code did not match. Scan this new code and try again."),
    };
    html(StatusCode::OK, &page)
}

#[post("/settings/mfa")]
async fn enrol_form(
    req: HttpRequest,
    form: web::Form<CodeForm>,
    db: web::Data<Database>,
    state: web::Data<AuthState>,
) -> Result<HttpResponse, Rejection<Portal>> {
    let Some((session, user)) = session_at(&req, &[Stage::Full, Stage::MustEnrol]).await? else {
        return Ok(to("/sign-in"));
    };
    let form = form.into_inner();
    checked(&req, &state, &session, &form)?;
    let context = RequestContext::of(&req);
    let Some(codes) = confirm_enrolment(&db, &context, user, form.code).await? else {
        return Ok(to("/settings/mfa?wrong"));
    };
    let page = html(StatusCode::OK, &RecoveryPage { codes: &codes })?;
    if session.stage == Stage::MustEnrol {
        return signed_in(&db, &state, &session, page).await;
    }
    Ok(page)
}
