//! Index events clinicians said should not count. Feedback is not a label (outcomes are), but some
//! answers say the event was never what the model predicts: a planned admission, palliative or
//! hospice care, a transfer, a data error. Training and evaluation leave those events out, and the
//! report says how many.
//!
//! [`apply`] is pure; [`load`] reads the answers (feedback on an alert, or a dismissal with such a
//! reason) with the score each was about.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz};

use crate::labels::horizon;
use crate::training::{Example, Target};

/// The reasons that take an index event out of training and evaluation.
pub const EXCLUDING_REASONS: [&str; 4] = ["planned-admission", "palliative-or-hospice", "transfer", "data-error"];

/// A scored event a clinician said should not count.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Exclusion {
    #[diesel(sql_type = BigInt)]
    pub patient_id: i64,
    /// The discharge a readmission score was about.
    #[diesel(sql_type = Nullable<Text>)]
    pub encounter_fhir_id: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    pub as_of: DateTime<Utc>,
}

impl Exclusion {
    /// Whether `example` is the event this answer was about: the same discharge when the score
    /// named one, else an example of the same patient whose outcome window overlaps the score's.
    pub fn covers(&self, example: &Example) -> bool {
        if example.patient_id != self.patient_id {
            return false;
        }
        match (&self.encounter_fhir_id, &example.encounter_fhir_id) {
            (Some(scored), Some(indexed)) => scored == indexed,
            _ => (example.index_time - self.as_of).abs() < horizon(),
        }
    }
}

/// The examples no answer excludes, and how many were excluded.
pub fn apply(examples: Vec<Example>, exclusions: &[Exclusion]) -> (Vec<Example>, usize) {
    let before = examples.len();
    let kept: Vec<Example> = examples.into_iter().filter(|e| !exclusions.iter().any(|x| x.covers(e))).collect();
    let excluded = before - kept.len();
    (kept, excluded)
}

/// Every answer about a score of `target` with an excluding reason: feedback on an alert, or the
/// alert's dismissal.
pub fn load(conn: &mut PgConnection, target: Target) -> QueryResult<Vec<Exclusion>> {
    diesel::sql_query(
        "SELECT DISTINCT s.patient_id, s.encounter_fhir_id, s.as_of
           FROM (SELECT f.score_id, f.reason FROM alert_feedback f
                 UNION ALL
                 SELECT COALESCE(e.score_id, a.score_id), e.reason
                   FROM alert_events e JOIN alerts a ON a.id = e.alert_id
                  WHERE e.action = 'dismissed') answered
           JOIN scores s ON s.id = answered.score_id
           JOIN models m ON m.id = s.model_id
          WHERE m.target = $1 AND answered.reason = ANY ($2)",
    )
    .bind::<Text, _>(target.as_str())
    .bind::<diesel::sql_types::Array<Text>, _>(EXCLUDING_REASONS.to_vec())
    .load(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn example(patient_id: i64, encounter: Option<&str>, day: u32) -> Example {
        Example {
            patient_id,
            patient_fhir_id: format!("p{patient_id}"),
            encounter_fhir_id: encounter.map(str::to_owned),
            index_time: Utc.with_ymd_and_hms(2026, 3, day, 0, 0, 0).single().expect("time"),
            label: false,
            features: Vec::new(),
            lace: None,
            hospital: None,
            charlson: 0,
            sex: None,
            age: None,
            race: None,
        }
    }

    #[test]
    fn an_answer_excludes_exactly_the_event_it_was_about() {
        let as_of = Utc.with_ymd_and_hms(2026, 3, 10, 0, 0, 0).single().expect("time");
        let discharge = Exclusion { patient_id: 1, encounter_fhir_id: Some("enc-a".into()), as_of };
        let month = Exclusion { patient_id: 2, encounter_fhir_id: None, as_of };
        let examples = vec![
            example(1, Some("enc-a"), 9),
            example(1, Some("enc-b"), 9),
            example(2, None, 1),
            example(2, None, 28),
            example(3, None, 1),
        ];
        let (kept, excluded) = apply(examples.clone(), &[discharge, month]);
        assert_eq!(excluded, 3);
        let left: Vec<(i64, Option<&str>)> =
            kept.iter().map(|e| (e.patient_id, e.encounter_fhir_id.as_deref())).collect();
        // The other discharge of patient 1 counts; so does everyone else.
        assert_eq!(left, [(1, Some("enc-b")), (3, None)]);
        assert_eq!(apply(examples, &[]).1, 0);
    }
}
