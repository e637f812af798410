//! The audit trail: append-only, hash-chained.
//!
//! Rows are appended without a lock, concurrently, each in its writer's own transaction; the
//! sealer ([`chain::seal`]) links them into the hash chain in `audit_seals` within a second, one
//! sealer at a time. Each seal's hash is SHA-256 over the previous seal's hash and a
//! length-prefixed encoding of the row's fields, so changing any field of a sealed row, or removing
//! one, breaks the chain there; [`chain::verify`] names where, and reports the unsealed tail. Both
//! tables refuse UPDATE, DELETE and TRUNCATE (see the audit_log migration), and the application's
//! runtime role may only insert into them and read them.

pub mod chain;
pub mod gaps;
pub mod group;
pub mod search;
pub mod spool;

pub use chain::{Break, Head, Verification, seal, verify};
pub use group::{Appended, GroupAppender};
pub use spool::Spool;

use chrono::{DateTime, SubsecRound, Utc};
use diesel::prelude::*;

use crate::schema::audit_log;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    /// Refused by access control.
    Denied,
    /// Attempted and failed (not found, invalid, error).
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Denied => "denied",
            Self::Failure => "failure",
        }
    }
}

/// One audited event, before it is chained.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditEvent {
    /// `user:<username>`, `client:<client_id>`, `service:<name>`, `cli:<os user>` or `anonymous`.
    pub actor: String,
    pub actor_role: String,
    /// What was done: `read`, `search`, `create`, `update`, `sign-in`, `break-glass`, ...
    pub action: String,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub patient_id: Option<i64>,
    /// Which kind of patient data: `demographics`, `encounters`, `observations`, `scores`, ...
    pub data_category: Option<String>,
    pub outcome: Outcome,
    pub source_address: Option<String>,
    pub request_id: Option<String>,
    /// The access was allowed only by a break-glass grant.
    pub break_glass: bool,
    /// A short free text for reviewers (never patient data).
    pub detail: Option<String>,
    /// The patients a list or search showed, when it showed more than one (then `patient_id` is
    /// None): one row for the whole list.
    pub patients: Vec<i64>,
}

impl AuditEvent {
    /// Who did what and how it ended; every other field empty, to be filled with struct update
    /// syntax where known.
    pub fn new(
        actor: impl Into<String>,
        actor_role: impl Into<String>,
        action: impl Into<String>,
        outcome: Outcome,
    ) -> Self {
        Self {
            actor: actor.into(),
            actor_role: actor_role.into(),
            action: action.into(),
            resource_type: None,
            resource_id: None,
            patient_id: None,
            data_category: None,
            outcome,
            source_address: None,
            request_id: None,
            break_glass: false,
            detail: None,
            patients: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = audit_log, check_for_backend(diesel::pg::Pg))]
pub struct AuditRow {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub actor_role: String,
    pub action: String,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub patient_id: Option<i64>,
    pub data_category: Option<String>,
    pub outcome: String,
    pub source_address: Option<String>,
    pub request_id: Option<String>,
    pub break_glass: bool,
    pub detail: Option<String>,
    pub patients: Option<Vec<Option<i64>>>,
}

/// Appends `event` at the current time and returns its sequence number. Runs in its own
/// transaction, or joins the caller's. Appends take no lock: the sealer links them into the chain.
pub fn append(conn: &mut PgConnection, event: &AuditEvent) -> QueryResult<i64> {
    // One row as one tuple, not a slice: a statement of fixed shape, which diesel prepares once
    // per connection (every guarded request appends one).
    diesel::insert_into(audit_log::table)
        .values(row(event, Utc::now().trunc_subsecs(6)))
        .returning(audit_log::seq)
        .get_result(conn)
}

/// The columns of `event` written at `at`.
#[allow(clippy::type_complexity)] // the insertable tuple of audit_log's columns
fn row(
    event: &AuditEvent,
    at: DateTime<Utc>,
) -> (
    diesel::dsl::Eq<audit_log::at, DateTime<Utc>>,
    diesel::dsl::Eq<audit_log::actor, &String>,
    diesel::dsl::Eq<audit_log::actor_role, &String>,
    diesel::dsl::Eq<audit_log::action, &String>,
    diesel::dsl::Eq<audit_log::resource_type, &Option<String>>,
    diesel::dsl::Eq<audit_log::resource_id, &Option<String>>,
    diesel::dsl::Eq<audit_log::patient_id, Option<i64>>,
    diesel::dsl::Eq<audit_log::data_category, &Option<String>>,
    diesel::dsl::Eq<audit_log::outcome, &'static str>,
    diesel::dsl::Eq<audit_log::source_address, &Option<String>>,
    diesel::dsl::Eq<audit_log::request_id, &Option<String>>,
    diesel::dsl::Eq<audit_log::break_glass, bool>,
    diesel::dsl::Eq<audit_log::detail, &Option<String>>,
    diesel::dsl::Eq<audit_log::patients, Option<Vec<Option<i64>>>>,
) {
    (
        audit_log::at.eq(at),
        audit_log::actor.eq(&event.actor),
        audit_log::actor_role.eq(&event.actor_role),
        audit_log::action.eq(&event.action),
        audit_log::resource_type.eq(&event.resource_type),
        audit_log::resource_id.eq(&event.resource_id),
        audit_log::patient_id.eq(event.patient_id),
        audit_log::data_category.eq(&event.data_category),
        audit_log::outcome.eq(event.outcome.as_str()),
        audit_log::source_address.eq(&event.source_address),
        audit_log::request_id.eq(&event.request_id),
        audit_log::break_glass.eq(event.break_glass),
        audit_log::detail.eq(&event.detail),
        audit_log::patients
            .eq((!event.patients.is_empty()).then(|| event.patients.iter().copied().map(Some).collect())),
    )
}

/// Appends several events in order, one statement per thousand (for bulk writers such as
/// ingestion, which audit every patient a batch changed in the batch's own transaction); returns
/// their sequence numbers.
pub fn append_many(conn: &mut PgConnection, events: &[AuditEvent]) -> QueryResult<Vec<i64>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let at = Utc::now().trunc_subsecs(6);
    let rows: Vec<_> = events.iter().map(|event| row(event, at)).collect();
    let mut seqs = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(1000) {
        seqs.extend(
            diesel::insert_into(audit_log::table).values(chunk).returning(audit_log::seq).get_results::<i64>(conn)?,
        );
    }
    Ok(seqs)
}
