//! The promotion guard against the store: the index events challenger and champion both scored,
//! with their matured outcomes, and each decision recorded with its figures and who made it.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Float8, Nullable, Text, Timestamptz};
use vigil_store::schema::promotion_decisions;

use super::{Comparison, Paired, Rules, compare};
use crate::outcomes;
use crate::registry::{self, Entry, RegistryError};
use crate::training::{Target, age_band};

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Float8)]
    challenger: f64,
    #[diesel(sql_type = Nullable<Float8>)]
    champion_probability: Option<f64>,
    #[diesel(sql_type = Float8)]
    champion: f64,
    #[diesel(sql_type = Bool)]
    outcome: bool,
    #[diesel(sql_type = Nullable<Text>)]
    sex: Option<String>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Date>)]
    birth_date: Option<NaiveDate>,
    #[diesel(sql_type = Timestamptz)]
    as_of: DateTime<Utc>,
}

/// The events both models scored (the newest score of each), with matured outcomes; and whether
/// the champion gave probabilities for all of them.
pub fn paired(conn: &mut PgConnection, challenger: i64, champion: i64) -> QueryResult<(Vec<Paired>, bool)> {
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT DISTINCT ON (c.patient_id, c.as_of, COALESCE(c.encounter_fhir_id, ''))
                c.probability AS challenger, k.probability AS champion_probability,
                COALESCE(k.probability, k.points::float8) AS champion, o.outcome, p.sex, p.birth_date, c.as_of
           FROM scores c
           JOIN score_outcomes o ON o.score_id = c.id AND o.outcome IS NOT NULL
           JOIN scores k ON k.model_id = $2 AND k.patient_id = c.patient_id AND k.as_of = c.as_of
                        AND k.encounter_fhir_id IS NOT DISTINCT FROM c.encounter_fhir_id
           JOIN patients p ON p.id = c.patient_id
          WHERE c.model_id = $1 AND c.probability IS NOT NULL
            AND COALESCE(k.probability, k.points::float8) IS NOT NULL
          ORDER BY c.patient_id, c.as_of, COALESCE(c.encounter_fhir_id, ''), c.id DESC, k.id DESC",
    )
    .bind::<BigInt, _>(challenger)
    .bind::<BigInt, _>(champion)
    .load(conn)?;
    let probabilities = rows.iter().all(|r| r.champion_probability.is_some());
    let events = rows
        .into_iter()
        .map(|r| {
            let age = r.birth_date.map(|b| (r.as_of.date_naive() - b).num_days() as f64 / 365.25);
            Paired {
                challenger: r.challenger,
                champion: r.champion,
                outcome: r.outcome,
                groups: vec![
                    ("sex".into(), r.sex.unwrap_or_else(|| "unknown".into())),
                    ("age".into(), age_band(age).to_owned()),
                ],
            }
        })
        .collect();
    Ok((events, probabilities))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Promoted,
    Kept,
    Forced,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Promoted => "promoted",
            Self::Kept => "kept",
            Self::Forced => "forced",
        }
    }
}

/// A decision and what it rests on.
#[derive(Debug, Clone)]
pub struct Decision {
    pub verdict: Verdict,
    pub challenger: Entry,
    pub champion: Entry,
    pub comparison: Comparison,
}

/// How a decision is asked for.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub by: &'a str,
    /// Promote whatever the guard says, for this reason.
    pub force: Option<&'a str>,
    /// Made by the worker's auto-promotion setting, not a person.
    pub automatic: bool,
}

/// Judges `version` (a model in shadow) against its target's active model on the matured outcomes
/// of the events both scored, records the decision and, when it is to promote, activates it (the
/// champion is retired, and `vigil model rollback` restores it).
pub fn decide(
    conn: &mut PgConnection,
    version: &str,
    rules: Rules,
    request: Request<'_>,
) -> Result<Decision, RegistryError> {
    let challenger = registry::show(conn, version)?;
    if challenger.status != "shadow" {
        return Err(RegistryError::Refused(format!(
            "{version} is {}: only a model in shadow has a shadow period to be judged on (`vigil model shadow {version}`)",
            challenger.status
        )));
    }
    let target = Target::parse(&challenger.target).ok_or_else(|| RegistryError::NotFound(challenger.target.clone()))?;
    let Some((champion, _)) = registry::active(conn, target)? else {
        return Err(RegistryError::Refused(format!(
            "no {} model is active to compare {version} with: `vigil model activate {version}` makes it the first",
            challenger.target
        )));
    };
    if let Some(reason) = request.force
        && reason.trim().is_empty()
    {
        return Err(RegistryError::Refused("--force needs a --reason".into()));
    }
    outcomes::mature(conn, 1000)?;
    let (events, champion_probabilities) = paired(conn, challenger.id, champion.id)?;
    let comparison =
        compare(&events, challenger.threshold, champion_probabilities.then_some(champion.threshold), rules);
    let verdict = match (request.force, comparison.passes()) {
        (Some(_), _) => Verdict::Forced,
        (None, true) => Verdict::Promoted,
        (None, false) => Verdict::Kept,
    };
    let figures = serde_json::to_value(&comparison).unwrap_or(serde_json::Value::Null);
    let challenger = conn.transaction(|conn| {
        diesel::insert_into(promotion_decisions::table)
            .values((
                promotion_decisions::challenger_id.eq(challenger.id),
                promotion_decisions::champion_id.eq(champion.id),
                promotion_decisions::decision.eq(verdict.as_str()),
                promotion_decisions::automatic.eq(request.automatic),
                promotion_decisions::decided_by.eq(request.by),
                promotion_decisions::reason.eq(request.force),
                promotion_decisions::figures.eq(&figures),
            ))
            .execute(conn)?;
        match verdict {
            Verdict::Kept => Ok(challenger),
            // Judged on its shadow period's outcomes (the calibration check among them), which
            // speak for it more than its training report's test period does.
            Verdict::Promoted => {
                let reason = format!(
                    "promoted on its shadow period: calibration slope {:.2}",
                    comparison.calibration_slope.unwrap_or(f64::NAN)
                );
                registry::activate(conn, version, request.by, Some(&reason))
            }
            Verdict::Forced => registry::activate(conn, version, request.by, request.force),
        }
    })?;
    Ok(Decision { verdict, challenger, champion, comparison })
}

/// The decisions about a model (as challenger or champion), newest first.
pub fn decisions(conn: &mut PgConnection, model: i64) -> QueryResult<Vec<Recorded>> {
    diesel::sql_query(
        "SELECT d.id, c.version AS challenger, k.version AS champion, d.decision, d.automatic, d.decided_by, d.reason,
                d.figures, d.decided_at
           FROM promotion_decisions d JOIN models c ON c.id = d.challenger_id LEFT JOIN models k ON k.id = d.champion_id
          WHERE d.challenger_id = $1 OR d.champion_id = $1 ORDER BY d.id DESC",
    )
    .bind::<BigInt, _>(model)
    .load(conn)
}

/// A recorded decision.
#[derive(Debug, Clone, QueryableByName)]
pub struct Recorded {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub challenger: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub champion: Option<String>,
    #[diesel(sql_type = Text)]
    pub decision: String,
    #[diesel(sql_type = Bool)]
    pub automatic: bool,
    #[diesel(sql_type = Text)]
    pub decided_by: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub reason: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    pub figures: serde_json::Value,
    #[diesel(sql_type = Timestamptz)]
    pub decided_at: DateTime<Utc>,
}
