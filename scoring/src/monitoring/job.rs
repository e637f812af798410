//! The monitoring job: outcomes first (`outcomes::mature`), then, for each active and shadow
//! model, every week of its scores read in index-time order through a cursor (memory holds one
//! week's predictions, not the table), figures per unit and for all units upserted into
//! `model_monitoring`, and each new finding (significant drift; matured AUROC more than a margin
//! below validation) recorded once in `model_findings` and handed to the caller in the same
//! transaction, so that notifying about it commits with it.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Date, Float8, Int4, Jsonb, Nullable, Text};
use vigil_store::schema::model_findings;

use super::{Burden, Figures, Scored, Window};
use crate::drift::Reference;
use crate::outcomes::{self, Progress};
use crate::registry::{self, Entry};
use crate::training::Report;

/// When a finding is raised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Matured AUROC this far below the validation AUROC is a finding.
    pub auroc_margin: f64,
    /// A week's matured AUROC is judged only with at least this many events and non-events.
    pub min_events: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self { auroc_margin: 0.05, min_events: 20 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Drift,
    Performance,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Drift => "drift",
            Self::Performance => "performance",
        }
    }
}

/// Something informatics should look at.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub model_id: i64,
    pub version: String,
    pub week: NaiveDate,
    pub kind: Kind,
    pub detail: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub outcomes: Progress,
    pub models: usize,
    pub weeks: usize,
    /// Findings raised by this pass (each is raised once).
    pub findings: Vec<Finding>,
}

/// Patients per transaction of the outcome pass.
const OUTCOME_CHUNK: usize = 1000;
/// Rows per fetch from the cursor.
const FETCH: usize = 20_000;

/// One pass: outcomes, then every active and shadow model. `notify` runs in the transaction that
/// records each new finding.
pub fn run(
    conn: &mut PgConnection,
    settings: Settings,
    mut notify: impl FnMut(&mut PgConnection, &Finding) -> QueryResult<()>,
) -> QueryResult<Summary> {
    let mut summary = Summary { outcomes: outcomes::mature(conn, OUTCOME_CHUNK)?, ..Summary::default() };
    let watched: Vec<Entry> =
        registry::list(conn)?.into_iter().filter(|e| matches!(e.status.as_str(), "active" | "shadow")).collect();
    for entry in &watched {
        let (weeks, findings) = conn.transaction(|conn| model(conn, entry, settings, &mut notify))?;
        summary.models += 1;
        summary.weeks += weeks;
        summary.findings.extend(findings);
    }
    Ok(summary)
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Date)]
    week: NaiveDate,
    #[diesel(sql_type = Nullable<Text>)]
    unit: Option<String>,
    #[diesel(sql_type = BigInt)]
    patient_id: i64,
    #[diesel(sql_type = Nullable<Text>)]
    encounter: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    as_of: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Float8>)]
    probability: Option<f64>,
    #[diesel(sql_type = Nullable<Int4>)]
    points: Option<i32>,
    #[diesel(sql_type = Array<Nullable<Float8>>)]
    features: Vec<Option<f64>>,
    #[diesel(sql_type = Nullable<Bool>)]
    outcome: Option<bool>,
}

#[derive(QueryableByName)]
struct BurdenRow {
    #[diesel(sql_type = Date)]
    week: NaiveDate,
    #[diesel(sql_type = Nullable<Text>)]
    unit: Option<String>,
    #[diesel(sql_type = BigInt)]
    alerts: i64,
    #[diesel(sql_type = BigInt)]
    answers: i64,
    #[diesel(sql_type = BigInt)]
    useful: i64,
}

/// The week (its Monday, UTC) of an index time, as SQL computes it for every query here.
const WEEK: &str = "(date_trunc('week', s.as_of AT TIME ZONE 'UTC'))::date";

