//! The hash chain over the audit log, kept in `audit_seals`: [`seal`] links the rows not sealed
//! yet, in sequence order, one sealer at a time; [`verify`] walks it.

use chrono::{DateTime, Utc};
use diesel::dsl::{exists, not};
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use super::AuditRow;
use super::gaps::{self, Gap};
use crate::StoreError;
use crate::schema::{audit_log, audit_seal_gaps, audit_seals};

/// The hash before the first seal.
pub const GENESIS: [u8; 32] = [0; 32];
/// One sealer at a time, across every process of a deployment ("VIGILSEA" in ASCII).
const SEAL_LOCK: i64 = 0x5649_4749_4C53_4541;
const SEAL_BATCH: i64 = 5_000;
const VERIFY_PAGE: i64 = 10_000;
/// How long after a hole in the sequence was noticed its row may still commit (a long ingestion
/// batch) and be sealed late, after rows with higher sequence numbers.
const LATE_WINDOW: chrono::Duration = chrono::Duration::hours(1);

/// The newest seal: where the chain ends and its hash (what an anchor signs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub position: i64,
    pub hash: Vec<u8>,
}

/// Links the rows not sealed yet into the chain, oldest first, up to a batch; returns how many it
/// sealed (0 also when another sealer holds the lock). The rows are those after the newest seal
/// and those that appeared in a hole an earlier pass left (see [`super::gaps`]).
pub fn seal(conn: &mut PgConnection) -> Result<usize, StoreError> {
    conn.transaction(|conn| {
        let locked: bool = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
            "pg_try_advisory_xact_lock({SEAL_LOCK})"
        )))
        .get_result(conn)?;
        if !locked {
            return Ok(0);
        }
        let (mut position, mut prev) = match head(conn)? {
            Some(head) => (head.position, head.hash),
            None => (0, GENESIS.to_vec()),
        };
        let newest_sealed: Option<i64> = audit_seals::table.select(diesel::dsl::max(audit_seals::seq)).first(conn)?;
        let newest_sealed = newest_sealed.unwrap_or(0);
        let known = known_gaps(conn)?;
        let late = if known.is_empty() { Vec::new() } else { rows_in(conn, &known)? };
        let fresh: Vec<AuditRow> = audit_log::table
            .filter(audit_log::seq.gt(newest_sealed))
            .order(audit_log::seq)
            .limit(SEAL_BATCH)
            .select(AuditRow::as_select())
            .load(conn)?;
        let now = Utc::now();
        let late_seqs: Vec<i64> = late.iter().map(|r| r.seq).collect();
        let fresh_seqs: Vec<i64> = fresh.iter().map(|r| r.seq).collect();
        let mut gaps: Vec<Gap> =
            gaps::remaining(&known, &late_seqs).into_iter().filter(|g| g.noticed > now - LATE_WINDOW).collect();
        gaps.extend(gaps::holes_after(newest_sealed, &fresh_seqs, now));
        if gaps != known {
            diesel::delete(audit_seal_gaps::table).execute(conn)?;
            let rows: Vec<_> = gaps
                .iter()
                .map(|g| {
                    (
                        audit_seal_gaps::first_seq.eq(g.first),
                        audit_seal_gaps::last_seq.eq(g.last),
                        audit_seal_gaps::noticed_at.eq(g.noticed),
                    )
                })
                .collect();
            for chunk in rows.chunks(1000) {
                diesel::insert_into(audit_seal_gaps::table).values(chunk).execute(conn)?;
            }
        }
        let mut seals = Vec::with_capacity(late.len() + fresh.len());
        for row in late.iter().chain(&fresh) {
            position += 1;
            let hash = chain_hash(&prev, &row.hashed()).to_vec();
            seals.push((
                audit_seals::position.eq(position),
                audit_seals::seq.eq(row.seq),
                audit_seals::prev_hash.eq(prev),
                audit_seals::hash.eq(hash.clone()),
            ));
            prev = hash;
        }
        for chunk in seals.chunks(1000) {
            diesel::insert_into(audit_seals::table).values(chunk).execute(conn)?;
        }
        Ok(seals.len())
    })
}

fn known_gaps(conn: &mut PgConnection) -> QueryResult<Vec<Gap>> {
    let rows: Vec<(i64, i64, DateTime<Utc>)> = audit_seal_gaps::table
        .order(audit_seal_gaps::first_seq)
        .select((audit_seal_gaps::first_seq, audit_seal_gaps::last_seq, audit_seal_gaps::noticed_at))
        .load(conn)?;
    Ok(rows.into_iter().map(|(first, last, noticed)| Gap { first, last, noticed }).collect())
}

