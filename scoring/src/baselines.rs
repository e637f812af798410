//! The interpretable baselines computed beside the learned models for every readmission index
//! event, as their published definitions (and the product's clinical definitions) give them:
//!
//! - **LACE** (van Walraven 2010): Length of stay, Acuity, Comorbidity (Charlson), Emergency
//!   visits in the 6 months before admission; 0–19, high risk from 10.
//! - **HOSPITAL** (Donzé 2013): Hemoglobin < 12 g/dL at discharge, discharge from Oncology,
//!   Sodium < 135 mmol/L at discharge, Procedure during the stay, non-elective Index admission,
//!   Admissions in the prior 12 months, Length of stay >= 5 days; 0–13.
//! - **Charlson** comorbidity index at discharge.

use crate::charlson;
use crate::features::{HEMOGLOBIN, SODIUM, comorbidities, ed_visits, prior_stays, procedure_during};
use crate::history::{Encounter, History};

/// Whole days in hospital (a stay of less than a day is 0).
fn los_days(stay: &Encounter) -> i64 {
    stay.length_of_stay_days().map(|d| d.floor() as i64).unwrap_or(0)
}

pub fn lace(history: &History, stay: &Encounter) -> u32 {
    let l = match los_days(stay) {
        d if d < 1 => 0,
        1 => 1,
        2 => 2,
        3 => 3,
        4..=6 => 4,
        7..=13 => 5,
        _ => 7,
    };
    let a = if stay.is_acute(history) { 3 } else { 0 };
    let at = stay.end.unwrap_or(stay.start);
    let c = match charlson::index(&comorbidities(history, at)) {
        c @ 0..=3 => c,
        _ => 5,
    };
    let e = ed_visits(history, stay.start, 182, Some(stay)).min(4) as u32;
    l + a + c + e
}

/// The last value of a lab during the stay (the value at discharge).
fn at_discharge(history: &History, stay: &Encounter, loinc: &str) -> Option<f64> {
    let end = stay.end?;
    history.observations.iter().rev().find(|o| o.loinc == loinc && o.at >= stay.start && o.at <= end).map(|o| o.value)
}

pub fn hospital(history: &History, stay: &Encounter) -> u32 {
    let mut score = 0;
    if at_discharge(history, stay, HEMOGLOBIN).is_some_and(|hb| hb < 12.0) {
        score += 1;
    }
    if stay.is_oncology_service() {
        score += 2;
    }
    if at_discharge(history, stay, SODIUM).is_some_and(|na| na < 135.0) {
        score += 1;
    }
    if procedure_during(history, stay) {
        score += 1;
    }
    if stay.is_acute(history) {
        score += 1;
    }
    score += match prior_stays(history, stay.start, 365, Some(stay)) {
        0..=1 => 0,
        2..=5 => 2,
        _ => 5,
    };
    if los_days(stay) >= 5 {
        score += 2;
    }
    score
}

pub fn charlson_at_discharge(history: &History, stay: &Encounter) -> u32 {
    charlson::index(&comorbidities(history, stay.end.unwrap_or(stay.start)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Class, Condition, Observation, Procedure};
    use crate::labels::tests::{at, stay};

    #[test]
    fn lace_and_hospital_add_up_as_published() {
        let index = stay("index", 100, Some(108)); // 8 days, acute
        let ed = |id: &str, day| Encounter { class: Class::Emergency, ..stay(id, day, Some(day)) };
        let history = History {
            encounters: vec![
                ed("e1", 10),
                ed("e2", 40),
                ed("e3", 50),
                ed("e4", 60),
                ed("e5", 70),
                stay("p1", 20, Some(22)),
                stay("p2", 80, Some(83)),
                index.clone(),
            ],
            conditions: vec![
                Condition {
                    icd10: vec!["I50.9".into()],
                    snomed: vec![],
                    known_at: Some(at(1)),
                    abated_at: None,
                    active: true,
                },
                Condition {
                    icd10: vec!["C78.00".into()],
                    snomed: vec![],
                    known_at: Some(at(1)),
                    abated_at: None,
                    active: true,
                },
            ],
            observations: vec![
                Observation { loinc: HEMOGLOBIN, at: at(107), value: 10.9 },
                Observation { loinc: SODIUM, at: at(107), value: 137.0 },
            ],
            procedures: vec![Procedure { at: at(101), encounter_fhir_id: Some("index".into()) }],
            ..History::default()
        }
        .sorted();
        // L: 8 days = 5; A: 3; C: 1 + 6 = 7 -> 5; E: 5 visits -> 4.
        assert_eq!(lace(&history, &index), 5 + 3 + 5 + 4);
        // Hb 1, oncology 0, Na 0, procedure 1, urgent 1, 2 prior admissions 2, LOS >= 5 2.
        assert_eq!(hospital(&history, &index), 1 + 1 + 1 + 2 + 2);
        assert_eq!(charlson_at_discharge(&history, &index), 7);
    }
}
