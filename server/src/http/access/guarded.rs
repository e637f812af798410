//! Access to one patient's data: who the patient is, their units and whether the principal holds
//! a break-glass grant for them, found in one query; the decision (`may`); the audit row; and the
//! work. A read is audited right after its work and before anything is sent (no transaction: it
//! changes nothing); anything else runs with its audit row in one transaction.

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Text};
use vigil_store::audit::{AuditEvent, Outcome};

use super::database::Database;
use super::{Access, PatientRef, RequestContext, audit_event, audit_or_refuse, audited};
use crate::auth::policy::{Action, Decision, DenyReason, Target, may};
use crate::auth::principal::Principal;
use crate::http::surface::Rejection;

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

#[derive(QueryableByName)]
struct Facts {
    #[diesel(sql_type = BigInt)]
    patient: i64,
    #[diesel(sql_type = Array<Text>)]
    units: Vec<String>,
    #[diesel(sql_type = Bool)]
    break_glass: bool,
}

/// The patient (received, not only referenced) a resource belongs to, their care units and
/// whether `user` holds an unexpired break-glass grant for them, in one round trip (the database's
/// `patient_access`). None when there is no such patient.
fn facts(conn: &mut PgConnection, resource_type: &str, fhir_id: &str, user: Option<i64>) -> QueryResult<Option<Facts>> {
    diesel::sql_query("SELECT patient, units, break_glass FROM patient_access($1, $2, $3)")
        .bind::<Text, _>(resource_type)
        .bind::<Text, _>(fhir_id)
        .bind::<BigInt, _>(user.unwrap_or(-1))
        .get_result(conn)
        .optional()
}

fn is_deleted(conn: &mut PgConnection, resource_type: &str, fhir_id: &str) -> QueryResult<bool> {
    use vigil_store::schema::raw_resources;
    diesel::select(diesel::dsl::exists(
        raw_resources::table
            .filter(raw_resources::resource_type.eq(resource_type).and(raw_resources::fhir_id.eq(fhir_id)))
            .filter(raw_resources::superseded_at.is_null().and(raw_resources::deleted)),
    ))
    .get_result(conn)
}

pub(super) fn guarded<S, T>(
    db: &Database,
    principal: &Principal,
    context: &RequestContext,
    access: Access,
    subject: &Subject,
    work: impl FnOnce(&mut PgConnection, &PatientRef) -> QueryResult<Option<T>>,
) -> Result<T, Rejection<S>> {
    let (fhir_id, note) = (subject.fhir_id.as_str(), subject.note.as_deref());
    // The id as the client sent it, escaped and bounded: it may hold anything, and the audit row
    // must still be written.
    let shown: String = fhir_id.escape_debug().take(128).collect();
    let event = |patient: Option<i64>, outcome: Outcome, break_glass: bool, detail: Option<&str>| {
        audit_event(principal, context, access, Some(&shown), patient, outcome, break_glass, detail)
    };
    let record = |conn: &mut PgConnection, e: AuditEvent| audit_or_refuse(conn, &e);
    let mut conn = db.conn().map_err(|e| Rejection::fault(&e))?;
    let conn = &mut *conn;

    // Whoever could never be allowed learns nothing about which patients exist.
    let probe = Target::Patient { resource_type: access.resource_type, units: &[], break_glass: true };
    if let Decision::Deny(reason @ (DenyReason::Role | DenyReason::Scope)) = may(principal, access.action, probe) {
        record(conn, event(None, Outcome::Denied, false, None))?;
        return Err(Rejection::forbidden(reason.message()));
    }
    let missing = || Rejection::not_found(format!("no {} with id {shown}", access.resource_type));
    if !vigil_ehr_adapter::reference::is_valid_id(fhir_id) {
        record(conn, event(None, Outcome::Failure, false, Some("not a FHIR id")))?;
        return Err(missing());
    }
    let Some(facts) =
        facts(conn, subject.resource_type, fhir_id, principal.user_id()).map_err(|e| Rejection::fault(&e))?
    else {
        // A deleted resource has no patient any more, only its tombstone: 410 rather than 404.
        if is_deleted(conn, access.resource_type, fhir_id).map_err(|e| Rejection::fault(&e))? {
            record(conn, event(None, Outcome::Failure, false, Some("deleted")))?;
            return Err(Rejection::gone(format!("{}/{shown} was deleted", access.resource_type)));
        }
        record(conn, event(None, Outcome::Failure, false, Some("not found")))?;
        return Err(missing());
    };
    let patient = PatientRef { id: facts.patient, units: facts.units };
    let target =
        Target::Patient { resource_type: access.resource_type, units: &patient.units, break_glass: facts.break_glass };
    let flagged = match may(principal, access.action, target) {
        Decision::Allow => false,
        Decision::AllowUnderBreakGlass => true,
        Decision::Deny(reason) => {
            record(conn, event(Some(patient.id), Outcome::Denied, false, note))?;
            return Err(Rejection::forbidden(reason.message()));
        }
    };
    let success = event(Some(patient.id), Outcome::Success, flagged, note);
    let outcome = if access.action == Action::Read {
        // A read changes nothing: its audit row is written after the work found the record and
        // before anything is sent, each in its own commit (two round trips, not four).
        match work(conn, &patient) {
            Ok(Some(value)) => record(conn, success).map(|()| Ok(Some(value)))?,
            other => other.map_err(vigil_store::StoreError::from),
        }
    } else {
        audited(conn, &success, |conn| work(conn, &patient))
    };
    match outcome {
        Ok(Some(value)) => Ok(value),
        Ok(None) => {
            record(conn, event(Some(patient.id), Outcome::Failure, flagged, Some("not found")))?;
            Err(Rejection::not_found(format!("no {} with id {fhir_id}", access.resource_type)))
        }
        Err(e) => {
            let _ = record(conn, event(Some(patient.id), Outcome::Failure, flagged, Some("error")));
            Err(Rejection::fault(&e))
        }
    }
}
