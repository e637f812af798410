//! The HTTP server: the actix-web application and how it is started and stopped.

pub mod access;
pub mod admin;
pub mod alert_rules;
pub mod alerts;
pub mod capacity;
pub mod cds;
pub mod error;
pub mod fault;
pub mod fhir;
pub mod health;
pub mod me;
pub mod metrics;
pub mod models;
pub mod patients;
pub mod portal;
pub mod proxies;
pub mod rate_limit;
pub mod request_id;
pub mod risk;
pub mod surface;

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use actix_web::middleware::{DefaultHeaders, from_fn};
use actix_web::{App, HttpServer, web};
use anyhow::Context;

use crate::config::ServerSettings;
use crate::http::access::AuthState;
use crate::http::access::database::Database;
use crate::http::surface::{Api, Rejection};

/// Sent on every response. The portal uses no inline script or style, so the CSP forbids both.
const SECURITY_HEADERS: [(&str, &str); 6] = [
    ("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    // Patient data must not linger in shared caches or browser history; static assets override it.
    ("Cache-Control", "no-store"),
];

/// Binds, prints the address, and serves until SIGTERM or SIGINT; then in-flight requests get
/// up to the configured shutdown timeout to finish.
pub async fn serve(
    settings: &ServerSettings,
    alert_settings: &crate::config::AlertSettings,
    security_event_window: std::time::Duration,
    db: Arc<Database>,
    auth: AuthState,
    importer: crate::imports::Waker,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind((settings.host, settings.port)).context("binding the listen address")?;
    let addr = listener.local_addr()?;
    let tls = match (&settings.tls_cert_file, &settings.tls_key_file) {
        (Some(cert), Some(key)) => Some(tls_config(cert, key)?),
        _ => None,
    };
    let events = Arc::new(access::security_events::SecurityEvents::new(security_event_window));
    access::security_events::spawn_flusher(Arc::clone(&events), Arc::clone(&db))?;
    let flushed = (Arc::clone(&events), Arc::clone(&db));
    let events = web::Data::from(events);
    let data = web::Data::from(db);
    let auth = web::Data::new(auth);
    let max_body = settings.max_body_bytes;
    let fhir_limits = web::Data::new(fhir::write::Limits {
        body: settings.max_fhir_body_bytes,
        bundle_entries: settings.max_bundle_entries,
        import: settings.max_import_bytes,
    });
    let importer = web::Data::new(importer);
    let snooze_bound =
        web::Data::new(alerts::SnoozeBound(chrono::Duration::hours(i64::from(alert_settings.max_snooze_hours))));
    let proxies = web::Data::new(settings.trusted_proxies.clone());
    let rate_limit =
        web::Data::new(rate_limit::ApiRateLimit::new(settings.api_requests_per_minute, settings.api_burst));
    let scrape = crate::metrics::install()?;
    if let Some(addr) = settings.metrics_addr {
        metrics::spawn_listener(addr, scrape.clone(), Some(data.clone().into_inner()))?;
    }
    let scrape = web::Data::new(scrape);
    let server = HttpServer::new(move || {
        let mut headers = DefaultHeaders::new();
        for header in SECURITY_HEADERS {
            headers = headers.add(header);
        }
        App::new()
            .app_data(data.clone())
            .app_data(auth.clone())
            .app_data(fhir_limits.clone())
            .app_data(importer.clone())
            .app_data(proxies.clone())
            .app_data(events.clone())
            .app_data(rate_limit.clone())
            .app_data(snooze_bound.clone())
            .app_data(scrape.clone())
            .app_data(web::PayloadConfig::new(max_body))
            .app_data(web::JsonConfig::default().limit(max_body).error_handler(|e, _| {
                if let actix_web::error::JsonPayloadError::ContentType = e {
                    let status = actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE;
                    return Rejection::<Api>::new(
                        status,
                        "unsupported_media_type",
                        "the body must be application/json",
                    )
                    .into();
                }
                let status = actix_web::ResponseError::status_code(&e);
                Rejection::<Api>::new(status, "invalid_body", format!("the request body was not accepted: {e}")).into()
            }))
            .app_data(web::FormConfig::default().limit(64 * 1024))
            .wrap(headers)
            .wrap(from_fn(request_id::middleware))
            .configure(health::routes)
            .service(metrics::scrape)
            .configure(access::sign_in::routes)
            .configure(access::smart::routes)
            .configure(access::break_glass::routes)
            .configure(patients::routes)
            .configure(risk::routes)
            .configure(cds::routes)
            .configure(capacity::routes)
            .configure(alerts::routes)
            .configure(alert_rules::routes)
            .configure(models::routes)
            .configure(admin::routes)
            .configure(me::routes)
            .configure(fhir::routes)
            .configure(portal::routes)
            .default_service(web::to(error::not_found))
    })
    .shutdown_timeout(settings.shutdown_timeout_secs);
    let server = if settings.workers > 0 { server.workers(settings.workers) } else { server };
    let (server, scheme) = match tls {
        Some(config) => (server.listen_rustls_0_23(listener, config)?, "https"),
        None => (server.listen(listener)?, "http"),
    };
    let running = server.run();
    tracing::info!(%addr, scheme, "listening");
    // Printed for the person or script that started the server (tests read it to find the port).
    #[allow(clippy::print_stdout)]
    {
        println!("Vigil is listening on {scheme}://{addr}");
    }
    running.await?;
    // What was counted but not written yet, written before the process ends.
    let (events, db) = flushed;
    web::block(move || events.flush(&db, true)).await?;
    Ok(())
}

fn tls_config(cert: &Path, key: &Path) -> anyhow::Result<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading the TLS certificate chain {}", cert.display()))?;
    anyhow::ensure!(!certs.is_empty(), "{} holds no certificate", cert.display());
    let key = PrivateKeyDer::from_pem_file(key).with_context(|| format!("reading the TLS key {}", key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the TLS certificate and key do not fit together")?;
    Ok(config)
}
