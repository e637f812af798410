//! What the guard asks the database before deciding: the patient a resource belongs to, their
//! care units and whether the principal holds a break-glass grant for them (the database's
//! `patient_access`), alone or together with the stored version a read asks for.

use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Bool, Integer, Jsonb, Nullable, Text, Timestamptz};
use serde_json::Value;

#[derive(QueryableByName)]
pub(super) struct Facts {
    #[diesel(sql_type = BigInt)]
    pub(super) patient: i64,
    #[diesel(sql_type = Array<Text>)]
    pub(super) units: Vec<String>,
    #[diesel(sql_type = Bool)]
    pub(super) break_glass: bool,
}

/// The patient (received, not only referenced) a resource belongs to, their care units and
/// whether `user` holds an unexpired break-glass grant for them, in one round trip. None when
/// there is no such patient.
pub(super) fn facts(
    conn: &mut PgConnection,
    resource_type: &str,
    fhir_id: &str,
    user: Option<i64>,
) -> QueryResult<Option<Facts>> {
    let query =
        Lookup::<FactsOnly> { resource_type, fhir_id, viewer: user.unwrap_or(-1), number: None, kind: PhantomData };
    query.get_result(conn).optional()
}

/// One stored version of a resource: its content, number, when it was received, and whether it is
/// a deletion's tombstone.
pub type StoredVersion = (Value, i32, DateTime<Utc>, bool);

#[derive(QueryableByName)]
struct FactsAndVersion {
    #[diesel(embed)]
    facts: Facts,
    #[diesel(sql_type = Nullable<Jsonb>)]
    content: Option<Value>,
    #[diesel(sql_type = Nullable<Integer>)]
    version: Option<i32>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    received_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Bool>)]
    deleted: Option<bool>,
}

/// [`facts`] and, in the same statement, the current version of the resource (or the numbered
/// one): a read by id is the hottest request there is, and this makes it one round trip.
pub(super) fn facts_and_version(
    conn: &mut PgConnection,
    resource_type: &str,
    fhir_id: &str,
    user: Option<i64>,
    number: Option<i32>,
) -> QueryResult<Option<(Facts, Option<StoredVersion>)>> {
    let query = Lookup::<WithVersion> { resource_type, fhir_id, viewer: user.unwrap_or(-1), number, kind: PhantomData };
    let found: Option<FactsAndVersion> = query.get_result(conn).optional()?;
    Ok(found.map(|row| {
        let version = match (row.content, row.version, row.received_at, row.deleted) {
            (Some(content), Some(version), Some(received), Some(deleted)) => {
                Some((content, version, received, deleted))
            }
            _ => None,
        };
        (row.facts, version)
    }))
}

/// The statements of [`facts`] and [`facts_and_version`], written out as a query type of their own
/// so that diesel prepares each once per connection (its `sql_query` is parsed and planned on every
/// call, and `patient_access` is inlined into the statement that calls it).
struct Lookup<'a, K> {
    resource_type: &'a str,
    fhir_id: &'a str,
    viewer: i64,
    /// With a stored version: the current one (None) or a numbered one.
    number: Option<i32>,
    kind: PhantomData<K>,
}

/// Which statement: each kind is one statement text, and diesel's cache key.
trait Kind: 'static {
    const WITH_VERSION: bool;
}
struct FactsOnly;
struct WithVersion;
impl Kind for FactsOnly {
    const WITH_VERSION: bool = false;
}
impl Kind for WithVersion {
    const WITH_VERSION: bool = true;
}

impl<K: Kind> QueryId for Lookup<'_, K> {
    type QueryId = K;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<K> Query for Lookup<'_, K> {
    type SqlType = diesel::sql_types::Untyped;
}

impl<K> RunQueryDsl<PgConnection> for Lookup<'_, K> {}

impl<K: Kind> QueryFragment<Pg> for Lookup<'_, K> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("SELECT f.patient, f.units, f.break_glass");
        if K::WITH_VERSION {
            out.push_sql(", r.content, r.version, r.received_at, r.deleted");
        }
        out.push_sql(" FROM patient_access(");
        out.push_bind_param::<Text, _>(&self.resource_type)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.fhir_id)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&self.viewer)?;
        out.push_sql(") f");
        if !K::WITH_VERSION {
            return Ok(());
        }
        out.push_sql(
            " LEFT JOIN LATERAL (SELECT content, version, received_at, deleted FROM raw_resources \
             WHERE resource_type = ",
        );
        out.push_bind_param::<Text, _>(&self.resource_type)?;
        out.push_sql(" AND fhir_id = ");
        out.push_bind_param::<Text, _>(&self.fhir_id)?;
        out.push_sql(" AND CASE WHEN ");
        out.push_bind_param::<Nullable<Integer>, _>(&self.number)?;
        out.push_sql("::INT4 IS NULL THEN superseded_at IS NULL ELSE version = ");
        out.push_bind_param::<Nullable<Integer>, _>(&self.number)?;
        out.push_sql(" END LIMIT 1) r ON TRUE");
        Ok(())
    }
}

/// Whether the resource's current version is a deletion's tombstone.
pub(super) fn is_deleted(conn: &mut PgConnection, resource_type: &str, fhir_id: &str) -> QueryResult<bool> {
    use vigil_store::schema::raw_resources;
    diesel::select(diesel::dsl::exists(
        raw_resources::table
            .filter(raw_resources::resource_type.eq(resource_type).and(raw_resources::fhir_id.eq(fhir_id)))
            .filter(raw_resources::superseded_at.is_null().and(raw_resources::deleted)),
    ))
    .get_result(conn)
}
