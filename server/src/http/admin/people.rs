//! People, for admins: list, add, change role and units, disable and enable, reset the password
//! and the second factor. The JSON API (`/api/admin/users`) and the portal's pages call these, so
//! both take one path through the guard and are audited alike, naming what was done.

use actix_web::{HttpResponse, get, post, web};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::{ADMINISTER, Outcome, refusal};
use crate::auth::Role;
use crate::auth::email::Email;
use crate::auth::password::NewPassword;
use crate::auth::users::{self, NewUser, UnitCode, User, UserError, Username};
use crate::http::access::{Access, Guard};
use crate::http::surface::{Api, Rejection, Surface};

const PEOPLE: Access = Access { resource_type: "User", ..ADMINISTER };

/// A user and the address their notices go to.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Person {
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub units: Vec<String>,
    pub disabled: bool,
    pub mfa_enrolled: bool,
    pub email: Option<String>,
}

fn person(user: User, email: Option<String>) -> Person {
    Person {
        username: user.username,
        display_name: user.display_name,
        role: user.role.as_str().to_owned(),
        units: user.units,
        disabled: user.disabled,
        mfa_enrolled: user.mfa_enrolled,
        email,
    }
}

fn user_outcome<T>(result: Result<T, UserError>) -> Outcome<T> {
    match result {
        Ok(value) => Ok(Some(Ok(value))),
        Err(UserError::NoSuchUser(_)) => Ok(None),
        Err(UserError::Database(e)) => Err(e),
        Err(e) => Ok(Some(Err(e.to_string()))),
    }
}

/// Everyone with an account, by username.
pub async fn list<S: Surface>(guard: &Guard<S>) -> Result<Vec<Person>, Rejection<S>> {
    guard
        .system(PEOPLE, None, |conn| {
            let listed = (|| {
                let emails = users::emails(conn)?;
                Ok::<_, UserError>(
                    users::list(conn)?.into_iter().map(|u| person(u.clone(), emails.get(&u.id).cloned())).collect(),
                )
            })();
            user_outcome(listed).map(|found| found.and_then(Result::ok))
        })
        .await
}

/// One person; 404 when there is no such account.
pub async fn one<S: Surface>(guard: &Guard<S>, username: String) -> Result<Person, Rejection<S>> {
    guard
        .system(PEOPLE, Some(username.clone()), move |conn| {
            let found = users::find(conn, &username.to_lowercase()).map_err(database)?;
            let Some((user, _)) = found else { return Ok(None) };
            let email = users::emails(conn).map_err(database)?.remove(&user.id);
            Ok(Some(person(user, email)))
        })
        .await
}

fn database(e: UserError) -> diesel::result::Error {
    match e {
        UserError::Database(e) => e,
        other => crate::http::fault::unexpected(&other),
    }
}

/// A new account as asked for.
#[derive(Debug, Deserialize)]
pub struct Wanted {
    pub username: String,
    #[serde(default)]
    pub display_name: String,
    pub role: String,
    #[serde(default)]
    pub units: Vec<String>,
    pub email: Option<String>,
    pub password: SecretString,
}

fn role(raw: &str) -> Result<Role, String> {
    raw.trim().parse::<Role>().map_err(|e| format!("{e}: expected clinician, informatics, admin or integration"))
}

fn unit_codes(raw: &[String]) -> Result<Vec<UnitCode>, String> {
    raw.iter().filter(|u| !u.trim().is_empty()).map(|u| UnitCode::parse(u).map_err(|e| e.to_string())).collect()
}

/// Adds an account; the person as stored, or what is wrong with the request.
pub async fn add<S: Surface>(guard: &Guard<S>, wanted: Wanted) -> Result<Result<Person, String>, Rejection<S>> {
    let checked = (|| {
        let username = Username::parse(&wanted.username).map_err(|e| e.to_string())?;
        let email = wanted.email.as_deref().filter(|e| !e.trim().is_empty()).map(Email::parse).transpose();
        let email = email.map_err(|e| e.to_string())?;
        let password = NewPassword::parse(wanted.password).map_err(|e| e.to_string())?;
        Ok::<_, String>((username, role(&wanted.role)?, unit_codes(&wanted.units)?, email, password))
    })();
    let (username, role, units, email, password) = match checked {
        Ok(checked) => checked,
        Err(problem) => return Ok(Err(problem)),
    };
    let display_name =
        if wanted.display_name.trim().is_empty() { username.as_str().to_owned() } else { wanted.display_name };
    let note = Some("add".to_owned());
    guard
        .system_noted(PEOPLE, Some(username.as_str().to_owned()), note, move |conn| {
            // Hashing is deliberately slow: it runs here, on the blocking pool, not on the server's threads.
            let Ok(hash) = password.hash() else {
                return Ok(Some(Err("the password could not be hashed; try again".to_owned())));
            };
            let added = users::add(
                conn,
                &NewUser {
                    username: &username,
                    display_name: &display_name,
                    role,
                    password_hash: &hash,
                    units: &units,
                    email: email.as_ref(),
                },
            )
            .and_then(|id| users::by_id(conn, id));
            match user_outcome(added)? {
                Some(Ok(Some(user))) => Ok(Some(Ok(person(user, email.map(|e| e.as_str().to_owned()))))),
                Some(Ok(None)) | None => Ok(None),
                Some(Err(problem)) => Ok(Some(Err(problem))),
            }
        })
        .await
}

