//! Alerts as every surface reads and answers them: the JSON API and the portal call these, so
//! there is one path to the data, through the guard, audited alike.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Date, Double, Jsonb, Nullable, Text, Timestamptz};
use serde_json::Value;
use vigil_store::schema::alert_events;

use crate::alerts::Tier;
use crate::alerts::episode::Status;
use crate::alerts::feedback::{self, Feedback, Given, Source};
use crate::alerts::lifecycle::{self, Act};
use crate::auth::policy::{Action, Visibility};
use crate::http::access::{Access, Found, Guard};
use crate::http::surface::{Rejection, Surface};

use super::remembered::{ListKey, Read};

pub const READ: Access = Access { action: Action::Read, resource_type: "Alert", data_category: "alerts" };
pub const RESPOND: Access = Access { action: Action::Respond, resource_type: "Alert", data_category: "alerts" };

/// An alert with what a clinician needs to recognise its patient.
#[derive(Debug, Clone, QueryableByName)]
pub struct Row {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = BigInt)]
    pub patient_id: i64,
    #[diesel(sql_type = Text)]
    pub patient: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub family_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub given_names: Option<String>,
    #[diesel(sql_type = Nullable<Date>)]
    pub birth_date: Option<NaiveDate>,
    #[diesel(sql_type = Nullable<Text>)]
    pub sex: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub mrn: Option<String>,
    #[diesel(sql_type = Text)]
    pub target: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub unit: Option<String>,
    #[diesel(sql_type = Text)]
    pub tier: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Double)]
    pub probability: f64,
    /// The score before the alert's latest, from the same model.
    #[diesel(sql_type = Nullable<Double>)]
    pub previous: Option<f64>,
    #[diesel(sql_type = Text)]
    pub model_version: String,
    #[diesel(sql_type = Jsonb)]
    pub factors: Value,
    #[diesel(sql_type = Timestamptz)]
    pub opened_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub updated_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub snoozed_until: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub ended_at: Option<DateTime<Utc>>,
    /// Seen only through the caller's break-glass grant.
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub flagged: bool,
}

const COLUMNS: &str = "a.id, a.patient_id, p.fhir_id AS patient, p.family_name, p.given_names, p.birth_date, p.sex,
    p.mrn, a.target, a.unit, a.tier, a.status, a.probability,
    (SELECT s.probability FROM scores s
      WHERE s.patient_id = a.patient_id AND s.model_id = a.model_id AND s.id < a.score_id
      ORDER BY s.id DESC LIMIT 1) AS previous,
    m.version AS model_version, a.factors, a.opened_at, a.updated_at, a.snoozed_until, a.ended_at";

const FROM: &str = "alerts a JOIN patients p ON p.id = a.patient_id JOIN models m ON m.id = a.model_id";

/// The order of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Newest first, paged by a cursor (the API).
    Newest,
    /// Critical first, then by probability (the worklist), paged by an offset.
    Urgency,
}

/// A list's filters, parsed.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub unit: Option<String>,
    pub target: Option<String>,
    pub tier: Option<String>,
    /// A state, `live` (not ended) or `all`.
    pub status: String,
}

impl Filters {
    /// Checks each filter; the message names the one that is wrong and what it may be.
    pub fn parse(
        unit: Option<String>,
        target: Option<String>,
        tier: Option<String>,
        status: Option<String>,
    ) -> Result<Self, String> {
        let blank = |v: Option<String>| v.filter(|s| !s.is_empty());
        let (unit, target, tier) = (blank(unit), blank(target), blank(tier));
        if let Some(target) = &target
            && !matches!(target.as_str(), "admission" | "readmission")
        {
            return Err(format!("target {target:?}: expected admission or readmission"));
        }
        if let Some(tier) = &tier
            && Tier::parse(tier).is_none()
        {
            return Err(format!("tier {tier:?}: expected info, warning or critical"));
        }
        let status = blank(status).unwrap_or_else(|| "live".to_owned());
        if status != "live" && status != "all" && Status::parse(&status).is_none() {
            return Err(format!(
                "status {status:?}: expected live, all, open, acknowledged, snoozed, dismissed or resolved"
            ));
        }
        Ok(Self { unit, target, tier, status })
    }
}

/// One page of a list; `counts` (alerts per tier under the other filters) when asked for.
#[derive(Debug)]
pub struct Listed {
    pub rows: Vec<Row>,
    pub more: bool,
    pub counts: Vec<(String, i64)>,
}