/// Alerts opened and clinicians' answers, by the week and unit of the score they were about.
fn burdens(conn: &mut PgConnection, model_id: i64) -> QueryResult<HashMap<(NaiveDate, Option<String>), Burden>> {
    let rows: Vec<BurdenRow> = diesel::sql_query(format!(
        "SELECT {WEEK} AS week, o.unit, count(*) FILTER (WHERE x.alert) AS alerts,
                count(*) FILTER (WHERE NOT x.alert) AS answers, count(*) FILTER (WHERE x.useful) AS useful
           FROM (SELECT e.score_id, true AS alert, false AS useful FROM alert_events e JOIN alerts a ON a.id = e.alert_id
                  WHERE a.model_id = $1 AND e.action = 'opened'
                 UNION ALL
                 SELECT f.score_id, false, f.outcome IN ('useful', 'accepted') FROM alert_feedback f WHERE f.model_id = $1) x
           JOIN scores s ON s.id = x.score_id LEFT JOIN score_outcomes o ON o.score_id = s.id
          GROUP BY 1, 2"
    ))
    .bind::<BigInt, _>(model_id)
    .load(conn)?;
    let mut out: HashMap<(NaiveDate, Option<String>), Burden> = HashMap::new();
    for r in rows {
        let b = Burden { alerts: r.alerts as usize, answers: r.answers as usize, useful: r.useful as usize };
        // Each row counts for its unit and for all units.
        let keys = [Some((r.week, None)), r.unit.clone().map(|u| (r.week, Some(u)))];
        for key in keys.into_iter().flatten() {
            let entry = out.entry(key).or_default();
            entry.alerts += b.alerts;
            entry.answers += b.answers;
            entry.useful += b.useful;
        }
    }
    Ok(out)
}

/// One week being read: a window per unit and one for all.
struct Week {
    week: NaiveDate,
    all: Window,
    units: BTreeMap<String, Window>,
}

fn model(
    conn: &mut PgConnection,
    entry: &Entry,
    settings: Settings,
    notify: &mut impl FnMut(&mut PgConnection, &Finding) -> QueryResult<()>,
) -> QueryResult<(usize, Vec<Finding>)> {
    let report: Option<Report> = serde_json::from_value(entry.metrics.clone()).ok();
    let reference: Option<Reference> = report.and_then(|r| r.reference);
    let reference = reference.as_ref();
    let burden = burdens(conn, entry.id)?;
    diesel::sql_query(format!(
        "DECLARE monitoring NO SCROLL CURSOR FOR
         SELECT {WEEK} AS week, o.unit, s.patient_id, s.encounter_fhir_id AS encounter, s.as_of, s.probability,
                s.points, s.features, o.outcome
           FROM scores s JOIN score_outcomes o ON o.score_id = s.id
          WHERE s.model_id = {}
          ORDER BY s.as_of, s.patient_id, s.id",
        entry.id
    ))
    .execute(conn)?;
    let (mut weeks, mut findings) = (0, Vec::new());
    let mut current: Option<Week> = None;
    // A discharge is scored by every run in the 30 days after it, each score with the discharge as
    // its index time: the event counts once, with its newest score.
    let mut pending: Option<Row> = None;
    loop {
        let rows: Vec<Row> = diesel::sql_query(format!("FETCH {FETCH} FROM monitoring")).load(conn)?;
        let done = rows.len() < FETCH;
        for row in rows {
            let same_event = pending.as_ref().is_some_and(|p| {
                p.as_of == row.as_of && p.patient_id == row.patient_id && p.encounter == row.encounter
            });
            if let Some(previous) = pending.replace(row)
                && !same_event
            {
                take(
                    conn,
                    entry,
                    settings,
                    reference,
                    &burden,
                    &mut current,
                    previous,
                    notify,
                    &mut weeks,
                    &mut findings,
                )?;
            }
        }
        if done {
            break;
        }
    }
    if let Some(last) = pending.take() {
        take(conn, entry, settings, reference, &burden, &mut current, last, notify, &mut weeks, &mut findings)?;
    }
    if let Some(week) = current.take() {
        weeks += 1;
        close(conn, entry, settings, reference, &burden, week, notify, &mut findings)?;
    }
    diesel::sql_query("CLOSE monitoring").execute(conn)?;
    Ok((weeks, findings))
}

