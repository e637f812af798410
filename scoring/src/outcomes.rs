//! What happened after each stored score, once it is known: a score's outcome matures 30 days
//! after its index time, or earlier when the event happens (a readmission, an unplanned
//! admission). The definitions are those of `labels`, so that a model is monitored on the outcome
//! it was trained on. `mature` is the job that keeps `score_outcomes` up to date as later data
//! arrives; `matured` and `unit_at` are its pure parts.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamptz};

use crate::history::History;
use crate::labels::{self, horizon};
use crate::load::{self, Span};
use crate::training::Target;

/// An outcome that is known, and the time in the data it became known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matured {
    pub outcome: bool,
    pub at: DateTime<Utc>,
}

/// The outcome of a score of `target` at `index_time` (for readmission, the discharge of
/// `encounter`), when the data up to `data_end` tell it; None while it is still open.
pub fn matured(
    history: &History,
    target: Target,
    index_time: DateTime<Utc>,
    encounter: Option<&str>,
    data_end: DateTime<Utc>,
) -> Option<Matured> {
    let event = match target {
        Target::Readmission => {
            let stay = history.encounters.iter().find(|e| Some(e.fhir_id.as_str()) == encounter)?;
            labels::first_readmission(history, stay, index_time)
        }
        Target::Admission => labels::first_unplanned_admission(history, index_time),
    };
    match event {
        Some(stay) if stay.start <= data_end => Some(Matured { outcome: true, at: stay.start }),
        _ if index_time + horizon() <= data_end => Some(Matured { outcome: false, at: index_time + horizon() }),
        _ => None,
    }
}

/// The unit a patient belonged to at `t`: that of their last encounter with a unit begun by then.
pub fn unit_at(history: &History, t: DateTime<Utc>) -> Option<String> {
    history.encounters.iter().filter(|e| e.unit.is_some() && e.start <= t).max_by_key(|e| e.start)?.unit.clone()
}

/// What one pass of [`mature`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Scores seen for the first time.
    pub new: usize,
    /// Scores whose outcome became known.
    pub matured: usize,
    /// Scores whose outcome is still open.
    pub open: usize,
}

#[derive(QueryableByName)]
struct Pending {
    #[diesel(sql_type = BigInt)]
    score_id: i64,
    #[diesel(sql_type = BigInt)]
    patient_id: i64,
    #[diesel(sql_type = Text)]
    target: String,
    #[diesel(sql_type = Nullable<Text>)]
    encounter: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    as_of: DateTime<Utc>,
    #[diesel(sql_type = Bool)]
    seen: bool,
}

#[derive(QueryableByName)]
struct PatientId {
    #[diesel(sql_type = BigInt)]
    patient_id: i64,
}

/// Gives every score not seen yet its unit, and every open score its outcome where the data now
/// tell it, `chunk` patients at a time (each chunk one transaction). Safe to run from several
/// workers at once: an outcome, once written, is not written again.
pub fn mature(conn: &mut PgConnection, chunk: usize) -> QueryResult<Progress> {
    let mut progress = Progress::default();
    let Some(data_end) = load::data_end(conn)? else { return Ok(progress) };
    let patients: Vec<PatientId> = diesel::sql_query(
        "SELECT DISTINCT s.patient_id FROM scores s LEFT JOIN score_outcomes o ON o.score_id = s.id
          WHERE o.score_id IS NULL OR o.outcome IS NULL ORDER BY 1",
    )
    .load(conn)?;
    let patients: Vec<i64> = patients.into_iter().map(|p| p.patient_id).collect();
    for ids in patients.chunks(chunk.max(1)) {
        let done = conn.transaction(|conn| mature_patients(conn, ids, data_end))?;
        progress.new += done.new;
        progress.matured += done.matured;
        progress.open += done.open;
    }
    Ok(progress)
}

