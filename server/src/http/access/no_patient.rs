//! Access that names no patient: a principal's own records (an import job they queued) and
//! settings, and the system as a whole (administration, review). Each is decided and audited like
//! patient data, with the audit row the work's own.

use diesel::prelude::*;
use vigil_store::audit::{AuditEvent, Outcome};

use super::Access;
use super::Guard;
use super::audit_rows::{audit_event, audit_or_refuse, audited};
use crate::auth::policy::{Decision, Target, may};
use crate::http::surface::{Rejection, Surface};

impl<S: Surface> Guard<S> {
    /// Runs `work` on a record that belongs to the principal themselves (an import job they
    /// queued): `work` gets the principal's audit actor and must select by it, so that nobody
    /// learns of another's records (None: 404). Audited like a read.
    pub async fn own<T: Send + 'static>(
        &self,
        resource_type: &'static str,
        resource_id: String,
        work: impl FnOnce(&mut PgConnection, &str) -> QueryResult<Option<T>> + Send + 'static,
    ) -> Result<T, Rejection<S>> {
        self.blocking(move |conn, principal, context| {
            let shown = super::audit_rows::shown_id(&resource_id);
            let event = |outcome| AuditEvent {
                resource_type: Some(resource_type.into()),
                resource_id: Some(shown.clone()),
                data_category: Some("clinical-import".into()),
                ..context.event(principal.actor(), principal.role(), "read", outcome)
            };
            let found = work(conn, &principal.actor()).map_err(|e| Rejection::fault(&e))?;
            let outcome = if found.is_some() { Outcome::Success } else { Outcome::Failure };
            audit_or_refuse(conn, &event(outcome))?;
            found.ok_or_else(|| Rejection::not_found(format!("no {resource_type} {shown} of yours")))
        })
        .await
    }

    /// Runs `work` on the signed-in person's own settings (`work` gets their user id; systems have
    /// none: 403), audited as a read or, with `changes`, a write in the same transaction.
    pub async fn own_settings<T: Send + 'static>(
        &self,
        resource_type: &'static str,
        changes: bool,
        work: impl FnOnce(&mut PgConnection, i64) -> QueryResult<Option<T>> + Send + 'static,
    ) -> Result<T, Rejection<S>> {
        self.blocking(move |conn, principal, context| {
            let Some(user) = principal.user_id() else {
                return Err(Rejection::forbidden("only people have settings"));
            };
            let event = AuditEvent {
                resource_type: Some(resource_type.into()),
                resource_id: Some(user.to_string()),
                data_category: Some("settings".into()),
                ..context.event(
                    principal.actor(),
                    principal.role(),
                    if changes { "write" } else { "read" },
                    Outcome::Success,
                )
            };
            match audited(conn, &event, |conn| work(conn, user)) {
                Ok(Some(value)) => Ok(value),
                Ok(None) => Err(Rejection::not_found(format!("no {resource_type} of yours"))),
                Err(e) => Err(Rejection::fault(&e)),
            }
        })
        .await
    }

    /// Runs `work` if `may` allows `access` on the system as a whole (administration, review);
    /// audits the attempt whatever its outcome.
    pub async fn system<T: Send + 'static>(
        &self,
        access: Access,
        resource_id: Option<String>,
        work: impl FnOnce(&mut PgConnection) -> QueryResult<Option<T>> + Send + 'static,
    ) -> Result<T, Rejection<S>> {
        self.system_noted(access, resource_id, None, work).await
    }

    /// [`Guard::system`] with a note the audit row carries (what was done: "activate", "disable").
    pub async fn system_noted<T: Send + 'static>(
        &self,
        access: Access,
        resource_id: Option<String>,
        note: Option<String>,
        work: impl FnOnce(&mut PgConnection) -> QueryResult<Option<T>> + Send + 'static,
    ) -> Result<T, Rejection<S>> {
        self.blocking(move |conn, principal, context| {
            let (id, note) = (resource_id.as_deref(), note.as_deref());
            let record = |conn: &mut PgConnection, outcome: Outcome| {
                let event = audit_event(principal, context, access, id, None, outcome, false, note);
                audit_or_refuse(conn, &event)
            };
            if let Decision::Deny(reason) = may(principal, access.action, Target::System) {
                record(conn, Outcome::Denied)?;
                return Err(Rejection::forbidden(reason.message()));
            }
            let success = audit_event(principal, context, access, id, None, Outcome::Success, false, note);
            let outcome = audited(conn, &success, work);
            match outcome {
                Ok(Some(value)) => Ok(value),
                Ok(None) => {
                    record(conn, Outcome::Failure)?;
                    Err(Rejection::not_found(format!("no such {}", access.resource_type)))
                }
                Err(e) => {
                    let _ = record(conn, Outcome::Failure);
                    Err(Rejection::fault(&e))
                }
            }
        })
        .await
    }
}
