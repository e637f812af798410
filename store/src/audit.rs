//! The audit trail: append-only, hash-chained.
//!
//! Each row's `hash` is SHA-256 over the previous row's hash and a length-prefixed encoding of the
//! row's fields, so changing any field of any row, or removing a row, breaks the chain from that
//! row on. Appends are serialised by a transaction-scoped advisory lock: each append reads the
//! newest hash and inserts the next row while no other append can. The table itself refuses
//! UPDATE, DELETE and TRUNCATE (see the audit_log migration).

use chrono::{DateTime, SubsecRound, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use crate::StoreError;
use crate::schema::audit_log;

/// The hash before the first row.
pub const GENESIS: [u8; 32] = [0; 32];
const APPEND_LOCK: i64 = 0x0056_4947_494C_4155;
const VERIFY_PAGE: i64 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
        }
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
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
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// Appends `event` at the current time and returns its sequence number. Runs in its own
/// transaction, or joins the caller's.
pub fn append(conn: &mut PgConnection, event: &AuditEvent) -> Result<i64, StoreError> {
    let seqs = append_many(conn, std::slice::from_ref(event))?;
    seqs.last().copied().ok_or(StoreError::Query(diesel::result::Error::NotFound))
}

/// Appends several events in order, under one lock and in one statement per thousand (for bulk
/// writers such as ingestion, which audit every patient a batch changed in the batch's own
/// transaction); returns their sequence numbers.
pub fn append_many(conn: &mut PgConnection, events: &[AuditEvent]) -> Result<Vec<i64>, StoreError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let at = Utc::now().trunc_subsecs(6);
    conn.transaction(|conn| {
        conn.batch_execute(&format!("SELECT pg_advisory_xact_lock({APPEND_LOCK})"))?;
        let prev: Option<Vec<u8>> =
            audit_log::table.select(audit_log::hash).order(audit_log::seq.desc()).first(conn).optional()?;
        let mut prev = prev.unwrap_or_else(|| GENESIS.to_vec());
        let mut rows = Vec::with_capacity(events.len());
        for event in events {
            let hash = chain_hash(&prev, &event.hashed(at)).to_vec();
            rows.push((
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
                audit_log::prev_hash.eq(prev.clone()),
                audit_log::hash.eq(hash.clone()),
            ));
            prev = hash;
        }
        // Inserted in order, so identity values follow the chain.
        let mut seqs = Vec::with_capacity(rows.len());
        for chunk in rows.chunks(1000) {
            seqs.extend(
                diesel::insert_into(audit_log::table)
                    .values(chunk)
                    .returning(audit_log::seq)
                    .get_results::<i64>(conn)?,
            );
        }
        Ok(seqs)
    })
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// Every row follows from the one before; `head` is the newest row's sequence number and hash
    /// (record it outside the database to detect later rewrites of the whole chain).
    Intact { rows: u64, head: Option<(i64, Vec<u8>)> },
    /// The first row whose content or link does not match the chain.
    Broken { seq: i64, problem: Break },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Break {
    /// The row's fields no longer give its hash: it was edited.
    ContentAltered,
    /// The row does not follow the row before it: a row before it was removed or replaced.
    LinkBroken,
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::ContentAltered => "its content was altered after it was written",
            Self::LinkBroken => "it does not follow the row before it (a row was removed or replaced)",
        })
    }
}

/// Walks the whole chain in order and reports the first row that breaks it.
pub fn verify(conn: &mut PgConnection) -> Result<Verification, StoreError> {
    let mut prev = GENESIS.to_vec();
    let mut after = 0_i64;
    let mut rows = 0_u64;
    let mut head = None;
    loop {
        let page: Vec<AuditRow> = audit_log::table
            .filter(audit_log::seq.gt(after))
            .order(audit_log::seq)
            .limit(VERIFY_PAGE)
            .select(AuditRow::as_select())
            .load(conn)?;
        let Some(last) = page.last() else { return Ok(Verification::Intact { rows, head }) };
        after = last.seq;
        for row in page {
            if row.prev_hash != prev {
                return Ok(Verification::Broken { seq: row.seq, problem: Break::LinkBroken });
            }
            if row.hash != chain_hash(&row.prev_hash, &row.hashed()).as_slice() {
                return Ok(Verification::Broken { seq: row.seq, problem: Break::ContentAltered });
            }
            head = Some((row.seq, row.hash.clone()));
            prev = row.hash;
            rows += 1;
        }
    }
}

