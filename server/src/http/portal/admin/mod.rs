//! The portal's administration pages, for admins: people, care units and their escalation
//! contacts, API clients, the audit viewer, and (with break-glass review, `access::break_glass`)
//! the index that leads to them. Alert rules (`rules.rs`) are for informatics too. Every page reads
//! and changes through the code of the JSON API (`http::admin`, `http::alert_rules`).

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpResponse, get, web};
use askama::Template;

use super::{Chrome, html};
use crate::http::access::Guard;
use crate::http::admin::people;
use crate::http::surface::{Portal, Rejection};

mod audit;
mod clients;
mod people_pages;
mod rules;
mod units;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(index);
    people_pages::routes(cfg);
    units::routes(cfg);
    clients::routes(cfg);
    audit::routes(cfg);
    rules::routes(cfg);
}

#[derive(Template)]
#[template(path = "admin.html")]
struct IndexPage {
    chrome: Chrome,
    people: usize,
    disabled: usize,
}

/// Administration's start page (an admin's home).
#[get("/admin")]
async fn index(guard: Guard<Portal>) -> Result<HttpResponse, Rejection<Portal>> {
    let chrome = Chrome::of(&guard)?;
    let listed = people::list(&guard).await?;
    let disabled = listed.iter().filter(|p| p.disabled).count();
    html(StatusCode::OK, &IndexPage { chrome, people: listed.len(), disabled })
}

/// After a change, back to `path` saying what was done (a redirect, so a reload does not repeat it).
fn done(path: &str, what: &str) -> HttpResponse {
    let separator = if path.contains('?') { '&' } else { '?' };
    HttpResponse::SeeOther().insert_header((LOCATION, format!("{path}{separator}done={what}"))).finish()
}

/// The words for a change named in a `done` query, if it is one this page makes.
fn said(done: Option<&str>, known: &[(&'static str, &'static str)]) -> Option<&'static str> {
    let done = done?;
    known.iter().find(|(key, _)| *key == done).map(|(_, words)| *words)
}

#[derive(Debug, serde::Deserialize)]
pub struct Done {
    done: Option<String>,
}
