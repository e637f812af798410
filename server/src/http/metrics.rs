//! The Prometheus scrape: `GET /metrics` on the main port for administrators' tokens, and the same
//! page without authentication on a listener of its own (`server.metrics_addr`,
//! `worker.metrics_addr`) for a scraper inside the deployment's network. Gauges read from the
//! database (the outbox, the change feeds, live alerts, the pool) are refreshed at each scrape.

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::{App, HttpResponse, HttpServer, get, web};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::auth::Role;
use crate::auth::principal::Principal;
use crate::http::access::Authenticated;
use crate::http::access::database::Database;
use crate::http::surface::{Api, Rejection};

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The page, with the database's gauges read first when this process has a request pool.
async fn page(handle: PrometheusHandle, db: Option<Arc<Database>>) -> Result<HttpResponse, Rejection<Api>> {
    let body = web::block(move || {
        if let Some(db) = db {
            db.record_operations();
        }
        handle.render()
    })
    .await
    .map_err(|e| Rejection::internal(&e))?;
    Ok(HttpResponse::Ok().content_type(CONTENT_TYPE).body(body))
}

#[get("/metrics")]
pub async fn scrape(
    auth: Authenticated<Api>,
    handle: web::Data<PrometheusHandle>,
    db: web::Data<Database>,
) -> Result<HttpResponse, Rejection<Api>> {
    if !matches!(&auth.principal, Principal::User(user) if user.role == Role::Admin) {
        return Err(Rejection::forbidden("metrics are for administrators, or on server.metrics_addr"));
    }
    page(handle.get_ref().clone(), Some(db.into_inner())).await
}

#[get("/metrics")]
async fn open_scrape(
    handle: web::Data<PrometheusHandle>,
    db: web::Data<Option<Arc<Database>>>,
) -> Result<HttpResponse, Rejection<Api>> {
    page(handle.get_ref().clone(), db.get_ref().clone()).await
}

/// Serves `/metrics` without authentication on `addr`, on a thread of its own, until the process
/// ends. Bind it to an address only the scraper reaches.
pub fn spawn_listener(addr: SocketAddr, handle: PrometheusHandle, db: Option<Arc<Database>>) -> anyhow::Result<()> {
    let listener =
        std::net::TcpListener::bind(addr).map_err(|e| anyhow::anyhow!("binding the metrics address {addr}: {e}"))?;
    std::thread::Builder::new().name("metrics-listener".into()).spawn(move || {
        let (handle, db) = (web::Data::new(handle), web::Data::new(db));
        let served = actix_web::rt::System::new().block_on(async move {
            HttpServer::new(move || App::new().app_data(handle.clone()).app_data(db.clone()).service(open_scrape))
                .workers(1)
                .disable_signals()
                .listen(listener)?
                .run()
                .await
        });
        if let Err(error) = served {
            tracing::error!(%error, "the metrics listener stopped");
        }
    })?;
    tracing::info!(%addr, "metrics listening");
    Ok(())
}
