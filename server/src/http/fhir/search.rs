//! FHIR search on the mapped types: the parameters each type supports, parsed into [`Filter`]s
//! (pure, unit-tested), and the SQL that finds the current versions that match, in a stable order
//! (`stored_at`, row id) so that paging with a cursor neither skips nor repeats a resource.
//!
//! Unknown parameters and modifiers are refused with 400 naming them, rather than ignored: a
//! client that believes it filtered must not silently get everything.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{Array, BigInt, Bool, Date, Integer, Jsonb, Text, Timestamptz};
use serde_json::{Value, json};
use vigil_ehr_adapter::map::{ICD10, ICD10_CM, LOINC, SNOMED};
use vigil_ehr_adapter::reference;

use super::TypeDef;
use crate::auth::policy::Visibility;

/// A search parameter of a type, and how it filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    /// `patient=[Patient/]id`
    Patient,
    /// `[system|]code` against a text column.
    Token(&'static str),
    /// `[http://loinc.org|]code` against the LOINC column.
    LoincCode,
    /// `[system|]code` against the ICD-10-CM and SNOMED CT code arrays.
    ConditionCode,
    /// A date against a point-in-time column.
    Instant(&'static str),
    /// A date against the encounter's period.
    Period,
    /// A date against the birth date.
    BirthDate,
    /// Case-insensitive prefix of the family name or of any given name.
    Name,
    /// `[system|]value` against the identifiers (value alone also matches the MRN).
    Identifier,
}

/// Parameters every type supports.
const COMMON: [(&str, Param); 1] = [("_lastUpdated", Param::Instant("stored_at"))];

pub const DEFAULT_COUNT: i64 = 50;
pub const MAX_COUNT: i64 = 1000;

/// `[lower, upper)` of a date search value at its precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub lower: DateTime<Utc>,
    pub upper: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// One parsed parameter: several comma-separated values are alternatives (OR); parameters are
/// all required (AND).
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Id(Vec<String>),
    Patient(Vec<String>),
    Token { column: &'static str, codes: Vec<String> },
    LoincCode(Vec<Option<String>>),
    ConditionCode(Vec<(Option<String>, String)>),
    Instant { column: &'static str, prefix: Prefix, range: Range },
    Period { prefix: Prefix, range: Range },
    BirthDate { prefix: Prefix, range: Range },
    Name(Vec<String>),
    Identifier(Vec<(Option<String>, String)>),
}

/// Where a page starts: after this (stored_at, row id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub stored_at: DateTime<Utc>,
    pub row: i64,
}

impl Cursor {
    pub fn encode(&self) -> String {
        format!("{}.{}", self.stored_at.timestamp_micros(), self.row)
    }

    fn decode(raw: &str) -> Option<Self> {
        let (micros, row) = raw.split_once('.')?;
        Some(Self { stored_at: DateTime::from_timestamp_micros(micros.parse().ok()?)?, row: row.parse().ok()? })
    }
}

/// A parsed search request.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    pub filters: Vec<Filter>,
    pub count: i64,
    pub after: Option<Cursor>,
    /// The parameters as given (but the cursor), to repeat in paging links.
    pub echo: Vec<(String, String)>,
}

/// Parses the query parameters of a search on `def`; the error names the parameter and says why.
pub fn parse(def: &TypeDef, params: &[(String, String)]) -> Result<Search, String> {
    let mut search = Search { filters: Vec::new(), count: DEFAULT_COUNT, after: None, echo: Vec::new() };
    for (name, value) in params {
        if name != "_cursor" {
            search.echo.push((name.clone(), value.clone()));
        }
        match name.as_str() {
            "_count" => {
                let n: i64 = value.parse().map_err(|_| format!("_count must be a whole number, not {value:?}"))?;
                if n < 1 {
                    return Err("_count must be at least 1".into());
                }
                search.count = n.min(MAX_COUNT);
            }
            "_cursor" => {
                search.after = Some(Cursor::decode(value).ok_or("_cursor is not one this server gave out")?);
            }
            "_sort" if value == "_lastUpdated" => {}
            "_sort" => return Err(format!("_sort={value} is not supported; results come in _lastUpdated order")),
            "_format" | "_pretty" => {}
            "_id" => search.filters.push(Filter::Id(list(value))),
            _ => {
                if let Some((bare, modifier)) = name.split_once(':') {
                    return Err(format!("the modifier :{modifier} of {bare} is not supported"));
                }
                let param = def.params.iter().chain(COMMON.iter()).find(|(p, _)| p == name).map(|(_, p)| *p);
                let Some(param) = param else {
                    let known: Vec<&str> = def.params.iter().chain(COMMON.iter()).map(|(p, _)| *p).collect();
                    return Err(format!(
                        "{name} is not a search parameter of {} here; supported: _id, {}, _count",
                        def.resource_type,
                        known.join(", ")
                    ));
                };
                search.filters.push(filter(name, param, value)?);
            }
        }
    }
    Ok(search)
}

