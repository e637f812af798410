//! The only road from a request to patient data.
//!
//! [`Authenticated`] establishes who is asking (an API token, a SMART access token, or a portal
//! session). [`Guard`] is the one way a handler reaches the database for patient data: it
//! resolves the patient, asks [`may`] whether the principal may do the declared action, writes
//! the audit row (denials too), and only then lends a connection to the handler's query. A
//! handler that declares nothing gets no connection, so a route that forgets fails closed. If
//! the audit row cannot be written, the handler's result is dropped and the client gets 503.

mod audit_rows;
mod authenticated;
pub mod break_glass;
pub mod context;
pub(crate) mod csrf;
pub mod database;
mod guarded;
mod listing;
mod lookup;
mod no_patient;
pub mod portal_session;
mod remembered_reads;
mod replica;
pub mod security_events;
pub mod sign_in;
pub mod smart;
mod write;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::{FromRequest, HttpRequest, web};
use diesel::PgConnection;
use diesel::prelude::*;
use vigil_store::audit::{self, AuditEvent, Outcome};

use self::audit_rows::{
    audit_event, audit_or_refuse, audit_shared_async_or_refuse, audit_shared_or_refuse, audited, shown_id,
};
pub use self::authenticated::{AuthState, Authenticated};
pub use self::context::RequestContext;
pub use self::listing::Found;
use self::listing::listing_events;
pub use self::lookup::StoredVersion;
pub use self::portal_session::{end_session, start_session};
use self::remembered_reads::{Read, ReadKey};
pub use self::write::{Declared, WriteScope};
use crate::auth::policy::{Action, Decision, Target, Visibility, may, visibility};
use crate::auth::principal::Principal;
use crate::http::access::database::Database;
use crate::http::fault;
use crate::http::surface::{Rejection, Surface};

/// A patient as access control sees them.
#[derive(Debug, Clone)]
pub struct PatientRef {
    pub id: i64,
    pub units: Vec<String>,
}

/// What a guarded read is about, for the decision and the audit row.
#[derive(Debug, Clone, Copy)]
pub struct Access {
    pub action: Action,
    pub resource_type: &'static str,
    pub data_category: &'static str,
}

/// The extractor every patient-data route takes: authentication plus the only database access.
#[derive(Debug)]
pub struct Guard<S> {
    pub auth: Authenticated<S>,
    db: Arc<Database>,
}

impl<S: Surface> FromRequest for Guard<S> {
    type Error = Rejection<S>;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let auth = Authenticated::<S>::from_request(req, payload);
        let db = req.app_data::<web::Data<Database>>().map(|d| d.clone().into_inner());
        Box::pin(async move {
            let auth = auth.await?;
            let db = db.ok_or_else(|| Rejection::internal(&"no database for this route"))?;
            Ok(Self { auth, db })
        })
    }
}

impl<S: Surface> Guard<S> {
    /// The alert lists this server remembers (read through [`Guard::search`] like any list).
    pub fn alert_lists(&self) -> std::sync::Arc<crate::http::alerts::remembered::AlertLists> {
        std::sync::Arc::clone(self.db.alert_lists())
    }

    pub fn principal(&self) -> &Principal {
        &self.auth.principal
    }

