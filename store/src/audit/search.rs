//! Finding audit rows for a reviewer: by who, which patient, what, how it ended and when, newest
//! first, a page at a time.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamptz};

use crate::StoreError;

/// What a reviewer looks for; every part is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// An actor exactly as recorded (`user:nurse`), or a bare username (`nurse`).
    pub actor: Option<String>,
    /// The FHIR id of the patient whose data it was.
    pub patient: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub break_glass_only: bool,
}

/// An audit row with the FHIR id of its patient (of each, space-separated, for a list).
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct Found {
    #[diesel(sql_type = BigInt)]
    pub seq: i64,
    #[diesel(sql_type = Timestamptz)]
    pub at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    pub actor: String,
    #[diesel(sql_type = Text)]
    pub actor_role: String,
    #[diesel(sql_type = Text)]
    pub action: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub resource_type: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub resource_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub patient: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub data_category: Option<String>,
    #[diesel(sql_type = Text)]
    pub outcome: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub source_address: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub request_id: Option<String>,
    #[diesel(sql_type = Bool)]
    pub break_glass: bool,
    #[diesel(sql_type = Nullable<Text>)]
    pub detail: Option<String>,
}

/// A row's patient (or, for a list, its patients separated by spaces) by FHIR id.
const COLUMNS: &str = "l.seq, l.at, l.actor, l.actor_role, l.action, l.resource_type, l.resource_id,
    COALESCE(p.fhir_id, (SELECT string_agg(pl.fhir_id, ' ' ORDER BY pl.fhir_id) FROM patients pl
                          WHERE pl.id = ANY (l.patients))) AS patient,
    l.data_category, l.outcome, l.source_address, l.request_id, l.break_glass, l.detail
    FROM audit_log l LEFT JOIN patients p ON p.id = l.patient_id";

/// Rows with `from <= at < to`, oldest first, in pages of `limit` rows after `after_seq` (an
/// export of a period).
pub fn period(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<Found>, StoreError> {
    Ok(diesel::sql_query(format!(
        "SELECT {COLUMNS} WHERE l.at >= $1 AND l.at < $2 AND l.seq > $3 ORDER BY l.seq LIMIT $4"
    ))
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(to)
    .bind::<BigInt, _>(after_seq)
    .bind::<BigInt, _>(limit)
    .load(conn)?)
}

/// Up to `limit` rows matching `filter` with a sequence number below `before` (all when None),
/// newest first. One statement of fixed text whatever the filter, so Postgres plans it once.
pub fn search(
    conn: &mut PgConnection,
    filter: &Filter,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Found>, StoreError> {
    let actor = filter.actor.as_ref().map(|a| if a.contains(':') { a.clone() } else { format!("user:{a}") });
    Ok(diesel::sql_query(format!(
        "SELECT {COLUMNS}
          WHERE ($1::text IS NULL OR l.actor = $1)
            AND ($2::text IS NULL OR l.patient_id IN (SELECT id FROM patients WHERE fhir_id = $2)
                 OR l.patients && ARRAY(SELECT id FROM patients WHERE fhir_id = $2))
            AND ($3::text IS NULL OR l.action = $3)
            AND ($4::text IS NULL OR l.outcome = $4)
            AND ($5::timestamptz IS NULL OR l.at >= $5)
            AND ($6::timestamptz IS NULL OR l.at < $6)
            AND (NOT $7 OR l.break_glass)
            AND ($8::bigint IS NULL OR l.seq < $8)
          ORDER BY l.seq DESC
          LIMIT $9"
    ))
    .bind::<Nullable<Text>, _>(actor)
    .bind::<Nullable<Text>, _>(&filter.patient)
    .bind::<Nullable<Text>, _>(&filter.action)
    .bind::<Nullable<Text>, _>(&filter.outcome)
    .bind::<Nullable<Timestamptz>, _>(filter.from)
    .bind::<Nullable<Timestamptz>, _>(filter.to)
    .bind::<Bool, _>(filter.break_glass_only)
    .bind::<Nullable<BigInt>, _>(before)
    .bind::<BigInt, _>(limit)
    .load(conn)?)
}
