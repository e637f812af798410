//! People: the list with a form to add someone (`/admin/users`) and each person's page
//! (`/admin/users/{username}`: role and units, disable or enable, a new password, a reset of the
//! second factor). Through `http::admin::people`, like `/api/admin/users`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use askama::Template;
use secrecy::SecretString;

use super::{Done, done, said};
use crate::auth::Role;
use crate::http::access::Guard;
use crate::http::admin::people::{self, Change, Person, Wanted};
use crate::http::admin::units;
use crate::http::portal::{Chrome, check_form, html};
use crate::http::surface::{Portal, Rejection};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list).service(add).service(show_person).service(change);
}

const ROLES: [Role; 4] = [Role::Clinician, Role::Informatics, Role::Admin, Role::Integration];

struct Choice {
    value: String,
    checked: bool,
}

fn roles(current: &str) -> Vec<Choice> {
    ROLES.iter().map(|r| Choice { value: r.as_str().to_owned(), checked: r.as_str() == current }).collect()
}

async fn unit_choices(guard: &Guard<Portal>, chosen: &[String]) -> Result<Vec<Choice>, Rejection<Portal>> {
    Ok(units::list(guard)
        .await?
        .into_iter()
        .map(|u| Choice { checked: chosen.contains(&u.code), value: u.code })
        .collect())
}

/// What the add form held, shown again when it is refused.
#[derive(Default)]
struct Draft {
    username: String,
    display_name: String,
    email: String,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct ListPage {
    chrome: Chrome,
    people: Vec<Person>,
    roles: Vec<Choice>,
    units: Vec<Choice>,
    draft: Draft,
    problem: Option<String>,
}

async fn list_page(
    guard: &Guard<Portal>,
    draft: Draft,
    chosen: (&str, &[String]),
    problem: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, Rejection<Portal>> {
    let chrome = Chrome::of(guard)?;
    let page = ListPage {
        chrome,
        people: people::list(guard).await?,
        roles: roles(chosen.0),
        units: unit_choices(guard, chosen.1).await?,
        draft,
        problem,
    };
    html(status, &page)
}

#[get("/admin/users")]
async fn list(guard: Guard<Portal>) -> Result<HttpResponse, Rejection<Portal>> {
    list_page(&guard, Draft::default(), ("clinician", &[]), None, StatusCode::OK).await
}

/// A form's repeated field (`unit=a&unit=b`) arrives as pairs; serde_urlencoded has no lists.
fn all_of(pairs: &[(String, String)], name: &str) -> Vec<String> {
    pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
}

fn one_of(pairs: &[(String, String)], name: &str) -> String {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default()
}

#[post("/admin/users")]
async fn add(guard: Guard<Portal>, form: web::Form<Vec<(String, String)>>) -> Result<HttpResponse, Rejection<Portal>> {
    let form = form.into_inner();
    check_form(&guard, &one_of(&form, "csrf_token"))?;
    let units = all_of(&form, "unit");
    let role = one_of(&form, "role");
    let wanted = Wanted {
        username: one_of(&form, "username"),
        display_name: one_of(&form, "display_name"),
        role: role.clone(),
        units: units.clone(),
        email: Some(one_of(&form, "email")),
        password: SecretString::from(one_of(&form, "password")),
    };
    let draft = Draft {
        username: wanted.username.clone(),
        display_name: wanted.display_name.clone(),
        email: one_of(&form, "email"),
    };
    match people::add(&guard, wanted).await? {
        Ok(added) => Ok(done(&format!("/admin/users/{}", added.username), "added")),
        Err(problem) => {
            list_page(&guard, draft, (&role, &units), Some(problem), StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

#[derive(Template)]
#[template(path = "admin_user.html")]
struct PersonPage {
    chrome: Chrome,
    person: Person,
    roles: Vec<Choice>,
    units: Vec<Choice>,
    done: Option<&'static str>,
    problem: Option<String>,
}

const DONE: [(&str, &str); 6] = [
    ("added", "Added. They can sign in with the password you gave; ask them to change it."),
    ("access", "Role and units saved; they apply from the person's next request."),
    ("disable", "Disabled: their sessions have ended and they cannot sign in."),
    ("enable", "Enabled: they can sign in again."),
    ("reset-password", "Password set; their sessions have ended."),
    ("reset-mfa", "Second factor removed: they enrol again at their next sign-in."),
];

async fn person_page(
    guard: &Guard<Portal>,
    username: String,
    done: Option<&str>,
    problem: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, Rejection<Portal>> {
    let chrome = Chrome::of(guard)?;
    let person = people::one(guard, username).await?;
    let page = PersonPage {
        chrome,
        roles: roles(&person.role),
        units: unit_choices(guard, &person.units).await?,
        person,
        done: said(done, &DONE),
        problem,
    };
    html(status, &page)
}

#[get("/admin/users/{username}")]
async fn show_person(
    guard: Guard<Portal>,
    username: web::Path<String>,
    query: web::Query<Done>,
) -> Result<HttpResponse, Rejection<Portal>> {
    person_page(&guard, username.into_inner(), query.done.as_deref(), None, StatusCode::OK).await
}

#[post("/admin/users/{username}/{change}")]
async fn change(
    guard: Guard<Portal>,
    path: web::Path<(String, String)>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, Rejection<Portal>> {
    let form = form.into_inner();
    check_form(&guard, &one_of(&form, "csrf_token"))?;
    let (username, what) = path.into_inner();
    let asked = match what.as_str() {
        "access" => Change::Access { role: one_of(&form, "role"), units: all_of(&form, "unit") },
        "disable" => Change::Disable,
        "enable" => Change::Enable,
        "reset-password" => Change::Password(SecretString::from(one_of(&form, "password"))),
        "reset-mfa" => Change::ResetMfa,
        other => return Err(Rejection::not_found(format!("users have no action {other:?}"))),
    };
    match people::change(&guard, username.clone(), asked).await? {
        Ok(changed) => Ok(done(&format!("/admin/users/{}", changed.username), &what)),
        Err(problem) => person_page(&guard, username, None, Some(problem), StatusCode::UNPROCESSABLE_ENTITY).await,
    }
}
