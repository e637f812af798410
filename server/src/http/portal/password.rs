//! My settings, password (`/settings/password`): the current password, and a new one twice.
//! Through `http::me::change_password`, like `POST /api/me/password`. The change ends every session
//! of the person; this browser gets a new one so that they stay signed in here.

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpResponse, get, post, web};
use askama::Template;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{Chrome, check_form, host_cookie, html};
use crate::auth::sessions::{self, Stage};
use crate::http::access::database::Database;
use crate::http::access::{AuthState, Guard, start_session};
use crate::http::me::change_password;
use crate::http::surface::{Portal, Rejection};

#[derive(Template)]
#[template(path = "settings_password.html")]
struct Page {
    chrome: Chrome,
    saved: bool,
    problem: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Shown {
    saved: Option<String>,
}

#[get("/settings/password")]
pub async fn page(guard: Guard<Portal>, query: web::Query<Shown>) -> Result<HttpResponse, Rejection<Portal>> {
    html(StatusCode::OK, &Page { chrome: Chrome::of(&guard)?, saved: query.saved.is_some(), problem: None })
}

#[derive(Deserialize)]
pub struct Asked {
    #[serde(default)]
    csrf_token: String,
    current: SecretString,
    new: SecretString,
    again: SecretString,
}

#[post("/settings/password")]
pub async fn change(
    guard: Guard<Portal>,
    form: web::Form<Asked>,
    db: web::Data<Database>,
    state: web::Data<AuthState>,
) -> Result<HttpResponse, Rejection<Portal>> {
    let form = form.into_inner();
    check_form(&guard, &form.csrf_token)?;
    let chrome = Chrome::of(&guard)?;
    let refused = |problem: String| {
        html(StatusCode::UNPROCESSABLE_ENTITY, &Page { chrome, saved: false, problem: Some(problem) })
    };
    if form.new.expose_secret() != form.again.expose_secret() {
        return refused("the new password and its repetition differ".into());
    }
    if let Err(problem) = change_password(&guard, form.current, form.new).await? {
        return refused(problem);
    }
    let user = guard.principal().user_id().ok_or_else(|| Rejection::forbidden("only people have passwords"))?;
    let secret = start_session(&db, &state, user, Stage::Full).await?;
    let mut response = HttpResponse::SeeOther().insert_header((LOCATION, "/settings/password?saved=1")).finish();
    response.add_cookie(&host_cookie(sessions::COOKIE, secret)).map_err(|e| Rejection::internal(&e))?;
    Ok(response)
}