#[allow(clippy::too_many_arguments)]
fn take(
    conn: &mut PgConnection,
    entry: &Entry,
    settings: Settings,
    reference: Option<&Reference>,
    burden: &HashMap<(NaiveDate, Option<String>), Burden>,
    current: &mut Option<Week>,
    row: Row,
    notify: &mut impl FnMut(&mut PgConnection, &Finding) -> QueryResult<()>,
    weeks: &mut usize,
    findings: &mut Vec<Finding>,
) -> QueryResult<()> {
    if current.as_ref().is_some_and(|w| w.week != row.week)
        && let Some(week) = current.take()
    {
        *weeks += 1;
        close(conn, entry, settings, reference, burden, week, notify, findings)?;
    }
    let week =
        current.get_or_insert_with(|| Week { week: row.week, all: Window::new(reference), units: BTreeMap::new() });
    let scored = Scored {
        patient_id: row.patient_id,
        day: row.as_of.timestamp().div_euclid(86_400),
        probability: row.probability,
        points: row.points,
        outcome: row.outcome,
        features: row.features.iter().map(|v| v.unwrap_or(f64::NAN)).collect(),
    };
    week.all.add(&scored, reference);
    if let Some(unit) = row.unit {
        week.units.entry(unit).or_insert_with(|| Window::new(reference)).add(&scored, reference);
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn close(
    conn: &mut PgConnection,
    entry: &Entry,
    settings: Settings,
    reference: Option<&Reference>,
    burden: &HashMap<(NaiveDate, Option<String>), Burden>,
    week: Week,
    notify: &mut impl FnMut(&mut PgConnection, &Finding) -> QueryResult<()>,
    findings: &mut Vec<Finding>,
) -> QueryResult<()> {
    let load = |unit: Option<String>| burden.get(&(week.week, unit)).copied().unwrap_or_default();
    let all = week.all.figures(entry.threshold, reference, load(None));
    store(conn, entry.id, week.week, None, &all)?;
    for (unit, window) in &week.units {
        let figures = window.figures(entry.threshold, reference, load(Some(unit.clone())));
        store(conn, entry.id, week.week, Some(unit), &figures)?;
    }
    for (kind, detail) in judge(&all, entry.test_auroc(), settings) {
        let finding = Finding { model_id: entry.id, version: entry.version.clone(), week: week.week, kind, detail };
        let new = diesel::insert_into(model_findings::table)
            .values((
                model_findings::model_id.eq(entry.id),
                model_findings::week.eq(week.week),
                model_findings::kind.eq(kind.as_str()),
                model_findings::detail.eq(&finding.detail),
            ))
            .on_conflict_do_nothing()
            .execute(conn)?;
        if new > 0 {
            notify(conn, &finding)?;
            findings.push(finding);
        }
    }
    Ok(())
}

/// What a week's figures for all units call for (pure).
pub fn judge(figures: &Figures, validation: Option<f64>, settings: Settings) -> Vec<(Kind, String)> {
    let mut out = Vec::new();
    let drifted = figures.drifted();
    if !drifted.is_empty() {
        let named: Vec<String> = drifted.iter().map(|(name, psi)| format!("{name} {psi:.2}")).collect();
        out.push((Kind::Drift, format!("PSI above 0.25 against the training window: {}", named.join(", "))));
    }
    let enough = figures.events >= settings.min_events && figures.matured - figures.events >= settings.min_events;
    if let (Some((auroc, low, high)), Some(validation), true) = (figures.auroc, validation, enough)
        && auroc < validation - settings.auroc_margin
    {
        out.push((
            Kind::Performance,
            format!(
                "matured AUROC {auroc:.3} [{low:.3}, {high:.3}] on {} scores with {} events, against {validation:.3} at validation",
                figures.matured, figures.events
            ),
        ));
    }
    out
}

fn store(
    conn: &mut PgConnection,
    model: i64,
    week: NaiveDate,
    unit: Option<&str>,
    figures: &Figures,
) -> QueryResult<()> {
    let json = serde_json::to_value(figures).unwrap_or(serde_json::Value::Null);
    diesel::sql_query(
        "INSERT INTO model_monitoring (model_id, week, unit, scores, matured, events, figures)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (model_id, week, unit) DO UPDATE
            SET scores = excluded.scores, matured = excluded.matured, events = excluded.events,
                figures = excluded.figures, computed_at = now()",
    )
    .bind::<BigInt, _>(model)
    .bind::<Date, _>(week)
    .bind::<Nullable<Text>, _>(unit)
    .bind::<Int4, _>(figures.scores as i32)
    .bind::<Int4, _>(figures.matured as i32)
    .bind::<Int4, _>(figures.events as i32)
    .bind::<Jsonb, _>(json)
    .execute(conn)
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_needs_enough_events_and_a_real_fall() {
        let settings = Settings::default();
        let mut figures = Figures { matured: 400, events: 40, auroc: Some((0.70, 0.62, 0.78)), ..Figures::default() };
        let found = judge(&figures, Some(0.80), settings);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, Kind::Performance);
        assert!(judge(&figures, Some(0.74), settings).is_empty(), "within the margin");
        figures.events = 10;
        assert!(judge(&figures, Some(0.80), settings).is_empty(), "too few events to judge");
        figures.psi_features = vec![("hba1c".into(), 0.4), ("age".into(), 0.02)];
        let found = judge(&figures, Some(0.80), settings);
        assert_eq!(found, vec![(Kind::Drift, "PSI above 0.25 against the training window: hba1c 0.40".to_owned())]);
    }
}
