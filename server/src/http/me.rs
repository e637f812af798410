//! The signed-in person's own password: `POST /api/me/password` and the portal's
//! `/settings/password` both call [`change_password`]. The current password must be given; the
//! new one meets the password rules; every session and token of the person ends (the portal then
//! starts a new session for the browser that asked).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, post, web};
use secrecy::SecretString;
use serde::Deserialize;

use crate::auth::password::{self, NewPassword, Verified};
use crate::auth::principal::Principal;
use crate::auth::users::{self, Username};
use crate::http::access::Guard;
use crate::http::surface::{Api, Rejection, Surface};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(api_change);
}

/// Sets the caller's password to `new` if `current` is theirs; why not, otherwise.
pub async fn change_password<S: Surface>(
    guard: &Guard<S>,
    current: SecretString,
    new: SecretString,
) -> Result<Result<(), String>, Rejection<S>> {
    let Principal::User(user) = guard.principal() else {
        return Err(Rejection::forbidden("only people have passwords"));
    };
    let new = match NewPassword::parse(new) {
        Ok(new) => new,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let username = Username::parse(&user.username).map_err(|e| Rejection::internal(&e))?;
    guard
        .own_settings("Password", true, move |conn, _| {
            let fault = |e: users::UserError| match e {
                users::UserError::Database(e) => e,
                other => crate::http::fault::unexpected(&other),
            };
            let stored = users::find(conn, username.as_str()).map_err(fault)?.map(|(_, hash)| hash);
            // Hashing and checking are deliberately slow: this runs on the blocking pool.
            if password::verify(stored.as_deref(), &current) == Verified::No {
                return Ok(Some(Err("the current password is not right".to_owned())));
            }
            let Ok(hash) = new.hash() else {
                return Ok(Some(Err("the password could not be hashed; try again".into())));
            };
            users::set_password(conn, &username, &hash).map_err(fault)?;
            Ok(Some(Ok(())))
        })
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    current: SecretString,
    new: SecretString,
}

#[post("/api/me/password")]
async fn api_change(guard: Guard<Api>, body: web::Json<Body>) -> Result<HttpResponse, Rejection<Api>> {
    let Body { current, new } = body.into_inner();
    change_password(&guard, current, new)
        .await?
        .map_err(|problem| Rejection::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", problem))?;
    // The token this request came with was issued before the change: it is no longer accepted.
    Ok(HttpResponse::NoContent().finish())
}
