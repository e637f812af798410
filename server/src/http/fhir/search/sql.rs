//! The SQL of a search: text with binds, built in order (a `Statement`, prepared once per
//! connection). Table and column names come only from the static `TYPES` table and this module,
//! never from the request.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Date, Integer, Jsonb, Nullable, Text, Timestamptz};
use serde_json::{Value, json};
use vigil_ehr_adapter::map::{ICD10, ICD10_CM, SNOMED};

use super::statement::Statement;
use super::{Filter, Prefix, Range, Search, SortKey};
use crate::auth::policy::Visibility;
use crate::http::fhir::TypeDef;

/// The most resources `_revinclude` adds to one page.
const MAX_INCLUDED: i64 = 1000;

/// A current version that a search found.
#[derive(Debug, QueryableByName)]
pub struct Hit {
    #[diesel(sql_type = BigInt)]
    pub row_id: i64,
    #[diesel(sql_type = BigInt)]
    pub patient_id: i64,
    /// The sort key (None: no value, sorted last).
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub sort_key: Option<DateTime<Utc>>,
    #[diesel(sql_type = Jsonb)]
    pub content: Value,
    #[diesel(sql_type = Integer)]
    pub version: i32,
    #[diesel(sql_type = Timestamptz)]
    pub received_at: DateTime<Utc>,
    /// Visible to the searcher only through a break-glass grant.
    #[diesel(sql_type = Bool)]
    pub flagged: bool,
}

/// The SQL condition that the patient in `column` is one the searcher may see; binds as needed.
fn visible(sql: &mut Statement<'_>, column: &str, visibility: &Visibility) {
    if let Visibility::Units { units, user_id } = visibility {
        sql.push(" AND (");
        on_units(sql, column, units);
        sql.push(&format!(" OR {column} IN (SELECT g.patient_id FROM break_glass_grants g WHERE g.user_id = "));
        sql.bind::<BigInt, _>(*user_id).push(" AND g.expires_at > now()))");
    }
}

/// A patient's units: explicit assignments, and the unit of their current or last encounter (as
/// the guard decides for a single patient).
fn on_units(sql: &mut Statement<'_>, column: &str, units: &[String]) {
    sql.push(&format!(
        "({column} IN (SELECT a.patient_id FROM patient_unit_assignments a JOIN care_units u ON u.id = a.unit_id \
         WHERE u.code = ANY("
    ));
    sql.bind::<Array<Text>, _>(units.to_vec()).push(&format!(
        ")) OR (SELECT e.unit FROM encounters e WHERE e.patient_id = {column} AND e.unit IS NOT NULL \
         ORDER BY e.period_start DESC NULLS LAST LIMIT 1) = ANY("
    ));
    sql.bind::<Array<Text>, _>(units.to_vec()).push("))");
}

impl SortKey {
    /// The key's SQL, `infinity` where a resource has no value (so that it sorts last).
    fn sql(self) -> &'static str {
        match self {
            // Never null, and indexed as it is.
            Self::LastUpdated => "t.stored_at",
            Self::Instant("effective_at") => "COALESCE(t.effective_at, 'infinity')",
            Self::Instant(_) => "COALESCE(t.stored_at, 'infinity')",
            Self::PeriodStart => "COALESCE(t.period_start, 'infinity')",
            Self::BirthDate => "COALESCE(t.birth_date::timestamptz, 'infinity')",
        }
    }
}

/// `FROM` the type's table (with each row's current stored version, when `content`) `WHERE` the
/// filters hold and the searcher may see the patient.
fn from_where(sql: &mut Statement<'_>, def: &TypeDef, search: &Search, visibility: &Visibility, content: bool) {
    let patient = patient_column(def);
    sql.push(&format!(" FROM {} t", def.table));
    if content {
        sql.push(&format!(
            " JOIN raw_resources r ON r.resource_type = '{}' AND r.fhir_id = t.fhir_id AND r.superseded_at IS NULL",
            def.resource_type
        ));
    }
    sql.push(" WHERE TRUE");
    if def.resource_type == "Patient" {
        sql.push(" AND t.version > 0");
    }
    visible(sql, patient, visibility);
    for filter in &search.filters {
        condition(sql, filter);
    }
}

