//! API clients (`/admin/clients`): the registered SMART Backend Services clients, a form to
//! register one with its public keys and scopes, and a button to disable one. Through
//! `http::admin::clients`, like `/api/admin/clients`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use askama::Template;
use serde::Deserialize;

use crate::auth::clients::Registered;
use crate::http::access::Guard;
use crate::http::admin::clients;
use crate::http::portal::format::instant;
use crate::http::portal::{Chrome, check_form, html};
use crate::http::surface::{Portal, Rejection};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list).service(register).service(disable);
}

struct Listed {
    client_id: String,
    name: String,
    scopes: String,
    created: String,
    disabled: Option<String>,
}

#[derive(Template)]
#[template(path = "admin_clients.html")]
struct Page {
    chrome: Chrome,
    clients: Vec<Listed>,
    registered: Option<String>,
    draft: (String, String, String),
    problem: Option<String>,
}

fn listed(c: Registered) -> Listed {
    Listed {
        client_id: c.client_id,
        name: c.name,
        scopes: c.scopes,
        created: instant(c.created_at),
        disabled: c.disabled_at.map(instant),
    }
}

async fn page(
    guard: &Guard<Portal>,
    registered: Option<String>,
    draft: (String, String, String),
    problem: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, Rejection<Portal>> {
    let chrome = Chrome::of(guard)?;
    let clients = clients::list(guard).await?.into_iter().map(listed).collect();
    html(status, &Page { chrome, clients, registered, draft, problem })
}

#[derive(Debug, Deserialize)]
struct Shown {
    registered: Option<String>,
}

#[get("/admin/clients")]
async fn list(guard: Guard<Portal>, query: web::Query<Shown>) -> Result<HttpResponse, Rejection<Portal>> {
    let draft = (String::new(), String::new(), "system/*.read".to_owned());
    page(&guard, query.into_inner().registered, draft, None, StatusCode::OK).await
}

#[derive(Debug, Deserialize)]
struct NewClient {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    jwks: String,
    #[serde(default)]
    scopes: String,
}

#[post("/admin/clients")]
async fn register(guard: Guard<Portal>, form: web::Form<NewClient>) -> Result<HttpResponse, Rejection<Portal>> {
    let NewClient { csrf_token, name, jwks, scopes } = form.into_inner();
    check_form(&guard, &csrf_token)?;
    match clients::register(&guard, name.clone(), &jwks, &scopes).await? {
        Ok(client) => Ok(HttpResponse::SeeOther()
            .insert_header((
                actix_web::http::header::LOCATION,
                format!("/admin/clients?registered={}", client.client_id),
            ))
            .finish()),
        Err(problem) => page(&guard, None, (name, jwks, scopes), Some(problem), StatusCode::UNPROCESSABLE_ENTITY).await,
    }
}

#[derive(Debug, Deserialize)]
struct Csrf {
    #[serde(default)]
    csrf_token: String,
}

#[post("/admin/clients/{client_id}/disable")]
async fn disable(
    guard: Guard<Portal>,
    client_id: web::Path<String>,
    form: web::Form<Csrf>,
) -> Result<HttpResponse, Rejection<Portal>> {
    check_form(&guard, &form.csrf_token)?;
    clients::disable(&guard, client_id.into_inner()).await?;
    Ok(HttpResponse::SeeOther().insert_header((actix_web::http::header::LOCATION, "/admin/clients")).finish())
}