/// The alerts the caller may see, filtered: `page` rows after `cursor` (an id, newest first) or
/// after `offset` rows (most urgent first). Each patient listed gets an audit row. Read from memory
/// when nothing it shows changed since the same list was last read (see [`super::remembered`]).
pub async fn list<S: Surface>(
    guard: &Guard<S>,
    filters: Filters,
    order: Order,
    cursor: Option<i64>,
    offset: i64,
    page: i64,
    with_counts: bool,
) -> Result<Listed, Rejection<S>> {
    let lists = guard.alert_lists();
    guard
        .search(READ, move |conn, visibility| {
            let (units, viewer) = match visibility {
                Visibility::All => (None, -1),
                Visibility::Units { units, user_id } => (Some(units.clone()), *user_id),
            };
            let key = ListKey {
                units,
                viewer,
                cursor: cursor.unwrap_or(i64::MAX),
                unit: filters.unit,
                target: filters.target,
                tier: filters.tier,
                status: filters.status,
                urgency: order == Order::Urgency,
                page: page + 1,
                offset,
                counts: with_counts,
            };
            let remembered = lists.get(&key);
            crate::metrics::alert_list(remembered.is_some());
            let read = match remembered {
                Some(read) => read,
                None => {
                    let stamp = lists.stamp();
                    let read = Arc::new(read_list(conn, &key)?);
                    if read.rememberable() {
                        lists.remember(key, Arc::clone(&read), stamp);
                    }
                    read
                }
            };
            let more = read.rows.len() as i64 > page;
            let rows: Vec<Row> = read.rows.iter().take(usize::try_from(page).unwrap_or(0)).cloned().collect();
            let patients = rows.iter().map(|r| (r.patient_id, r.flagged)).collect();
            Ok(Found { value: Listed { rows, more, counts: read.counts.clone() }, patients })
        })
        .await
}

/// Runs the list functions for `key`: its rows and, when asked, its counts per tier.
fn read_list(conn: &mut PgConnection, key: &ListKey) -> QueryResult<Read> {
    // The lists are database functions (migration `alert_list_functions`) so that each
    // connection plans them once.
    let rows: Vec<Row> = diesel::sql_query("SELECT * FROM alert_list($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
        .bind::<Nullable<Array<Text>>, _>(&key.units)
        .bind::<BigInt, _>(key.cursor)
        .bind::<Nullable<Text>, _>(&key.unit)
        .bind::<Nullable<Text>, _>(&key.target)
        .bind::<Nullable<Text>, _>(&key.tier)
        .bind::<Text, _>(&key.status)
        .bind::<BigInt, _>(key.viewer)
        .bind::<Bool, _>(key.urgency)
        .bind::<BigInt, _>(key.page)
        .bind::<BigInt, _>(key.offset)
        .load(conn)?;
    if !key.counts {
        return Ok(Read { rows, counts: Vec::new() });
    }
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = Text)]
        tier: String,
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let counts: Vec<Count> = diesel::sql_query("SELECT * FROM alert_counts($1, $2, $3, $4, $5, $6)")
        .bind::<Nullable<Array<Text>>, _>(&key.units)
        .bind::<BigInt, _>(key.cursor)
        .bind::<Nullable<Text>, _>(&key.unit)
        .bind::<Nullable<Text>, _>(&key.target)
        .bind::<Text, _>(&key.status)
        .bind::<BigInt, _>(key.viewer)
        .load(conn)?;
    Ok(Read { rows, counts: counts.into_iter().map(|c| (c.tier, c.n)).collect() })
}

/// One change of an alert, as its history tells it.
#[derive(Debug, Queryable)]
pub struct Event {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub tier: String,
    pub probability: f64,
    pub reason: Option<String>,
    pub note: Option<String>,
}

fn row(conn: &mut PgConnection, id: i64) -> QueryResult<Option<Row>> {
    diesel::sql_query(format!("SELECT {COLUMNS}, false AS flagged FROM {FROM} WHERE a.id = $1"))
        .bind::<BigInt, _>(id)
        .get_result(conn)
        .optional()
}

fn history(conn: &mut PgConnection, id: i64) -> QueryResult<Vec<Event>> {
    alert_events::table
        .filter(alert_events::alert_id.eq(id))
        .order(alert_events::id)
        .select((
            alert_events::at,
            alert_events::actor,
            alert_events::action,
            alert_events::from_status,
            alert_events::to_status,
            alert_events::tier,
            alert_events::probability,
            alert_events::reason,
            alert_events::note,
        ))
        .load(conn)
}