fn patient_column(def: &TypeDef) -> &'static str {
    if def.resource_type == "Patient" { "t.id" } else { "t.patient_id" }
}

/// Runs a search: one page of current versions (one more than `count`, to tell whether a next
/// page exists).
pub fn run(conn: &mut PgConnection, def: &TypeDef, search: &Search, visibility: &Visibility) -> QueryResult<Vec<Hit>> {
    if search.count == 0 || search.summary_count {
        return Ok(Vec::new());
    }
    let patient = patient_column(def);
    let key = search.sort.key.sql();
    let mut sql = Statement::new("SELECT t.id AS row_id, ");
    sql.push(&format!(
        "{patient} AS patient_id, NULLIF({key}, 'infinity') AS sort_key, r.content, r.version, r.received_at, "
    ));
    match visibility {
        Visibility::All => {
            sql.push("FALSE");
        }
        Visibility::Units { units, .. } => {
            sql.push("NOT ");
            on_units(&mut sql, patient, units);
        }
    }
    sql.push(" AS flagged");
    from_where(&mut sql, def, search, visibility, true);
    let (after, order) = if search.sort.descending { ("<", "DESC") } else { (">", "ASC") };
    if let Some(cursor) = search.after {
        match cursor.key {
            Some(at) => {
                sql.push(&format!(" AND ({key}, t.id) {after} ("));
                sql.bind::<Timestamptz, _>(at).push(", ").bind::<BigInt, _>(cursor.row).push(")");
            }
            None if search.sort.descending => {
                sql.push(&format!(" AND ({key} < 'infinity' OR t.id < "));
                sql.bind::<BigInt, _>(cursor.row).push(")");
            }
            None => {
                sql.push(&format!(" AND {key} = 'infinity' AND t.id > "));
                sql.bind::<BigInt, _>(cursor.row);
            }
        }
    }
    sql.push(&format!(" ORDER BY {key} {order}, t.id {order} LIMIT ")).bind::<BigInt, _>(search.count + 1);
    sql.load(conn)
}