/// The hash stored for row `seq`, if the row exists (to check an anchor recorded earlier).
pub fn hash_of(conn: &mut PgConnection, seq: i64) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(audit_log::table.find(seq).select(audit_log::hash).first(conn).optional()?)
}

/// Rows with `from <= at < to`, oldest first, in pages of `page` rows after `after_seq`.
pub fn page(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    after_seq: i64,
    page: i64,
) -> Result<Vec<AuditRow>, StoreError> {
    Ok(audit_log::table
        .filter(audit_log::at.ge(from).and(audit_log::at.lt(to)).and(audit_log::seq.gt(after_seq)))
        .order(audit_log::seq)
        .limit(page)
        .select(AuditRow::as_select())
        .load(conn)?)
}

/// The hashed fields of a row, borrowed from an event being appended or a row being verified.
struct Hashed<'a> {
    at: DateTime<Utc>,
    actor: &'a str,
    actor_role: &'a str,
    action: &'a str,
    resource_type: Option<&'a str>,
    resource_id: Option<&'a str>,
    patient_id: Option<i64>,
    data_category: Option<&'a str>,
    outcome: &'a str,
    source_address: Option<&'a str>,
    request_id: Option<&'a str>,
    break_glass: bool,
    detail: Option<&'a str>,
}

impl AuditEvent {
    fn hashed(&self, at: DateTime<Utc>) -> Hashed<'_> {
        Hashed {
            at,
            actor: &self.actor,
            actor_role: &self.actor_role,
            action: &self.action,
            resource_type: self.resource_type.as_deref(),
            resource_id: self.resource_id.as_deref(),
            patient_id: self.patient_id,
            data_category: self.data_category.as_deref(),
            outcome: self.outcome.as_str(),
            source_address: self.source_address.as_deref(),
            request_id: self.request_id.as_deref(),
            break_glass: self.break_glass,
            detail: self.detail.as_deref(),
        }
    }
}

impl AuditRow {
    fn hashed(&self) -> Hashed<'_> {
        Hashed {
            at: self.at,
            actor: &self.actor,
            actor_role: &self.actor_role,
            action: &self.action,
            resource_type: self.resource_type.as_deref(),
            resource_id: self.resource_id.as_deref(),
            patient_id: self.patient_id,
            data_category: self.data_category.as_deref(),
            outcome: &self.outcome,
            source_address: self.source_address.as_deref(),
            request_id: self.request_id.as_deref(),
            break_glass: self.break_glass,
            detail: self.detail.as_deref(),
        }
    }
}

fn chain_hash(prev: &[u8], event: &Hashed<'_>) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    let at = event.at.timestamp_micros().to_be_bytes();
    let patient = event.patient_id.map(|p| p.to_be_bytes());
    let fields: [Option<&[u8]>; 13] = [
        Some(&at),
        Some(event.actor.as_bytes()),
        Some(event.actor_role.as_bytes()),
        Some(event.action.as_bytes()),
        event.resource_type.map(str::as_bytes),
        event.resource_id.map(str::as_bytes),
        patient.as_ref().map(|p| p.as_slice()),
        event.data_category.map(str::as_bytes),
        Some(event.outcome.as_bytes()),
        event.source_address.map(str::as_bytes),
        event.request_id.map(str::as_bytes),
        Some(if event.break_glass { b"1" } else { b"0" }),
        event.detail.map(str::as_bytes),
    ];
    for field in fields {
        match field {
            None => h.update([0]),
            Some(bytes) => {
                h.update([1]);
                h.update((bytes.len() as u64).to_be_bytes());
                h.update(bytes);
            }
        }
    }
    h.finalize().into()
}