/// The rows that have appeared in `gaps`, ascending, up to a batch: an index range scan per gap.
fn rows_in(conn: &mut PgConnection, gaps: &[Gap]) -> QueryResult<Vec<AuditRow>> {
    let (firsts, lasts): (Vec<i64>, Vec<i64>) = gaps.iter().map(|g| (g.first, g.last)).unzip();
    diesel::sql_query(
        "SELECT a.* FROM unnest($1::BIGINT[], $2::BIGINT[]) AS g (first_seq, last_seq)
           CROSS JOIN LATERAL (SELECT * FROM audit_log
                                WHERE seq BETWEEN g.first_seq AND g.last_seq ORDER BY seq LIMIT $3) a
          ORDER BY a.seq LIMIT $3",
    )
    .bind::<diesel::sql_types::Array<diesel::sql_types::BigInt>, _>(firsts)
    .bind::<diesel::sql_types::Array<diesel::sql_types::BigInt>, _>(lasts)
    .bind::<diesel::sql_types::BigInt, _>(SEAL_BATCH)
    .load(conn)
}

/// Seals until nothing is left unsealed (or another sealer is at work); returns how many.
pub fn seal_all(conn: &mut PgConnection) -> Result<usize, StoreError> {
    let mut total = 0;
    loop {
        let sealed = seal(conn)?;
        total += sealed;
        if sealed < SEAL_BATCH as usize {
            return Ok(total);
        }
    }
}

/// The newest seal, if any.
pub fn head(conn: &mut PgConnection) -> Result<Option<Head>, StoreError> {
    Ok(audit_seals::table
        .order(audit_seals::position.desc())
        .select((audit_seals::position, audit_seals::hash))
        .first::<(i64, Vec<u8>)>(conn)
        .optional()?
        .map(|(position, hash)| Head { position, hash }))
}

/// The hash at `position` of the chain, if the chain reaches it (to check an anchor).
pub fn hash_at(conn: &mut PgConnection, position: i64) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(audit_seals::table.find(position).select(audit_seals::hash).first(conn).optional()?)
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// Every seal follows from the one before and matches its row; `head` is where the chain ends
    /// (record it outside the database, or let the anchor job sign it, to detect a rewrite of the
    /// whole chain). `unsealed` rows were written but not linked yet.
    Intact { sealed: u64, head: Option<Head>, unsealed: Unsealed },
    /// The first seal whose row or link does not match the chain; `seq` is its row.
    Broken { position: i64, seq: i64, problem: Break },
}

/// The rows written but not in the chain yet: how many, and when the oldest was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsealed {
    pub rows: i64,
    pub oldest: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Break {
    /// The row's fields no longer give its seal's hash: it was edited.
    ContentAltered,
    /// The seal does not follow the one before it: a seal was removed or replaced.
    LinkBroken,
    /// The sealed row is gone.
    RowRemoved,
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::ContentAltered => "its content was altered after it was written",
            Self::LinkBroken => "it does not follow the row before it in the chain (a row was removed or replaced)",
            Self::RowRemoved => "it was removed after it was sealed",
        })
    }
}

/// A seal and its row (None when the row is gone).
type Sealed = (i64, i64, Vec<u8>, Vec<u8>, Option<AuditRow>);

/// Walks the whole chain in order and reports the first seal that breaks it, else the head and
/// the unsealed rows.
pub fn verify(conn: &mut PgConnection) -> Result<Verification, StoreError> {
    let mut prev = GENESIS.to_vec();
    let mut position = 0_i64;
    let mut head = None;
    loop {
        let page: Vec<Sealed> = audit_seals::table
            .left_join(audit_log::table.on(audit_log::seq.eq(audit_seals::seq)))
            .filter(audit_seals::position.gt(position))
            .order(audit_seals::position)
            .limit(VERIFY_PAGE)
            .select((
                audit_seals::position,
                audit_seals::seq,
                audit_seals::prev_hash,
                audit_seals::hash,
                Option::<AuditRow>::as_select(),
            ))
            .load(conn)?;
        if page.is_empty() {
            break;
        }
        for (at, seq, prev_hash, hash, row) in page {
            let broken = |problem| Ok(Verification::Broken { position: at, seq, problem });
            if at != position + 1 || prev_hash != prev {
                return broken(Break::LinkBroken);
            }
            let Some(row) = row else { return broken(Break::RowRemoved) };
            if hash != chain_hash(&prev_hash, &row.hashed()).as_slice() {
                return broken(Break::ContentAltered);
            }
            position = at;
            head = Some(Head { position, hash: hash.clone() });
            prev = hash;
        }
    }
    let unsealed = not(exists(audit_seals::table.filter(audit_seals::seq.eq(audit_log::seq))));
    let (rows, oldest): (i64, Option<DateTime<Utc>>) = audit_log::table
        .filter(unsealed)
        .select((diesel::dsl::count_star(), diesel::dsl::min(audit_log::at)))
        .first(conn)?;
    Ok(Verification::Intact { sealed: position as u64, head, unsealed: Unsealed { rows, oldest } })
}

/// The hashed fields of a row, borrowed from an event or a row.
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
    patients: Option<&'a [Option<i64>]>,
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
            patients: self.patients.as_deref(),
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
    // A list of patients is hashed after the fields every row has, only when present, so rows
    // written before lists existed keep their hashes. A null element (which the table refuses) is
    // hashed as -1 rather than skipped.
    if let Some(patients) = event.patients {
        h.update([2]);
        h.update((patients.len() as u64).to_be_bytes());
        for p in patients {
            h.update(p.unwrap_or(-1).to_be_bytes());
        }
    }
    h.finalize().into()
}