fn mature_patients(conn: &mut PgConnection, ids: &[i64], data_end: DateTime<Utc>) -> QueryResult<Progress> {
    let pending: Vec<Pending> = diesel::sql_query(
        "SELECT s.id AS score_id, s.patient_id, m.target, s.encounter_fhir_id AS encounter, s.as_of,
                o.score_id IS NOT NULL AS seen
           FROM scores s JOIN models m ON m.id = s.model_id LEFT JOIN score_outcomes o ON o.score_id = s.id
          WHERE s.patient_id = ANY($1) AND (o.score_id IS NULL OR o.outcome IS NULL)",
    )
    .bind::<Array<BigInt>, _>(ids)
    .load(conn)?;
    let histories = load::histories(conn, ids, Span::Whole)?;
    let by_id: std::collections::HashMap<i64, &History> = histories.iter().map(|h| (h.patient_id, h)).collect();
    let mut progress = Progress::default();
    let (mut score_ids, mut units, mut outcomes, mut times) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for p in &pending {
        let Some(history) = by_id.get(&p.patient_id) else { continue };
        let known = Target::parse(&p.target)
            .and_then(|target| matured(history, target, p.as_of, p.encounter.as_deref(), data_end));
        progress.new += usize::from(!p.seen);
        match known {
            Some(_) => progress.matured += 1,
            None => progress.open += 1,
        }
        if p.seen && known.is_none() {
            continue; // nothing new to write
        }
        score_ids.push(p.score_id);
        units.push(unit_at(history, p.as_of));
        outcomes.push(known.map(|m| m.outcome));
        times.push(known.map(|m| m.at));
    }
    if !score_ids.is_empty() {
        diesel::sql_query(
            "INSERT INTO score_outcomes (score_id, unit, outcome, matured_at)
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::boolean[], $4::timestamptz[])
             ON CONFLICT (score_id) DO UPDATE
                SET outcome = excluded.outcome, matured_at = excluded.matured_at, recorded_at = now()
              WHERE score_outcomes.outcome IS NULL",
        )
        .bind::<Array<BigInt>, _>(&score_ids)
        .bind::<Array<Nullable<Text>>, _>(&units)
        .bind::<Array<Nullable<Bool>>, _>(&outcomes)
        .bind::<Array<Nullable<Timestamptz>>, _>(&times)
        .execute(conn)?;
    }
    Ok(progress)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Disposition;
    use crate::labels::tests::{at, stay};

    #[test]
    fn a_readmission_matures_when_it_happens_and_its_absence_after_thirty_days() {
        let history = History {
            encounters: vec![stay("s1", 0, Some(5)), stay("s2", 12, Some(15)), stay("s3", 100, Some(104))],
            ..History::default()
        };
        let readmitted = matured(&history, Target::Readmission, at(5), Some("s1"), at(13));
        assert_eq!(readmitted, Some(Matured { outcome: true, at: at(12) }), "known on day 12, before 30 days");
        assert_eq!(matured(&history, Target::Readmission, at(15), Some("s2"), at(30)), None, "still open");
        assert_eq!(
            matured(&history, Target::Readmission, at(15), Some("s2"), at(60)),
            Some(Matured { outcome: false, at: at(45) })
        );
        assert_eq!(matured(&history, Target::Readmission, at(5), Some("gone"), at(60)), None);
    }

    #[test]
    fn an_admission_outcome_counts_unplanned_stays_only() {
        let mut planned = stay("planned", 10, Some(12));
        planned.priority = Some("EL".into());
        planned.admit_source = Some("gp".into());
        let history = History { encounters: vec![planned, stay("unplanned", 50, Some(55))], ..History::default() };
        assert_eq!(
            matured(&history, Target::Admission, at(0), None, at(365)),
            Some(Matured { outcome: false, at: at(30) })
        );
        assert_eq!(
            matured(&history, Target::Admission, at(25), None, at(365)),
            Some(Matured { outcome: true, at: at(50) })
        );
        assert_eq!(matured(&history, Target::Admission, at(25), None, at(49)), None, "not happened yet");
    }

    #[test]
    fn the_unit_is_that_of_the_last_encounter_begun_by_then() {
        let mut first = stay("s1", 0, Some(5));
        first.unit = Some("4W".into());
        let mut second = stay("s2", 40, Some(45));
        second.unit = Some("ICU".into());
        second.disposition = Some(Disposition::Facility);
        let history = History { encounters: vec![first, second], ..History::default() };
        assert_eq!(unit_at(&history, at(30)).as_deref(), Some("4W"));
        assert_eq!(unit_at(&history, at(41)).as_deref(), Some("ICU"));
        assert_eq!(unit_at(&history, at(-1)), None);
    }
}
