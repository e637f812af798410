//! Guarded writes of patient data. A write declares what it touches before its body is read (one
//! type, or any for a Bundle or an import), so that a principal who may write nothing is refused
//! before a byte is parsed; the types the body turns out to hold are checked as they become known
//! ([`WriteScope::require`]), inside the write's transaction.

use diesel::PgConnection;
use diesel::prelude::*;
use vigil_store::audit::{self, AuditEvent, Outcome};

use super::{Guard, RequestContext};
use crate::auth::policy::{Action, Decision, Target, may, write_scopes};
use crate::auth::principal::{Principal, Scopes};
use crate::http::surface::{Rejection, Surface};

/// What a write touches, as far as it is known before its body is read.
#[derive(Debug, Clone, Copy)]
pub enum Declared {
    /// One resource type (create, update, delete).
    Type(&'static str),
    /// Types known only from the body (a Bundle, an NDJSON import).
    Any,
}

impl Declared {
    fn label(self) -> &'static str {
        match self {
            Self::Type(ty) => ty,
            Self::Any => "Bundle",
        }
    }
}

/// A write under way: what to audit each changed patient with, and the checks of what the body
/// holds.
#[derive(Debug)]
pub struct WriteScope<'a> {
    /// The audit event for each patient whose data the write changes (see
    /// `vigil_ehr_adapter::ingest::store`).
    pub audit: AuditEvent,
    principal: &'a Principal,
    context: &'a RequestContext,
    types: Vec<String>,
    denied: bool,
}

impl WriteScope<'_> {
    /// Requires write permission on each of `types`: 403 otherwise, and the request is audited as
    /// denied.
    pub fn require<S>(&mut self, types: &[String]) -> Result<(), Rejection<S>> {
        for ty in types {
            if !self.types.contains(ty) {
                self.types.push(ty.clone());
            }
            let target = Target::Patient { resource_type: ty, units: &[], break_glass: false };
            if let Decision::Deny(reason) = may(self.principal, Action::Write, target) {
                self.denied = true;
                return Err(Rejection::forbidden(format!("{} ({ty})", reason.message())));
            }
        }
        Ok(())
    }

    /// Whether the principal may read `resource_type` at all (a conditional create reveals the
    /// resource it matches only to a principal that may read it).
    pub fn may_read(&self, resource_type: &str) -> bool {
        let target = Target::Patient { resource_type, units: &[], break_glass: true };
        !matches!(may(self.principal, Action::Read, target), Decision::Deny(_))
    }

    /// Audits that the write revealed a patient's `resource_type` (a conditional create's match).
    pub fn revealed(&self, conn: &mut PgConnection, resource_type: &str, patient: i64) -> QueryResult<()> {
        let event = AuditEvent {
            resource_type: Some(resource_type.to_owned()),
            patient_id: Some(patient),
            detail: Some("matched by If-None-Exist".into()),
            ..self.context.event(self.principal.actor(), self.principal.role(), "read", Outcome::Success)
        };
        audit::append(conn, &event).map(|_| ()).map_err(|e| crate::http::fault::unexpected(&e))
    }

    /// The principal's write permissions, to keep with work done later on their behalf.
    pub fn write_scopes(&self) -> Scopes {
        write_scopes(self.principal).unwrap_or_else(Scopes::write_all)
    }
}

/// A write's work refused or failed: its transaction is rolled back and the rejection answered.
struct WriteAborted<S>(Rejection<S>);

impl<S> From<diesel::result::Error> for WriteAborted<S> {
    fn from(e: diesel::result::Error) -> Self {
        Self(Rejection::fault(&e))
    }
}

fn declared_allowed(principal: &Principal, declared: Declared) -> Decision {
    match declared {
        Declared::Type(resource_type) => {
            may(principal, Action::Write, Target::Patient { resource_type, units: &[], break_glass: false })
        }
        Declared::Any => match write_scopes(principal) {
            Some(_) => Decision::Allow,
            None => may(
                principal,
                Action::Write,
                Target::Patient { resource_type: "Bundle", units: &[], break_glass: false },
            ),
        },
    }
}

fn request_event(
    principal: &Principal,
    context: &RequestContext,
    types: &str,
    outcome: Outcome,
    detail: Option<String>,
) -> AuditEvent {
    AuditEvent {
        resource_type: Some(types.chars().take(200).collect()),
        data_category: Some("clinical-import".into()),
        detail,
        ..context.event(principal.actor(), principal.role(), "write", outcome)
    }
}

impl<S: Surface> Guard<S> {
    /// Refuses a principal who may not write what is declared, before the body is read; the
    /// refusal is audited. Allowing costs nothing: the decision is pure.
    pub async fn check_write(&self, declared: Declared) -> Result<(), Rejection<S>> {
        let Decision::Deny(reason) = declared_allowed(&self.auth.principal, declared) else { return Ok(()) };
        self.blocking(move |conn, principal, context| {
            let event = request_event(principal, context, declared.label(), Outcome::Denied, None);
            super::audit_or_refuse(conn, &event)?;
            Err(Rejection::forbidden(reason.message()))
        })
        .await
    }

    /// Runs `work`, a write of patient data, if `may` allows what is declared; `work` checks what
    /// the body holds with [`WriteScope::require`]. It runs on a blocking thread in one
    /// transaction, which a rejection from it rolls back. The request itself gets one audit row
    /// whatever its outcome (denied when `require` refused).
    pub async fn write<T: Send + 'static>(
        &self,
        declared: Declared,
        work: impl FnOnce(&mut PgConnection, &mut WriteScope<'_>) -> Result<T, Rejection<S>> + Send + 'static,
    ) -> Result<T, Rejection<S>> {
        let written = self
            .blocking(move |conn, principal, context| {
                if let Decision::Deny(reason) = declared_allowed(principal, declared) {
                    let event = request_event(principal, context, declared.label(), Outcome::Denied, None);
                    super::audit_or_refuse(conn, &event)?;
                    return Err(Rejection::forbidden(reason.message()));
                }
                let mut scope = WriteScope {
                    audit: AuditEvent {
                        data_category: Some("clinical-import".into()),
                        ..context.event(principal.actor(), principal.role(), "write", Outcome::Success)
                    },
                    principal,
                    context,
                    types: match declared {
                        Declared::Type(ty) => vec![ty.to_owned()],
                        Declared::Any => Vec::new(),
                    },
                    denied: false,
                };
                let result = conn.transaction(|conn| {
                    let value = work(conn, &mut scope).map_err(WriteAborted)?;
                    let types = scope.types.join(",");
                    audit::append(conn, &request_event(principal, context, &types, Outcome::Success, None))
                        .map_err(|e| WriteAborted(Rejection::fault(&e)))?;
                    Ok::<_, WriteAborted<S>>(value)
                });
                match result {
                    Ok(value) => Ok(value),
                    Err(WriteAborted(rejection)) => {
                        let types =
                            if scope.types.is_empty() { declared.label().to_owned() } else { scope.types.join(",") };
                        let (outcome, detail) = if scope.denied {
                            (Outcome::Denied, None)
                        } else {
                            (Outcome::Failure, Some(format!("{} {}", rejection.status.as_u16(), rejection.code)))
                        };
                        let _ = audit::append(conn, &request_event(principal, context, &types, outcome, detail));
                        Err(rejection)
                    }
                }
            })
            .await;
        // The writer's next read must not be served what it replaced, nor wait for the notification.
        self.db.reads().forget_all();
        written
    }
}
