//! `/healthz`: the process is alive (no database involved, so a database outage never gets a
//! healthy server restarted). `/readyz`: the server can do its work (database reachable,
//! migrations current); 503 with the reason otherwise, so a load balancer stops sending traffic.

use actix_web::{HttpResponse, get, web};
use serde_json::json;

use crate::http::access::database::{Database, Readiness};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz).service(readyz);
}

#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "alive" }))
}

#[get("/readyz")]
async fn readyz(db: web::Data<Database>) -> HttpResponse {
    let readiness = web::block(move || db.readiness()).await.unwrap_or(Readiness::MigrationStateUnknown);
    match readiness {
        Readiness::Ready => HttpResponse::Ok().json(json!({
            "status": "ready",
            "checks": { "database": "reachable", "migrations": "current" },
        })),
        // Reads go on from the replica; writes answer 503 until the primary is back.
        Readiness::ReplicaOnly => HttpResponse::Ok().json(json!({
            "status": "ready",
            "checks": { "database": "replica only: the primary is unreachable", "migrations": "current" },
        })),
        Readiness::DatabaseUnreachable => unavailable("database unreachable", "unreachable", "unknown"),
        Readiness::MigrationsPending(n) => {
            unavailable(&format!("{n} database migration(s) pending"), "reachable", "pending")
        }
        Readiness::MigrationStateUnknown => unavailable("database migration state unknown", "reachable", "unknown"),
    }
}

fn unavailable(reason: &str, database: &str, migrations: &str) -> HttpResponse {
    HttpResponse::ServiceUnavailable().json(json!({
        "status": "unavailable",
        "reason": reason,
        "checks": { "database": database, "migrations": migrations },
    }))
}
