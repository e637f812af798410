//! Access to one patient's data: who the patient is, their units and whether the principal holds
//! a break-glass grant for them, found in one query; the decision (`may`); the audit row; and the
//! work. A read is audited right after its work and before anything is sent (no transaction: it
//! changes nothing); anything else runs with its audit row in one transaction.

use diesel::prelude::*;
use vigil_store::audit::{AuditEvent, Outcome};

use super::audit_rows::{audit_event, audit_shared_or_refuse, audited, shown_id};
use super::database::Database;
use super::lookup::{Facts, is_deleted};
use super::{Access, PatientRef, RequestContext};
use crate::auth::policy::{Action, Decision, DenyReason, Target, may};
use crate::auth::principal::Principal;
use crate::http::surface::{Rejection, Surface};

/// The types whose resources lead to a patient (the database's `patient_access` knows them).
pub(super) fn leads_to_patient(resource_type: &str) -> bool {
    matches!(
        resource_type,
        "Patient"
            | "Encounter"
            | "Condition"
            | "Observation"
            | "MedicationRequest"
            | "Procedure"
            | "RiskAssessment"
            | "Alert"
            | crate::auth::policy::CDS_CARD
    )
}

/// What a guarded access is about: the type and FHIR id asked for (a Patient, or a resource whose
/// patient decides), and a note for the audit row.
pub(super) struct Subject {
    pub(super) resource_type: &'static str,
    pub(super) fhir_id: String,
    pub(super) note: Option<String>,
}

/// Decides and audits an access to one patient's data: `lookup` finds the patient's [`Facts`] (and
/// whatever else it can fetch in the same statement, handed to `work`), `work` does what was asked
/// once allowed.
pub(super) fn guarded<S: Surface, P, T>(
    db: &Database,
    principal: &Principal,
    context: &RequestContext,
    access: Access,
    subject: &Subject,
    lookup: impl FnOnce(&mut PgConnection, Option<i64>) -> QueryResult<Option<(Facts, P)>>,
    work: impl FnOnce(&mut PgConnection, &PatientRef, P) -> QueryResult<Option<T>>,
) -> Result<T, Rejection<S>> {
    let (fhir_id, note) = (subject.fhir_id.as_str(), subject.note.as_deref());
    let shown = shown_id(fhir_id);
    let event = |patient: Option<i64>, outcome: Outcome, break_glass: bool, detail: Option<&str>| {
        audit_event(principal, context, access, Some(&shown), patient, outcome, break_glass, detail)
    };
    // Rows outside a transaction of their own work share their commit with concurrent requests,
    // and are appended once the request's connection is back in the pool.
    let record = |e: AuditEvent| audit_shared_or_refuse(db, &e);

    // Whoever could never be allowed learns nothing about which patients exist.
    let probe = Target::Patient { resource_type: access.resource_type, units: &[], break_glass: true };
    if let Decision::Deny(reason @ (DenyReason::Role | DenyReason::Scope)) = may(principal, access.action, probe) {
        record(event(None, Outcome::Denied, false, None))?;
        return Err(Rejection::forbidden(reason.message()));
    }
    let missing = || Rejection::not_found(format!("no {} with id {shown}", access.resource_type));
    if !vigil_ehr_adapter::reference::is_valid_id(fhir_id) {
        record(event(None, Outcome::Failure, false, Some("not a FHIR id")))?;
        return Err(missing());
    }
    let reading = access.action == Action::Read && S::READS_FROM_REPLICA;
    let mut pooled =
        if reading { db.read_conn(&principal.actor()) } else { db.conn() }.map_err(|e| Rejection::fault(&e))?;
    let Some((facts, fetched)) = lookup(&mut pooled, principal.user_id()).map_err(|e| Rejection::fault(&e))? else {
        // A deleted resource has no patient any more, only its tombstone: 410 rather than 404.
        let deleted = is_deleted(&mut pooled, access.resource_type, fhir_id).map_err(|e| Rejection::fault(&e));
        drop(pooled);
        if deleted? {
            record(event(None, Outcome::Failure, false, Some("deleted")))?;
            return Err(Rejection::gone(format!("{}/{shown} was deleted", access.resource_type)));
        }
        record(event(None, Outcome::Failure, false, Some("not found")))?;
        return Err(missing());
    };
    let patient = PatientRef { id: facts.patient, units: facts.units };
    let target =
        Target::Patient { resource_type: access.resource_type, units: &patient.units, break_glass: facts.break_glass };
    let flagged = match may(principal, access.action, target) {
        Decision::Allow => false,
        Decision::AllowUnderBreakGlass => true,
        Decision::Deny(reason) => {
            drop(pooled);
            record(event(Some(patient.id), Outcome::Denied, false, note))?;
            return Err(Rejection::forbidden(reason.message()));
        }
    };
    let success = event(Some(patient.id), Outcome::Success, flagged, note);
    let outcome = if access.action == Action::Read {
        // A read changes nothing: its audit row is appended after the work found the record and
        // before anything is sent.
        let found = work(&mut pooled, &patient, fetched);
        drop(pooled);
        match found {
            Ok(Some(value)) => record(success).map(|()| Ok(Some(value)))?,
            other => other.map_err(vigil_store::StoreError::from),
        }
    } else {
        let done = audited(&mut pooled, &success, |conn| work(conn, &patient, fetched));
        drop(pooled);
        done
    };
    match outcome {
        Ok(Some(value)) => Ok(value),
        Ok(None) => {
            record(event(Some(patient.id), Outcome::Failure, flagged, Some("not found")))?;
            Err(Rejection::not_found(format!("no {} with id {fhir_id}", access.resource_type)))
        }
        Err(e) => {
            let _ = record(event(Some(patient.id), Outcome::Failure, flagged, Some("error")));
            Err(Rejection::fault(&e))
        }
    }
}