fn list(value: &str) -> Vec<String> {
    value.split(',').map(str::to_owned).collect()
}

/// `system|code` as (system, code); a bare `code` has no system.
fn token(value: &str) -> (Option<String>, String) {
    match value.split_once('|') {
        Some((system, code)) => ((!system.is_empty()).then(|| system.to_owned()), code.to_owned()),
        None => (None, value.to_owned()),
    }
}

fn filter(name: &str, param: Param, value: &str) -> Result<Filter, String> {
    let tokens = || -> Result<Vec<(Option<String>, String)>, String> {
        value
            .split(',')
            .map(|v| {
                let (system, code) = token(v);
                if code.is_empty() {
                    Err(format!("{name}: a code is required, not only a system"))
                } else {
                    Ok((system, code))
                }
            })
            .collect()
    };
    Ok(match param {
        Param::Patient => Filter::Patient(
            value
                .split(',')
                .map(|v| match reference::parse(v) {
                    Some(t) if t.resource_type == "Patient" => Ok(t.id),
                    Some(_) => Err(format!("{name} must reference a Patient")),
                    None if reference::is_valid_id(v) => Ok(v.to_owned()),
                    None => Err(format!("{name}: {v:?} is not a patient reference")),
                })
                .collect::<Result<_, _>>()?,
        ),
        Param::Token(column) => Filter::Token { column, codes: tokens()?.into_iter().map(|(_, c)| c).collect() },
        Param::LoincCode => Filter::LoincCode(
            tokens()?
                .into_iter()
                .map(|(s, c)| if s.is_none() || s.as_deref() == Some(LOINC) { Some(c) } else { None })
                .collect(),
        ),
        Param::ConditionCode => Filter::ConditionCode(tokens()?),
        Param::Identifier => Filter::Identifier(tokens()?),
        Param::Name => Filter::Name(value.split(',').map(str::to_lowercase).collect()),
        Param::Instant(column) => {
            let (prefix, range) = date(name, value)?;
            Filter::Instant { column, prefix, range }
        }
        Param::Period => {
            let (prefix, range) = date(name, value)?;
            Filter::Period { prefix, range }
        }
        Param::BirthDate => {
            let (prefix, range) = date(name, value)?;
            Filter::BirthDate { prefix, range }
        }
    })
}

/// A date search value with its prefix: `ge2025-01`, `2025-01-05`, `lt2025-01-05T10:00:00Z`.
pub fn date(name: &str, value: &str) -> Result<(Prefix, Range), String> {
    let prefixes = [
        ("eq", Prefix::Eq),
        ("ne", Prefix::Ne),
        ("lt", Prefix::Lt),
        ("le", Prefix::Le),
        ("gt", Prefix::Gt),
        ("ge", Prefix::Ge),
    ];
    let (prefix, rest) = prefixes
        .iter()
        .find_map(|(p, prefix)| value.strip_prefix(p).map(|rest| (*prefix, rest)))
        .unwrap_or((Prefix::Eq, value));
    if rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(format!("{name}: the prefix of {value:?} is not supported (eq, ne, lt, le, gt, ge are)"));
    }
    let bad = || format!("{name}: {rest:?} is not a FHIR date or dateTime");
    let range = if rest.contains('T') {
        let at = DateTime::parse_from_rfc3339(rest).map_err(|_| bad())?.with_timezone(&Utc);
        // A value given to the second stands for that whole second.
        let width = if rest.contains('.') { Duration::microseconds(1) } else { Duration::seconds(1) };
        Range { lower: at, upper: at + width }
    } else {
        let start = vigil_ehr_adapter::fhir_time::parse_date(rest).ok_or_else(bad)?;
        let end = match rest.len() {
            4 => start.with_year(start.year() + 1),
            7 => start.checked_add_months(chrono::Months::new(1)),
            _ => start.succ_opt(),
        }
        .ok_or_else(bad)?;
        let midnight = |d: NaiveDate| d.and_time(chrono::NaiveTime::MIN).and_utc();
        Range { lower: midnight(start), upper: midnight(end) }
    };
    Ok((prefix, range))
}