    /// Runs `work` on the patient with FHIR id `fhir_id` if `may` allows `access`; audits the
    /// attempt whatever its outcome. `work` returning None means the requested record does not
    /// exist (404, audited as a failure).
    pub async fn patient<T: Send + 'static>(
        &self,
        access: Access,
        fhir_id: String,
        work: impl FnOnce(&mut PgConnection, &PatientRef) -> QueryResult<Option<T>> + Send + 'static,
    ) -> Result<T, Rejection<S>> {
        self.run(access, "Patient", fhir_id, None, work).await
    }

    /// [`Guard::patient`] with a note that the audit row carries inside the chain (a break-glass
    /// grant's reason).
    pub async fn patient_noted<T: Send + 'static>(
        &self,
        access: Access,
        fhir_id: String,
        note: String,
        work: impl FnOnce(&mut PgConnection, &PatientRef) -> QueryResult<Option<T>> + Send + 'static,
    ) -> Result<T, Rejection<S>> {
        self.run(access, "Patient", fhir_id, Some(note), work).await
    }

    /// Like [`Guard::patient`], for a resource of a mapped clinical type (`access.resource_type`)
    /// with FHIR id `fhir_id`: access is decided on the patient it belongs to (a Patient is its
    /// own).
    pub async fn resource<T: Send + 'static>(
        &self,
        access: Access,
        fhir_id: String,
        work: impl FnOnce(&mut PgConnection, &PatientRef) -> QueryResult<Option<T>> + Send + 'static,
    ) -> Result<T, Rejection<S>> {
        if !guarded::leads_to_patient(access.resource_type) {
            return Err(Rejection::not_found("not a mapped resource type"));
        }
        self.run(access, access.resource_type, fhir_id, None, work).await
    }

    /// Refuses (audited) a principal who could never read `access.resource_type` (a search that
    /// includes resources of another type needs this for each). Allowing costs nothing.
    pub async fn check_read(&self, access: Access) -> Result<(), Rejection<S>> {
        let probe = Target::Patient { resource_type: access.resource_type, units: &[], break_glass: true };
        let Decision::Deny(reason) = may(&self.auth.principal, access.action, probe) else { return Ok(()) };
        self.blocking(move |conn, principal, context| {
            audit_or_refuse(conn, &audit_event(principal, context, access, None, None, Outcome::Denied, false, None))?;
            Err(Rejection::forbidden(reason.message()))
        })
        .await
    }

    /// Runs a search if `may` lets the principal read `access.resource_type` at all; `work` gets
    /// the principal's [`Visibility`] to restrict its query with, and reports which patients'
    /// data it returns. Each of those patients gets an audit row (flagged when seen only under
    /// break-glass) in the same transaction; a search that returns nobody gets one row. On a
    /// surface read from a replica, `work` runs there and the rows are appended after it, before
    /// anything is sent.
    pub async fn search<T: Send + 'static>(
        &self,
        access: Access,
        work: impl FnOnce(&mut PgConnection, &Visibility) -> QueryResult<Found<T>> + Send + 'static,
    ) -> Result<T, Rejection<S>> {
        let on_replica = S::READS_FROM_REPLICA && self.db.has_replica();
        let db = Arc::clone(&self.db);
        self.blocking_with(!on_replica, move |conn, principal, context| {
            let event = |patient: Option<i64>, outcome: Outcome, break_glass: bool| AuditEvent {
                action: "search".into(),
                ..audit_event(principal, context, access, None, patient, outcome, break_glass, None)
            };
            let probe = Target::Patient { resource_type: access.resource_type, units: &[], break_glass: true };
            if let Decision::Deny(reason) = may(principal, access.action, probe) {
                audit_shared_or_refuse(&db, &event(None, Outcome::Denied, false))?;
                return Err(Rejection::forbidden(reason.message()));
            }
            let visibility = visibility(principal);
            let failed = |e: &dyn fault::Fault| {
                let _ = audit_shared_or_refuse::<S>(&db, &event(None, Outcome::Failure, false));
                Rejection::fault(e)
            };
            let Some(conn) = conn else {
                let mut conn = db.read_conn(&principal.actor()).map_err(|e| Rejection::fault(&e))?;
                let found = work(&mut conn, &visibility).map_err(|e| failed(&e))?;
                drop(conn);
                for row in listing_events(found.patients, event) {
                    audit_shared_or_refuse(&db, &row)?;
                }
                return Ok(found.value);
            };
            conn.transaction(|conn| {
                let found = work(conn, &visibility)?;
                audit::append_many(conn, &listing_events(found.patients.clone(), event))?;
                Ok::<_, diesel::result::Error>(found.value)
            })
            .map_err(|e| failed(&e))
        })
        .await
    }

    /// Runs `work`, which sums data of many patients into figures that name none, if `may` allows
    /// the principal such aggregates; audits the attempt whatever its outcome.
    pub async fn aggregate<T: Send + 'static>(
        &self,
        access: Access,
        work: impl FnOnce(&mut PgConnection) -> QueryResult<Option<T>> + Send + 'static,
    ) -> Result<T, Rejection<S>> {
        self.blocking(move |conn, principal, context| {
            let event = |outcome| audit_event(principal, context, access, None, None, outcome, false, None);
            if let Decision::Deny(reason) =
                may(principal, access.action, Target::Aggregate { resource_type: access.resource_type })
            {
                audit_or_refuse(conn, &event(Outcome::Denied))?;
                return Err(Rejection::forbidden(reason.message()));
            }
            match audited(conn, &event(Outcome::Success), work) {
                Ok(Some(value)) => Ok(value),
                Ok(None) => Err(Rejection::not_found("nothing to sum")),
                Err(e) => {
                    let _ = audit::append(conn, &event(Outcome::Failure));
                    Err(Rejection::fault(&e))
                }
            }
        })
        .await
    }

    /// Runs `work` on a blocking thread with a pooled connection and who is asking; a connection
    /// that cannot be had is 503.
    pub(in crate::http::access) async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut PgConnection, &Principal, &RequestContext) -> Result<T, Rejection<S>> + Send + 'static,
    ) -> Result<T, Rejection<S>> {
        self.blocking_with(true, move |conn, principal, context| match conn {
            Some(conn) => work(conn, principal, context),
            None => Err(Rejection::internal(&"no connection was taken")),
        })
        .await
    }

    /// [`Guard::blocking`], taking a primary connection only when `primary` (None otherwise: the
    /// work takes what it needs).
    async fn blocking_with<T: Send + 'static>(
        &self,
        primary: bool,
        work: impl FnOnce(Option<&mut PgConnection>, &Principal, &RequestContext) -> Result<T, Rejection<S>>
        + Send
        + 'static,
    ) -> Result<T, Rejection<S>> {
        let (db, principal, context) = (self.db.clone(), self.auth.principal.clone(), self.auth.context.clone());
        web::block(move || {
            let mut conn = if primary { Some(db.conn().map_err(|e| Rejection::fault(&e))?) } else { None };
            work(conn.as_deref_mut(), &principal, &context)
        })
        .await
        .map_err(|e| Rejection::internal(&e))?
    }

    async fn run<T: Send + 'static>(
        &self,
        access: Access,
        resource_type: &'static str,
        fhir_id: String,
        note: Option<String>,
        work: impl FnOnce(&mut PgConnection, &PatientRef) -> QueryResult<Option<T>> + Send + 'static,
    ) -> Result<T, Rejection<S>> {
        let (db, principal, context) = (self.db.clone(), self.auth.principal.clone(), self.auth.context.clone());
        let subject = guarded::Subject { resource_type, fhir_id, note };
        let done = web::block(move || {
            let lookup = |conn: &mut PgConnection, user| {
                Ok(lookup::facts(conn, subject.resource_type, &subject.fhir_id, user)?.map(|facts| (facts, ())))
            };
            guarded::guarded(&db, &principal, &context, access, &subject, lookup, |conn, patient, ()| {
                work(conn, patient)
            })
        })
        .await
        .map_err(|e| Rejection::internal(&e))?;
        if access.action != Action::Read {
            // What it changed must not be served to this server's next read from memory.
            self.db.reads().forget_all();
        }
        done
    }

    /// Reads one stored version of a resource of a mapped clinical type through the guard (the
    /// current one, or version `number`), its patient's facts and the version found in one
    /// statement. None: no such version (404, audited as a failure). What was read is remembered
    /// until it or its access facts change; a read of it then costs no query of its own (see
    /// [`remembered_reads`]), but is decided and audited all the same.
    pub async fn read_version(
        &self,
        access: Access,
        fhir_id: String,
        number: Option<i32>,
    ) -> Result<StoredVersion, Rejection<S>> {
        if !guarded::leads_to_patient(access.resource_type) {
            return Err(Rejection::not_found("not a mapped resource type"));
        }
        let key = ReadKey { resource_type: access.resource_type, fhir_id, number };
        if let Some(read) = self.db.reads().get(&key)
            && let Some(version) = self.read_remembered(access, &key.fhir_id, &read).await?
        {
            return Ok(version);
        }
        let stamp = self.db.reads().stamp();
        let (db, principal, context) = (self.db.clone(), self.auth.principal.clone(), self.auth.context.clone());
        let subject =
            guarded::Subject { resource_type: access.resource_type, fhir_id: key.fhir_id.clone(), note: None };
        let (patient, version) = web::block(move || {
            let lookup = |conn: &mut PgConnection, user| {
                lookup::facts_and_version(conn, subject.resource_type, &subject.fhir_id, user, number)
            };
            guarded::guarded(&db, &principal, &context, access, &subject, lookup, |_, patient, version| {
                Ok(version.map(|version| (patient.clone(), version)))
            })
        })
        .await
        .map_err(|e| Rejection::internal(&e))??;
        if stamp.is_some() {
            let read = Read { patient: patient.id, units: patient.units, version: version.clone() };
            self.db.reads().remember(key, Arc::new(read), stamp);
        }
        Ok(version)
    }

    /// A remembered read, when `may` allows it without a break-glass grant (None otherwise: the
    /// database decides, grants included), audited before it is returned.
    async fn read_remembered(
        &self,
        access: Access,
        fhir_id: &str,
        read: &Read,
    ) -> Result<Option<StoredVersion>, Rejection<S>> {
        let principal = &self.auth.principal;
        let target = Target::Patient { resource_type: access.resource_type, units: &read.units, break_glass: false };
        if may(principal, access.action, target) != Decision::Allow {
            return Ok(None);
        }
        let shown = shown_id(fhir_id);
        let event = audit_event(
            principal,
            &self.auth.context,
            access,
            Some(&shown),
            Some(read.patient),
            Outcome::Success,
            false,
            None,
        );
        audit_shared_async_or_refuse(&self.db, &event).await?;
        Ok(Some(read.version.clone()))
    }
}