#[derive(QueryableByName)]
struct Total {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// How many resources match, on every page together (`Bundle.total`).
pub fn count(conn: &mut PgConnection, def: &TypeDef, search: &Search, visibility: &Visibility) -> QueryResult<i64> {
    let mut sql = Statement::new("SELECT count(*) AS n");
    from_where(&mut sql, def, search, visibility, false);
    Ok(sql.get_result::<Total>(conn)?.n)
}

/// The current versions of `def` belonging to `patients` (Patient: the patients themselves), for
/// `_include` and `_revinclude`: at most a thousand, oldest first.
pub fn included(conn: &mut PgConnection, def: &TypeDef, patients: &[i64]) -> QueryResult<Vec<Hit>> {
    let patient = patient_column(def);
    let mut sql = Statement::new(&format!(
        "SELECT t.id AS row_id, {patient} AS patient_id, t.stored_at AS sort_key, r.content, r.version, \
         r.received_at, FALSE AS flagged FROM {} t JOIN raw_resources r ON r.resource_type = '{}' \
         AND r.fhir_id = t.fhir_id AND r.superseded_at IS NULL WHERE {patient} = ANY(",
        def.table, def.resource_type
    ));
    sql.bind::<Array<BigInt>, _>(patients.to_vec()).push(") ORDER BY t.stored_at, t.id LIMIT ");
    sql.bind::<BigInt, _>(MAX_INCLUDED);
    sql.load(conn)
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// `lower <= x < upper` style comparisons of a search range with a target range
/// `[start, end]` (a point when both are the same column), as FHIR defines the prefixes.
fn compare(sql: &mut Statement<'_>, prefix: Prefix, start: &str, end: &str, range: Range, date: bool) {
    let bound = |sql: &mut Statement<'_>, at: DateTime<Utc>| {
        if date {
            sql.bind::<Date, _>(at.date_naive());
        } else {
            sql.bind::<Timestamptz, _>(at);
        }
    };
    match prefix {
        Prefix::Eq | Prefix::Ne => {
            sql.push(if prefix == Prefix::Ne { " AND NOT (" } else { " AND (" });
            sql.push(&format!("{start} >= "));
            bound(sql, range.lower);
            sql.push(&format!(" AND {end} < "));
            bound(sql, range.upper);
            sql.push(")");
        }
        Prefix::Lt | Prefix::Le => {
            sql.push(&format!(" AND {start} < "));
            bound(sql, if prefix == Prefix::Lt { range.lower } else { range.upper });
        }
        Prefix::Gt | Prefix::Ge => {
            sql.push(&format!(" AND {end} >= "));
            bound(sql, if prefix == Prefix::Gt { range.upper } else { range.lower });
        }
    }
}

fn condition(sql: &mut Statement<'_>, filter: &Filter) {
    match filter {
        Filter::Id(ids) => {
            sql.push(" AND t.fhir_id = ANY(").bind::<Array<Text>, _>(ids.clone()).push(")");
        }
        Filter::Patient(ids) => {
            sql.push(" AND t.patient_id IN (SELECT p.id FROM patients p WHERE p.fhir_id = ANY(")
                .bind::<Array<Text>, _>(ids.clone())
                .push("))");
        }
        Filter::Token { column, codes } => {
            sql.push(&format!(" AND t.{column} = ANY(")).bind::<Array<Text>, _>(codes.clone()).push(")");
        }
        Filter::LoincCode(codes) => {
            // A code of another system can never match: LOINC is the only one stored.
            let codes: Vec<String> = codes.iter().flatten().cloned().collect();
            sql.push(" AND t.loinc_code = ANY(").bind::<Array<Text>, _>(codes).push(")");
        }
        Filter::ConditionCode(codes) => {
            sql.push(" AND (FALSE");
            for (system, code) in codes {
                let columns: &[&str] = match system.as_deref() {
                    None => &["icd10_codes", "snomed_codes"],
                    Some(ICD10_CM | ICD10) => &["icd10_codes"],
                    Some(SNOMED) => &["snomed_codes"],
                    Some(_) => &[],
                };
                for column in columns {
                    sql.push(&format!(" OR t.{column} @> ARRAY[")).bind::<Text, _>(code.clone()).push("]");
                }
            }
            sql.push(")");
        }
        Filter::Instant { column, prefix, range } => {
            let column = format!("t.{column}");
            compare(sql, *prefix, &column, &column, *range, false);
        }
        Filter::Period { prefix, range } => compare(
            sql,
            *prefix,
            "COALESCE(t.period_start, '-infinity')",
            "COALESCE(t.period_end, 'infinity')",
            *range,
            false,
        ),
        Filter::BirthDate { prefix, range } => compare(sql, *prefix, "t.birth_date", "t.birth_date", *range, true),
        Filter::Name(names) => {
            sql.push(" AND (FALSE");
            for name in names {
                let start = format!("{}%", escape_like(name));
                let word = format!("% {}%", escape_like(name));
                sql.push(" OR lower(t.family_name) LIKE ").bind::<Text, _>(start.clone());
                sql.push(" OR lower(t.given_names) LIKE ").bind::<Text, _>(start);
                sql.push(" OR lower(t.given_names) LIKE ").bind::<Text, _>(word);
            }
            sql.push(")");
        }
        Filter::Identifier(identifiers) => {
            sql.push(" AND (FALSE");
            for (system, value) in identifiers {
                match system {
                    Some(system) => {
                        let wanted = json!([{ "system": system, "value": value }]);
                        sql.push(" OR t.identifiers @> ").bind::<Jsonb, _>(wanted);
                    }
                    None => {
                        sql.push(" OR t.mrn = ").bind::<Text, _>(value.clone());
                        sql.push(" OR t.identifiers @> ").bind::<Jsonb, _>(json!([{ "value": value }]));
                    }
                }
            }
            sql.push(")");
        }
    }
}