/// A current version that a search found.
#[derive(Debug, QueryableByName)]
pub struct Hit {
    #[diesel(sql_type = BigInt)]
    pub row_id: i64,
    #[diesel(sql_type = BigInt)]
    pub patient_id: i64,
    #[diesel(sql_type = Timestamptz)]
    pub stored_at: DateTime<Utc>,
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

/// SQL text with numbered bind parameters, built in order.
struct Sql<'a> {
    query: Option<BoxedSqlQuery<'a, Pg, SqlQuery>>,
    binds: usize,
}

impl<'a> Sql<'a> {
    fn new(text: &str) -> Self {
        Self { query: Some(diesel::sql_query(text).into_boxed()), binds: 0 }
    }

    fn push(&mut self, text: &str) -> &mut Self {
        self.query = self.query.take().map(|q| q.sql(text));
        self
    }

    fn bind<T, V>(&mut self, value: V) -> &mut Self
    where
        Pg: diesel::sql_types::HasSqlType<T>,
        V: diesel::serialize::ToSql<T, Pg> + Send + 'a,
        T: Send + 'a,
    {
        self.binds += 1;
        let placeholder = format!("${}", self.binds);
        self.query = self.query.take().map(|q| q.sql(placeholder).bind::<T, V>(value));
        self
    }
}

/// The SQL condition that the patient in `column` is one the searcher may see; binds as needed.
fn visible(sql: &mut Sql<'_>, column: &str, visibility: &Visibility) {
    if let Visibility::Units { units, user_id } = visibility {
        sql.push(" AND (");
        on_units(sql, column, units);
        sql.push(&format!(" OR {column} IN (SELECT g.patient_id FROM break_glass_grants g WHERE g.user_id = "));
        sql.bind::<BigInt, _>(*user_id).push(" AND g.expires_at > now()))");
    }
}

