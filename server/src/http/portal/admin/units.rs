//! Care units (`/admin/units`): each with its escalation timing and members, who among them are
//! called when a critical alert waits, and a form to add a unit. Through `http::admin::units`,
//! like `/api/admin/units`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use askama::Template;
use serde::Deserialize;

use super::{Done, done, said};
use crate::alerts::escalation::Unit;
use crate::http::access::Guard;
use crate::http::admin::units::{self, Change};
use crate::http::portal::{Chrome, check_form, html};
use crate::http::surface::{Portal, Rejection};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list).service(add).service(escalation).service(contact);
}

#[derive(Template)]
#[template(path = "admin_units.html")]
struct Page {
    chrome: Chrome,
    units: Vec<Unit>,
    done: Option<&'static str>,
    problem: Option<String>,
}

const DONE: [(&str, &str); 3] =
    [("add", "Unit added."), ("escalation", "Escalation timing saved."), ("contact", "Escalation contacts saved.")];

async fn page(
    guard: &Guard<Portal>,
    done: Option<&str>,
    problem: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, Rejection<Portal>> {
    let chrome = Chrome::of(guard)?;
    html(status, &Page { chrome, units: units::list(guard).await?, done: said(done, &DONE), problem })
}

#[get("/admin/units")]
async fn list(guard: Guard<Portal>, query: web::Query<Done>) -> Result<HttpResponse, Rejection<Portal>> {
    page(&guard, query.done.as_deref(), None, StatusCode::OK).await
}

async fn apply(guard: &Guard<Portal>, asked: Change, what: &str) -> Result<HttpResponse, Rejection<Portal>> {
    match units::change(guard, asked).await? {
        Ok(_) => Ok(done("/admin/units", what)),
        Err(problem) => page(guard, None, Some(problem), StatusCode::UNPROCESSABLE_ENTITY).await,
    }
}

#[derive(Debug, Deserialize)]
struct NewUnit {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    name: String,
}

#[post("/admin/units")]
async fn add(guard: Guard<Portal>, form: web::Form<NewUnit>) -> Result<HttpResponse, Rejection<Portal>> {
    let NewUnit { csrf_token, code, name } = form.into_inner();
    check_form(&guard, &csrf_token)?;
    apply(&guard, Change::Add { code, name }, "add").await
}

#[derive(Debug, Deserialize)]
struct Timing {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    after_minutes: String,
    #[serde(default)]
    repeat_minutes: String,
}

fn minutes(raw: &str, field: &str) -> Result<u64, String> {
    raw.trim().parse::<u64>().map(|m| m * 60).map_err(|_| format!("{field} {raw:?}: a whole number of minutes"))
}

#[post("/admin/units/{code}/escalation")]
async fn escalation(
    guard: Guard<Portal>,
    code: web::Path<String>,
    form: web::Form<Timing>,
) -> Result<HttpResponse, Rejection<Portal>> {
    let form = form.into_inner();
    check_form(&guard, &form.csrf_token)?;
    let timing = minutes(&form.after_minutes, "escalate after")
        .and_then(|after| Ok((after, minutes(&form.repeat_minutes, "repeat every")?)));
    match timing {
        Ok((after_secs, repeat_secs)) => {
            apply(&guard, Change::Escalation { code: code.into_inner(), after_secs, repeat_secs }, "escalation").await
        }
        Err(problem) => page(&guard, None, Some(problem), StatusCode::UNPROCESSABLE_ENTITY).await,
    }
}

#[derive(Debug, Deserialize)]
struct ContactForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    username: String,
    /// "on" to make them a contact, anything else to stop.
    #[serde(default)]
    contact: String,
}

#[post("/admin/units/{code}/contacts")]
async fn contact(
    guard: Guard<Portal>,
    code: web::Path<String>,
    form: web::Form<ContactForm>,
) -> Result<HttpResponse, Rejection<Portal>> {
    let form = form.into_inner();
    check_form(&guard, &form.csrf_token)?;
    let asked = Change::Contact { code: code.into_inner(), username: form.username, contact: form.contact == "on" };
    apply(&guard, asked, "contact").await
}