/// An alert id from a path; anything else is no alert.
pub fn alert_id<S>(raw: &str) -> Result<i64, Rejection<S>> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| Rejection::not_found(format!("no alert {raw:?}")))
}

/// An alert with its history and the feedback given on it.
#[derive(Debug)]
pub struct Detail {
    pub row: Row,
    pub history: Vec<Event>,
    pub feedback: Vec<Given>,
}

/// One alert, its history and feedback, if the caller may see its patient (audited).
pub async fn detail<S: Surface>(guard: &Guard<S>, id: i64) -> Result<Detail, Rejection<S>> {
    guard
        .resource(READ, id.to_string(), move |conn, _| {
            let Some(row) = row(conn, id)? else { return Ok(None) };
            Ok(Some(Detail { row, history: history(conn, id)?, feedback: feedback::of_alert(conn, id)? }))
        })
        .await
}

/// Stores the caller's feedback on alert `id` if they may answer its patient's alerts (audited
/// in the same transaction); what was stored, or why not.
pub async fn give_feedback<S: Surface>(
    guard: &Guard<S>,
    id: i64,
    outcome: &str,
    reason: Option<&str>,
    note: Option<&str>,
    source: Source,
) -> Result<Result<Given, Refused>, Rejection<S>> {
    let parsed = match Feedback::parse(outcome, reason, note) {
        Ok(parsed) => parsed,
        Err(e) => return Ok(Err(Refused::Invalid(e.to_string()))),
    };
    let actor = guard.principal().actor();
    let given = guard
        .resource(RESPOND, id.to_string(), move |conn, _| feedback::record(conn, id, &actor, source, &parsed))
        .await?;
    // This server's next list shows the answer without waiting for the notification.
    guard.alert_lists().forget_all();
    Ok(Ok(given))
}

/// What an action asked for, before it is checked.
#[derive(Debug, Default)]
pub struct Asked {
    pub reason: Option<String>,
    pub note: Option<String>,
    pub until: Option<DateTime<Utc>>,
}

/// Why an action was not taken.
#[derive(Debug)]
pub enum Refused {
    /// Not an action alerts have.
    Unknown(String),
    /// The request is incomplete or out of bounds (422).
    Invalid(String),
    /// The alert's state does not allow it (409).
    Conflict(String),
}

/// Applies `action` ("acknowledge", "snooze", "dismiss", "reopen") to alert `id` as the caller,
/// if they may answer its patient's alerts; the alert as it is then, or why not.
pub async fn respond<S: Surface>(
    guard: &Guard<S>,
    id: i64,
    action: &str,
    asked: Asked,
    snooze_bound: chrono::Duration,
) -> Result<Result<Row, Refused>, Rejection<S>> {
    let parsed = match action {
        "acknowledge" => Act::acknowledge(asked.note.as_deref()),
        "reopen" => Act::reopen(asked.note.as_deref()),
        "snooze" => match asked.until {
            None => return Ok(Err(Refused::Invalid("a snooze needs a time to end (until)".into()))),
            Some(until) => Act::snooze(until, asked.reason.as_deref().unwrap_or_default(), Utc::now(), snooze_bound),
        },
        "dismiss" => match asked.reason.as_deref().filter(|r| !r.is_empty()) {
            None => return Ok(Err(Refused::Invalid("a dismissal needs a reason".into()))),
            Some(reason) => Act::dismiss(reason, asked.note.as_deref()),
        },
        other => return Ok(Err(Refused::Unknown(format!("alerts have no action {other:?}")))),
    };
    let parsed = match parsed {
        Ok(parsed) => parsed,
        Err(e) => return Ok(Err(Refused::Invalid(e.to_string()))),
    };
    let actor = guard.principal().actor();
    let outcome = guard
        .resource(RESPOND, id.to_string(), move |conn, _| {
            Ok(match lifecycle::apply(conn, id, &actor, &parsed)? {
                None => None,
                Some(Err(conflict)) => Some(Err(conflict.current)),
                Some(Ok(_)) => row(conn, id)?.map(Ok),
            })
        })
        .await?;
    guard.alert_lists().forget_all();
    Ok(outcome.map_err(|current| {
        Refused::Conflict(format!("alert {id} is {}: it cannot be {} from there", current.as_str(), past(action)))
    }))
}

fn past(action: &str) -> &'static str {
    match action {
        "acknowledge" => "acknowledged",
        "snooze" => "snoozed",
        "dismiss" => "dismissed",
        _ => "reopened",
    }
}