/// A patient's units: explicit assignments, and the unit of their current or last encounter (as
/// the guard decides for a single patient).
fn on_units(sql: &mut Sql<'_>, column: &str, units: &[String]) {
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

/// Runs a search: one page of current versions (one more than `count`, to tell whether a next
/// page exists).
pub fn run(conn: &mut PgConnection, def: &TypeDef, search: &Search, visibility: &Visibility) -> QueryResult<Vec<Hit>> {
    let patient = if def.resource_type == "Patient" { "t.id" } else { "t.patient_id" };
    let mut sql = Sql::new("SELECT t.id AS row_id, ");
    sql.push(&format!("{patient} AS patient_id, t.stored_at, r.content, r.version, r.received_at, "));
    match visibility {
        Visibility::All => {
            sql.push("FALSE");
        }
        Visibility::Units { units, .. } => {
            sql.push("NOT ");
            on_units(&mut sql, patient, units);
        }
    }
    sql.push(&format!(
        " AS flagged FROM {} t JOIN raw_resources r ON r.source_system = t.source_system AND r.resource_type = '{}' \
         AND r.fhir_id = t.fhir_id AND r.superseded_at IS NULL WHERE TRUE",
        def.table, def.resource_type
    ));
    if def.resource_type == "Patient" {
        sql.push(" AND t.version > 0");
    }
    visible(&mut sql, patient, visibility);
    for filter in &search.filters {
        condition(&mut sql, filter);
    }
    if let Some(after) = search.after {
        sql.push(" AND (t.stored_at, t.id) > (");
        sql.bind::<Timestamptz, _>(after.stored_at).push(", ").bind::<BigInt, _>(after.row).push(")");
    }
    sql.push(" ORDER BY t.stored_at, t.id LIMIT ").bind::<BigInt, _>(search.count + 1);
    sql.query.take().map(|q| q.load(conn)).unwrap_or_else(|| Ok(Vec::new()))
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// `lower <= x < upper` style comparisons of a search range with a target range
/// `[start, end]` (a point when both are the same column), as FHIR defines the prefixes.
fn compare(sql: &mut Sql<'_>, prefix: Prefix, start: &str, end: &str, range: Range, date: bool) {
    let bound = |sql: &mut Sql<'_>, at: DateTime<Utc>| {
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

fn condition(sql: &mut Sql<'_>, filter: &Filter) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::fhir::type_def;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("instant").with_timezone(&Utc)
    }

    #[test]
    fn dates_stand_for_the_whole_of_their_precision() {
        assert_eq!(
            date("d", "2025").expect("year"),
            (Prefix::Eq, Range { lower: at("2025-01-01T00:00:00Z"), upper: at("2026-01-01T00:00:00Z") })
        );
        assert_eq!(
            date("d", "ge2024-02").expect("month"),
            (Prefix::Ge, Range { lower: at("2024-02-01T00:00:00Z"), upper: at("2024-03-01T00:00:00Z") })
        );
        assert_eq!(
            date("d", "lt2024-12-31").expect("day"),
            (Prefix::Lt, Range { lower: at("2024-12-31T00:00:00Z"), upper: at("2025-01-01T00:00:00Z") })
        );
        assert_eq!(
            date("d", "gt2024-12-31T10:00:00+01:00").expect("second"),
            (Prefix::Gt, Range { lower: at("2024-12-31T09:00:00Z"), upper: at("2024-12-31T09:00:01Z") })
        );
        assert!(date("d", "sa2024").is_err_and(|e| e.contains("prefix")));
        assert!(date("d", "2024-13").is_err());
        assert!(date("d", "2024-12-31T10:00:00").is_err(), "a time needs its offset");
    }

    #[test]
    fn parameters_parse_and_unknown_ones_are_named() {
        let observation = type_def("Observation").expect("type");
        let search = parse(
            observation,
            &params(&[
                ("patient", "Patient/p1,p2"),
                ("code", "http://loinc.org|718-7,http://snomed.info/sct|1"),
                ("_count", "5000"),
            ]),
        )
        .expect("valid");
        assert_eq!(search.count, MAX_COUNT);
        assert_eq!(
            search.filters,
            vec![Filter::Patient(vec!["p1".into(), "p2".into()]), Filter::LoincCode(vec![Some("718-7".into()), None]),]
        );
        let unknown = parse(observation, &params(&[("subject", "p1")])).expect_err("unknown");
        assert!(unknown.contains("subject") && unknown.contains("patient, code, date"), "{unknown}");
        assert!(parse(observation, &params(&[("code:text", "x")])).is_err_and(|e| e.contains(":text")));
        assert!(parse(observation, &params(&[("patient", "Encounter/e1")])).is_err());
        assert!(parse(observation, &params(&[("_count", "0")])).is_err());
        assert!(parse(observation, &params(&[("_cursor", "nonsense")])).is_err());

        let cursor = Cursor { stored_at: at("2025-01-01T00:00:00.123456Z"), row: 42 };
        let paged = parse(observation, &params(&[("_cursor", &cursor.encode()), ("_count", "2")])).expect("cursor");
        assert_eq!(paged.after, Some(cursor));
        assert_eq!(paged.echo, params(&[("_count", "2")]), "the cursor is not echoed");
    }

    #[test]
    fn tokens_split_system_and_code() {
        let condition = type_def("Condition").expect("type");
        let search =
            parse(condition, &params(&[("code", "http://hl7.org/fhir/sid/icd-10-cm|E11.9,44054006")])).expect("valid");
        assert_eq!(
            search.filters,
            vec![Filter::ConditionCode(vec![(Some(ICD10_CM.into()), "E11.9".into()), (None, "44054006".into())])]
        );
        assert!(parse(condition, &params(&[("code", "http://snomed.info/sct|")])).is_err());
    }
}
