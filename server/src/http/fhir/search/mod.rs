//! FHIR search on the mapped types: the parameters each type supports, parsed into [`Filter`]s
//! (pure, unit-tested), and the SQL ([`sql`]) that finds the current versions that match, in a
//! stable order (the sort key, then the row id) so that paging with a cursor neither skips nor
//! repeats a resource. Also `_sort` on the date parameters, `_total`, `_summary=count`, `_count=0`,
//! and `_include` / `_revinclude` of the patient.
//!
//! Unknown parameters and modifiers are refused with 400 naming them, rather than ignored: a
//! client that believes it filtered must not silently get everything.

mod sql;
mod statement;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use vigil_ehr_adapter::map::LOINC;
use vigil_ehr_adapter::reference;

pub use self::sql::{Hit, count, included, run};
use super::{TYPES, TypeDef};

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

/// Where a page starts: after this sort key (None: a resource without a value, sorted last) and
/// row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub key: Option<DateTime<Utc>>,
    pub row: i64,
}

impl Cursor {
    pub fn encode(&self) -> String {
        match self.key {
            Some(key) => format!("{}.{}", key.timestamp_micros(), self.row),
            None => format!("none.{}", self.row),
        }
    }

    fn decode(raw: &str) -> Option<Self> {
        let (key, row) = raw.split_once('.')?;
        let key = match key {
            "none" => None,
            micros => Some(DateTime::from_timestamp_micros(micros.parse().ok()?)?),
        };
        Some(Self { key, row: row.parse().ok()? })
    }
}

/// What results are ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    /// The SQL of the key: `t.stored_at` (`_lastUpdated`, the default) or a date parameter's column.
    pub key: SortKey,
    pub descending: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    LastUpdated,
    Instant(&'static str),
    PeriodStart,
    BirthDate,
}

/// A parsed search request.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    pub filters: Vec<Filter>,
    /// Matches per page; 0 asks only for the total.
    pub count: i64,
    pub after: Option<Cursor>,
    pub sort: Sort,
    /// `Bundle.total` is wanted (`_total=accurate` or `estimate`, `_summary=count`, `_count=0`).
    pub total: bool,
    /// `_summary=count`: the total and no entries.
    pub summary_count: bool,
    /// `_include=Type:patient`: the patients of the matches; `_revinclude=Type:patient` (on
    /// Patient): those types' resources of the matched patients.
    pub include_patient: bool,
    pub revinclude: Vec<&'static str>,
    /// The parameters as given (but the cursor), to repeat in paging links.
    pub echo: Vec<(String, String)>,
}

impl Search {
    /// The resource types this search returns beside the searched one, whose read permission it
    /// needs as well.
    pub fn included_types(&self) -> Vec<&'static TypeDef> {
        let patient = self.include_patient.then_some("Patient");
        TYPES
            .iter()
            .filter(|t| self.revinclude.contains(&t.resource_type) || patient == Some(t.resource_type))
            .collect()
    }
}

/// `Type:patient` (or `Type:subject`) naming a mapped type that refers to a patient.
fn patient_reference(name: &str, value: &str) -> Result<&'static TypeDef, String> {
    let (ty, param) = value.split_once(':').ok_or_else(|| format!("{name} takes Type:patient, not {value:?}"))?;
    if !matches!(param, "patient" | "subject") {
        return Err(format!("{name}: only the patient can be included ({ty}:patient)"));
    }
    TYPES
        .iter()
        .find(|t| t.resource_type == ty && t.resource_type != "Patient")
        .ok_or_else(|| format!("{name}: {ty} is not a type this server serves with a patient"))
}

/// Parses the query parameters of a search on `def`; the error names the parameter and says why.
pub fn parse(def: &TypeDef, params: &[(String, String)]) -> Result<Search, String> {
    let mut search = Search {
        filters: Vec::new(),
        count: DEFAULT_COUNT,
        after: None,
        sort: Sort { key: SortKey::LastUpdated, descending: false },
        total: false,
        summary_count: false,
        include_patient: false,
        revinclude: Vec::new(),
        echo: Vec::new(),
    };
    for (name, value) in params {
        if name != "_cursor" {
            search.echo.push((name.clone(), value.clone()));
        }
        match name.as_str() {
            "_count" => {
                let n: i64 = value.parse().map_err(|_| format!("_count must be a whole number, not {value:?}"))?;
                if n < 0 {
                    return Err("_count must be 0 (the total only) or more".into());
                }
                search.count = n.min(MAX_COUNT);
                search.total |= n == 0;
            }
            "_cursor" => {
                search.after = Some(Cursor::decode(value).ok_or("_cursor is not one this server gave out")?);
            }
            "_sort" => search.sort = sort(def, value)?,
            "_total" => match value.as_str() {
                "none" => search.total = false,
                "estimate" | "accurate" => search.total = true,
                other => return Err(format!("_total must be none, estimate or accurate, not {other:?}")),
            },
            "_summary" => match value.as_str() {
                "count" => (search.summary_count, search.total) = (true, true),
                "false" => {}
                other => return Err(format!("_summary={other} is not supported (count and false are)")),
            },
            "_include" => {
                let included = patient_reference(name, value)?;
                if included.resource_type != def.resource_type {
                    return Err(format!("_include={value} does not name the searched type {}", def.resource_type));
                }
                search.include_patient = true;
            }
            "_revinclude" if def.resource_type == "Patient" => {
                search.revinclude.push(patient_reference(name, value)?.resource_type);
            }
            "_revinclude" => return Err("_revinclude is supported on Patient searches (Type:patient)".into()),
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

/// `_sort`: `_lastUpdated` or a date parameter of the type, `-` first for descending.
fn sort(def: &TypeDef, value: &str) -> Result<Sort, String> {
    let (descending, name) = match value.strip_prefix('-') {
        Some(name) => (true, name),
        None => (false, value),
    };
    let key = if name == "_lastUpdated" {
        SortKey::LastUpdated
    } else {
        match def.params.iter().find(|(p, _)| *p == name).map(|(_, p)| *p) {
            Some(Param::Instant(column)) => SortKey::Instant(column),
            Some(Param::Period) => SortKey::PeriodStart,
            Some(Param::BirthDate) => SortKey::BirthDate,
            _ => {
                let dates: Vec<&str> = def
                    .params
                    .iter()
                    .filter(|(_, p)| matches!(p, Param::Instant(_) | Param::Period | Param::BirthDate))
                    .map(|(n, _)| *n)
                    .chain(["_lastUpdated"])
                    .collect();
                return Err(format!(
                    "_sort={value}: {} can be sorted by {} (- first for descending)",
                    def.resource_type,
                    dates.join(", ")
                ));
            }
        }
    };
    Ok(Sort { key, descending })
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

#[cfg(test)]
mod tests;
