//! Administration's JSON API and the code the portal's administration pages share with it:
//! people (`people.rs`), care units and their escalation contacts (`units.rs`), API clients
//! (`clients.rs`) and the audit trail (`audit.rs`). Everything is for admins (`Action::Administer`,
//! `Action::ReviewAccess`) and audited with what was done.

use actix_web::http::StatusCode;
use actix_web::web;

use crate::auth::policy::Action;
use crate::http::access::Access;
use crate::http::surface::Rejection;

pub mod audit;
pub mod clients;
pub mod people;
pub mod units;

pub const ADMINISTER: Access =
    Access { action: Action::Administer, resource_type: "Administration", data_category: "administration" };

/// What administration's work gives back: None for no such thing (404), the reason a request
/// is refused (422), or the thing.
pub type Outcome<T> = diesel::QueryResult<Option<Result<T, String>>>;

/// A request an admin must correct.
pub fn refusal<S>(problem: String) -> Rejection<S> {
    Rejection::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", problem)
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    people::routes(cfg);
    units::routes(cfg);
    clients::routes(cfg);
    audit::routes(cfg);
}
