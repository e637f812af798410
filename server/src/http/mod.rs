//! The HTTP server: the actix-web application and how it is started and stopped.

pub mod error;
pub mod health;
pub mod request_id;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};

use crate::config::ServerSettings;
use crate::db::Database;

/// Binds, prints the address, and serves until SIGTERM or SIGINT; then in-flight requests get
/// up to the configured shutdown timeout to finish.
pub async fn serve(settings: &ServerSettings, db: Arc<Database>) -> std::io::Result<()> {
    let listener = TcpListener::bind((settings.host, settings.port))?;
    let addr = listener.local_addr()?;
    let data = web::Data::from(db);
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .wrap(from_fn(request_id::middleware))
            .configure(health::routes)
            .default_service(web::to(error::not_found))
    })
    .shutdown_timeout(settings.shutdown_timeout_secs)
    .listen(listener)?;
    if settings.workers > 0 {
        server = server.workers(settings.workers);
    }
    let running = server.run();
    tracing::info!(%addr, "listening");
    // Printed for the person or script that started the server (tests read it to find the port).
    #[allow(clippy::print_stdout)]
    {
        println!("Vigil is listening on http://{addr}");
    }
    running.await
}
