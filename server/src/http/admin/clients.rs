//! API clients (SMART Backend Services), for admins: list, register one with its public keys
//! (JWKS) and scopes, disable one. Shared by the JSON API (`/api/admin/clients`) and the portal.

use actix_web::{HttpResponse, get, post, web};
use serde::Deserialize;
use serde_json::json;

use super::{ADMINISTER, refusal};
use crate::auth::clients::{self, ClientError, Registered};
use crate::auth::principal::Scopes;
use crate::http::access::{Access, Guard};
use crate::http::surface::{Api, Rejection, Surface};

const CLIENTS: Access = Access { resource_type: "Client", ..ADMINISTER };

/// Every registered client, newest first.
pub async fn list<S: Surface>(guard: &Guard<S>) -> Result<Vec<Registered>, Rejection<S>> {
    guard.system(CLIENTS, None, |conn| clients::list(conn).map(Some)).await
}

/// Registers a client that signs with the keys of `jwks` (a JWKS document) for `scopes`; its
/// client id, or what is wrong with the request.
pub async fn register<S: Surface>(
    guard: &Guard<S>,
    name: String,
    jwks: &str,
    scopes: &str,
) -> Result<Result<Registered, String>, Rejection<S>> {
    let name = name.trim().to_owned();
    if !(1..=200).contains(&name.chars().count()) {
        return Ok(Err("a client needs a name of 1 to 200 characters".into()));
    }
    let checked = clients::validate_jwks(jwks)
        .map_err(|e| e.to_string())
        .and_then(|keys| Ok((keys, Scopes::parse(scopes).map_err(|e| format!("scopes: {e}"))?)));
    let (keys, scopes) = match checked {
        Ok(checked) => checked,
        Err(problem) => return Ok(Err(problem)),
    };
    guard
        .system_noted(CLIENTS, None, Some("register".into()), move |conn| {
            let id = match clients::register(conn, &name, &keys, &scopes) {
                Ok(id) => id,
                Err(ClientError::Database(e)) => return Err(e),
                Err(e) => return Ok(Some(Err(e.to_string()))),
            };
            Ok(clients::list(conn)?.into_iter().find(|c| c.client_id == id).map(Ok))
        })
        .await
}

/// Disables a client: it gets no new token. 404 when there is none of that id.
pub async fn disable<S: Surface>(guard: &Guard<S>, client_id: String) -> Result<Registered, Rejection<S>> {
    guard
        .system_noted(CLIENTS, Some(client_id.clone()), Some("disable".into()), move |conn| {
            clients::disable(conn, &client_id)
        })
        .await
}

#[get("/api/admin/clients")]
async fn api_list(guard: Guard<Api>) -> Result<HttpResponse, Rejection<Api>> {
    Ok(HttpResponse::Ok().json(json!({ "clients": list(&guard).await? })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewClient {
    name: String,
    jwks: serde_json::Value,
    scopes: String,
}

#[post("/api/admin/clients")]
async fn api_register(guard: Guard<Api>, body: web::Json<NewClient>) -> Result<HttpResponse, Rejection<Api>> {
    let NewClient { name, jwks, scopes } = body.into_inner();
    let registered = register(&guard, name, &jwks.to_string(), &scopes).await?.map_err(refusal)?;
    Ok(HttpResponse::Created().json(registered))
}

#[post("/api/admin/clients/{client_id}/disable")]
async fn api_disable(guard: Guard<Api>, client_id: web::Path<String>) -> Result<HttpResponse, Rejection<Api>> {
    Ok(HttpResponse::Ok().json(disable(&guard, client_id.into_inner()).await?))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(api_list).service(api_register).service(api_disable);
}