/// What may be done to an account.
#[derive(Debug)]
pub enum Change {
    /// Its role and exactly these units.
    Access {
        role: String,
        units: Vec<String>,
    },
    Disable,
    Enable,
    /// A new password set by an admin (the person's sessions end).
    Password(SecretString),
    /// Removes the second factor, so the person enrols again at their next sign-in.
    ResetMfa,
}

impl Change {
    fn name(&self) -> &'static str {
        match self {
            Self::Access { .. } => "access",
            Self::Disable => "disable",
            Self::Enable => "enable",
            Self::Password(_) => "reset-password",
            Self::ResetMfa => "reset-mfa",
        }
    }
}

/// Applies `change` to the account `username`; the person afterwards, or why not.
pub async fn change<S: Surface>(
    guard: &Guard<S>,
    username: String,
    change: Change,
) -> Result<Result<Person, String>, Rejection<S>> {
    let Ok(name) = Username::parse(&username) else {
        return Err(Rejection::not_found(format!("no user {username:?}")));
    };
    if matches!(change, Change::Disable) && guard.principal().actor() == format!("user:{}", name.as_str()) {
        return Ok(Err("you cannot disable your own account: ask another admin".into()));
    }
    let note = Some(change.name().to_owned());
    // Checked before the guard: a bad request is not worth a connection.
    enum Checked {
        Access(Role, Vec<UnitCode>),
        Disable,
        Enable,
        Password(NewPassword),
        ResetMfa,
    }
    let checked = match change {
        Change::Access { role: r, units } => role(&r).and_then(|r| Ok(Checked::Access(r, unit_codes(&units)?))),
        Change::Disable => Ok(Checked::Disable),
        Change::Enable => Ok(Checked::Enable),
        Change::Password(raw) => NewPassword::parse(raw).map(Checked::Password).map_err(|e| e.to_string()),
        Change::ResetMfa => Ok(Checked::ResetMfa),
    };
    let checked = match checked {
        Ok(checked) => checked,
        Err(problem) => return Ok(Err(problem)),
    };
    guard
        .system_noted(PEOPLE, Some(name.as_str().to_owned()), note, move |conn| {
            let done = match checked {
                Checked::Access(role, units) => users::set_access(conn, &name, role, &units),
                Checked::Disable => users::disable(conn, &name),
                Checked::Enable => users::enable(conn, &name),
                Checked::ResetMfa => users::reset_mfa(conn, &name),
                Checked::Password(password) => match password.hash() {
                    Ok(hash) => users::set_password(conn, &name, &hash),
                    Err(e) => return Ok(Some(Err(e.to_string()))),
                },
            };
            match user_outcome(done)? {
                None => return Ok(None),
                Some(Err(problem)) => return Ok(Some(Err(problem))),
                Some(Ok(())) => {}
            }
            let found = users::find(conn, name.as_str()).map_err(database)?;
            let emails = users::emails(conn).map_err(database)?;
            Ok(found.map(|(user, _)| {
                let email = emails.get(&user.id).cloned();
                Ok(person(user, email))
            }))
        })
        .await
}

#[get("/api/admin/users")]
async fn api_list(guard: Guard<Api>) -> Result<HttpResponse, Rejection<Api>> {
    Ok(HttpResponse::Ok().json(json!({ "users": list(&guard).await? })))
}

#[post("/api/admin/users")]
async fn api_add(guard: Guard<Api>, body: web::Json<Wanted>) -> Result<HttpResponse, Rejection<Api>> {
    let added = add(&guard, body.into_inner()).await?.map_err(refusal)?;
    Ok(HttpResponse::Created().json(added))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeBody {
    role: Option<String>,
    units: Option<Vec<String>>,
    password: Option<SecretString>,
}

#[post("/api/admin/users/{username}/{change}")]
async fn api_change(
    guard: Guard<Api>,
    path: web::Path<(String, String)>,
    body: Option<web::Json<ChangeBody>>,
) -> Result<HttpResponse, Rejection<Api>> {
    let (username, what) = path.into_inner();
    let body = body.map(web::Json::into_inner).unwrap_or_default();
    let missing = |field: &str| refusal(format!("{what} needs {field}"));
    let asked = match what.as_str() {
        "access" => Change::Access {
            role: body.role.ok_or_else(|| missing("a role"))?,
            units: body.units.ok_or_else(|| missing("units (a list, empty for none)"))?,
        },
        "disable" => Change::Disable,
        "enable" => Change::Enable,
        "reset-password" => Change::Password(body.password.ok_or_else(|| missing("a password"))?),
        "reset-mfa" => Change::ResetMfa,
        other => {
            return Err(Rejection::not_found(format!(
                "users have no action {other:?}: access, disable, enable, reset-password or reset-mfa"
            )));
        }
    };
    let changed = change(&guard, username, asked).await?.map_err(refusal)?;
    Ok(HttpResponse::Ok().json(changed))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(api_list).service(api_add).service(api_change);
}
