//! The audit rows the guard writes: what one access was, and the ways a row is appended (alone,
//! shared with concurrent requests, or in the transaction of the work it records). A row that
//! cannot be written refuses the request.

use diesel::PgConnection;
use diesel::prelude::*;
use vigil_store::audit::{self, AuditEvent, Outcome};

use super::database::Database;
use super::{Access, RequestContext};
use crate::auth::policy::Action;
use crate::auth::principal::Principal;
use crate::http::surface::Rejection;

/// An id as the client sent it, escaped and bounded for an audit row: it may hold anything, and the
/// row must still be written.
pub(super) fn shown_id(id: &str) -> String {
    id.escape_debug().take(128).collect()
}

#[allow(clippy::too_many_arguments)] // one audit row has this many facts
pub(super) fn audit_event(
    principal: &Principal,
    context: &RequestContext,
    access: Access,
    resource_id: Option<&str>,
    patient: Option<i64>,
    outcome: Outcome,
    break_glass: bool,
    detail: Option<&str>,
) -> AuditEvent {
    let action = match access.action {
        Action::Read => "read",
        Action::Write => "write",
        Action::Respond => "respond",
        Action::BreakGlass => "break-glass",
        Action::ReviewAccess => "review",
        Action::Configure => "configure",
        Action::ManageModels => "models",
        Action::Administer => "administer",
    };
    AuditEvent {
        resource_type: Some(access.resource_type.into()),
        resource_id: resource_id.map(str::to_owned),
        patient_id: patient,
        data_category: Some(access.data_category.into()),
        break_glass,
        detail: detail.map(str::to_owned),
        ..context.event(principal.actor(), principal.role(), action, outcome)
    }
}

/// Appends an audit row, or refuses the request: what cannot be audited does not happen. The
/// failure is logged with what the row was about, never whom (no patient, no resource id).
pub(in crate::http::access) fn audit_or_refuse<S>(
    conn: &mut PgConnection,
    event: &AuditEvent,
) -> Result<(), Rejection<S>> {
    refuse_unless_audited(event, audit::append(conn, event).map_err(vigil_store::StoreError::from))
}

/// [`audit_or_refuse`] for a row that belongs to no transaction of its own work (a read, a
/// denial): appended together with the rows of concurrent requests.
pub(in crate::http::access) fn audit_shared_or_refuse<S>(
    db: &Database,
    event: &AuditEvent,
) -> Result<(), Rejection<S>> {
    refuse_unless_audited(event, db.audit(event))
}

/// [`audit_shared_or_refuse`] from an async request, which waits for its row without holding a
/// thread.
pub(in crate::http::access) async fn audit_shared_async_or_refuse<S>(
    db: &Database,
    event: &AuditEvent,
) -> Result<(), Rejection<S>> {
    refuse_unless_audited(event, db.audit_async(event).await)
}

fn refuse_unless_audited<S, A>(
    event: &AuditEvent,
    appended: Result<A, vigil_store::StoreError>,
) -> Result<(), Rejection<S>> {
    appended.map(|_| ()).map_err(|e| {
        tracing::error!(
            error = %e,
            action = %event.action,
            resource_type = event.resource_type.as_deref().unwrap_or(""),
            outcome = event.outcome.as_str(),
            request_id = event.request_id.as_deref().unwrap_or(""),
            "could not write an audit row; the request is refused"
        );
        Rejection::fault(&e)
    })
}

/// Runs `work` and, when it finds what it looked for, appends `success` in the same transaction:
/// the work and its audit row commit together, so a write whose audit row fails is undone.
pub(super) fn audited<T>(
    conn: &mut PgConnection,
    success: &AuditEvent,
    work: impl FnOnce(&mut PgConnection) -> QueryResult<Option<T>>,
) -> Result<Option<T>, vigil_store::StoreError> {
    conn.transaction(|conn| {
        let Some(value) = work(conn)? else { return Ok(None) };
        audit::append(conn, success)?;
        Ok(Some(value))
    })
}
