//! Features of a patient as of a time T, from data timestamped at or before T only. One
//! definition serves training, backtests and live scoring: all three call [`compute`] on a
//! [`History`] and an [`Index`].
//!
//! Missing values are explicit: a lab never measured in the year before T takes a typical normal
//! value *and* sets its `*_missing` flag, so a model can tell "normal" from "unknown".
//! Change [`FEATURE_VERSION`] whenever a feature's meaning changes: models record the version they
//! were trained on, and scoring refuses a model of another version. (2: LACE's and HOSPITAL's points
//! as inputs. 3: the worst hemoglobin, sodium and creatinine during the index stay. 4: Elixhauser's
//! categories, high-risk medication classes, eight more labs and vital signs, the worst of five
//! more during the stay, vital-sign instability at discharge, and length of stay capped.)

use chrono::{DateTime, Duration, Utc};

use crate::charlson::{self, Category};
use crate::elixhauser;
use crate::history::{Class, Encounter, History};
use crate::medications;

mod stay;

pub use crate::labs::{HEMOGLOBIN, LABS, Lab, SODIUM};
pub use stay::{procedure_during, unstable_at_discharge};

pub const FEATURE_VERSION: i32 = 4;

/// The Elixhauser categories flagged on their own, beyond those Charlson's flags already carry.
const ELIXHAUSER_FLAGS: [(&str, &[elixhauser::Category]); 8] = {
    use elixhauser::Category::*;
    [
        ("arrhythmia", &[Arrhythmia]),
        ("fluid_electrolyte_disorder", &[FluidElectrolyte]),
        ("anemia", &[BloodLossAnemia, DeficiencyAnemia]),
        ("depression", &[Depression]),
        ("substance_use", &[AlcoholAbuse, DrugAbuse]),
        ("weight_loss", &[WeightLoss]),
        ("obesity", &[Obesity]),
        ("hypertension", &[Hypertension, HypertensionComplicated]),
    ]
};

/// What is being scored.
#[derive(Debug, Clone, Copy)]
pub enum Index<'a> {
    /// A patient at home at a time, for the risk of an unplanned admission.
    Admission { at: DateTime<Utc> },
    /// A discharge, for the risk of readmission.
    Readmission { stay: &'a Encounter },
}

impl Index<'_> {
    /// The time of scoring: nothing after it may be used.
    pub fn time(&self) -> DateTime<Utc> {
        match self {
            Self::Admission { at } => *at,
            Self::Readmission { stay } => stay.end.unwrap_or(stay.start),
        }
    }
}

/// The chronic conditions flagged on their own (the Charlson index sums all 17 categories).
const FLAGS: [(&str, &[Category]); 9] = [
    ("heart_failure", &[Category::CongestiveHeartFailure]),
    ("chronic_lung_disease", &[Category::ChronicPulmonary]),
    ("diabetes", &[Category::DiabetesUncomplicated, Category::DiabetesComplicated]),
    ("kidney_disease", &[Category::Renal]),
    ("cancer", &[Category::Malignancy, Category::MetastaticTumor]),
    ("liver_disease", &[Category::MildLiver, Category::SevereLiver]),
    ("dementia", &[Category::Dementia]),
    ("cerebrovascular_disease", &[Category::Cerebrovascular]),
    ("myocardial_infarction", &[Category::MyocardialInfarction]),
];

/// How far back use of care, medications and labs are looked at from the index time: a year.
/// Only conditions (the Charlson index and flags) reach further back.
pub const LOOKBACK_DAYS: i64 = 365;

/// Days since the last discharge stand at this when there was none in the lookback.
pub const NO_DISCHARGE_DAYS: f64 = LOOKBACK_DAYS as f64;

/// A feature vector with its names, in a fixed order.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    pub names: Vec<&'static str>,
    pub values: Vec<f64>,
}

impl Features {
    fn push(&mut self, name: &'static str, value: f64) {
        self.names.push(name);
        self.values.push(value);
    }

    fn flag(&mut self, name: &'static str, on: bool) {
        self.push(name, if on { 1.0 } else { 0.0 });
    }

    pub fn get(&self, name: &str) -> Option<f64> {
        self.names.iter().position(|n| *n == name).map(|i| self.values[i])
    }
}

/// The names of the features, in order.
pub fn names() -> Vec<&'static str> {
    compute(&History::default(), &Index::Admission { at: DateTime::UNIX_EPOCH }).names
}

fn within(t: DateTime<Utc>, at: DateTime<Utc>, days: i64) -> bool {
    t <= at && t > at - Duration::days(days)
}

fn known_conditions(history: &History, at: DateTime<Utc>) -> Vec<&crate::history::Condition> {
    history
        .conditions
        .iter()
        .filter(|c| c.active && c.known_at.is_some_and(|k| k <= at) && c.abated_at.is_none_or(|a| a > at))
        .collect()
}

/// The Charlson categories known at `at`.
pub fn comorbidities(history: &History, at: DateTime<Utc>) -> Vec<Category> {
    let known = known_conditions(history, at);
    charlson::categories(
        known.iter().flat_map(|c| c.icd10.iter().map(String::as_str)),
        known.iter().flat_map(|c| c.snomed.iter().map(String::as_str)),
    )
}

/// The Elixhauser categories known at `at`.
pub fn elixhauser_categories(history: &History, at: DateTime<Utc>) -> Vec<elixhauser::Category> {
    let known = known_conditions(history, at);
    elixhauser::categories(
        known.iter().flat_map(|c| c.icd10.iter().map(String::as_str)),
        known.iter().flat_map(|c| c.snomed.iter().map(String::as_str)),
    )
}

/// Emergency visits in the `days` before `at`, but the one that led to `stay` (when given).
pub fn ed_visits(history: &History, at: DateTime<Utc>, days: i64, stay: Option<&Encounter>) -> usize {
    let led_to = stay.and_then(|s| s.led_to_by(history)).map(|e| e.fhir_id.as_str());
    history
        .encounters
        .iter()
        .filter(|e| e.class == Class::Emergency && within(e.start, at, days) && Some(e.fhir_id.as_str()) != led_to)
        .count()
}

/// Inpatient stays admitted in the `days` before `at`, but `stay` itself.
pub fn prior_stays(history: &History, at: DateTime<Utc>, days: i64, stay: Option<&Encounter>) -> usize {
    history.stays().filter(|e| within(e.start, at, days) && stay.is_none_or(|s| s.fhir_id != e.fhir_id)).count()
}

/// The last value of a lab at or before `at` within a year, and the one before it.
pub fn last_two(history: &History, loinc: &str, at: DateTime<Utc>) -> (Option<f64>, Option<f64>) {
    let mut values = history.observations.iter().rev().filter(|o| o.loinc == loinc && within(o.at, at, LOOKBACK_DAYS));
    let last = values.next().map(|o| o.value);
    let before = values.next().map(|o| o.value);
    (last, before)
}

pub fn compute(history: &History, index: &Index<'_>) -> Features {
    let at = index.time();
    let stay = match index {
        Index::Readmission { stay } => Some(*stay),
        Index::Admission { .. } => None,
    };
    let mut f = Features { names: Vec::with_capacity(64), values: Vec::with_capacity(64) };
    f.push("age", history.age_at(at).unwrap_or(60.0));
    f.flag("female", history.sex.as_deref() == Some("female"));

    f.push("ed_visits_6m", ed_visits(history, at, 182, stay) as f64);
    // For a discharge, stays before this one: the index stay is not its own history.
    let admitted = stay.map(|s| s.start).unwrap_or(at);
    f.push("inpatient_stays_12m", prior_stays(history, admitted, LOOKBACK_DAYS, stay) as f64);
    let outpatient = history
        .encounters
        .iter()
        .filter(|e| e.class == Class::Ambulatory && within(e.start, at, LOOKBACK_DAYS))
        .count();
    f.push("outpatient_visits_12m", outpatient as f64);
    let last_discharge = history
        .stays()
        .filter(|e| stay.is_none_or(|s| s.fhir_id != e.fhir_id))
        .filter_map(|e| e.end)
        .filter(|end| within(*end, admitted, LOOKBACK_DAYS))
        .max();
    let days_since = last_discharge.map(|end| (admitted - end).num_hours() as f64 / 24.0);
    f.push("days_since_last_discharge", days_since.unwrap_or(NO_DISCHARGE_DAYS));
    f.flag("no_discharge_12m", days_since.is_none());

    let categories = comorbidities(history, at);
    f.push("charlson_index", charlson::index(&categories) as f64);
    for (name, members) in FLAGS {
        f.flag(name, categories.iter().any(|c| members.contains(c)));
    }
    let elixhauser = elixhauser_categories(history, at);
    f.push("elixhauser_categories", elixhauser.len() as f64);
    f.push("elixhauser_van_walraven", f64::from(elixhauser::van_walraven(&elixhauser)));
    for (name, members) in ELIXHAUSER_FLAGS {
        f.flag(name, elixhauser.iter().any(|c| members.contains(c)));
    }
    let prescribed: Vec<_> =
        history.medications.iter().filter(|m| m.active && within(m.authored_at, at, LOOKBACK_DAYS)).collect();
    f.push("active_medications", prescribed.len() as f64);
    let classes: Vec<medications::Class> =
        medications::CLASSES.into_iter().filter(|class| prescribed.iter().any(|m| m.classes.contains(class))).collect();
    f.push("high_risk_medication_classes", classes.len() as f64);
    for class in medications::CLASSES {
        f.flag(class.feature(), classes.contains(&class));
    }

    for lab in &LABS {
        let (last, before) = last_two(history, lab.loinc, at);
        f.push(lab.key, last.unwrap_or(lab.typical));
        f.push(
            lab.change,
            match (last, before) {
                (Some(last), Some(before)) => last - before,
                _ => 0.0,
            },
        );
        f.flag(lab.missing, last.is_none());
    }

    stay::push(&mut f, history, stay);
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baselines;
    use crate::history::{Condition, Disposition, Medication, Observation};
    use crate::labels::tests::{at, stay};

    fn ed(id: &str, day: i64) -> Encounter {
        Encounter {
            class: Class::Emergency,
            priority: Some("EM".into()),
            admit_source: None,
            ..stay(id, day, Some(day))
        }
    }

    fn sample() -> History {
        let mut index = stay("index", 100, Some(106));
        index.part_of = Some("ed-3".into());
        index.disposition = Some(Disposition::Facility);
        History {
            birth_date: chrono::NaiveDate::from_ymd_opt(1940, 1, 1),
            sex: Some("female".into()),
            encounters: vec![
                ed("ed-1", 10),
                ed("ed-2", 60),
                stay("earlier", 60, Some(64)),
                ed("ed-3", 100),
                index,
                ed("later", 120),
            ],
            conditions: vec![
                Condition {
                    icd10: vec!["I50.9".into()],
                    snomed: vec![],
                    known_at: Some(at(5)),
                    abated_at: None,
                    active: true,
                },
                Condition {
                    icd10: vec!["I48.91".into()],
                    snomed: vec![],
                    known_at: Some(at(5)),
                    abated_at: None,
                    active: true,
                },
                Condition {
                    icd10: vec!["C34.90".into()],
                    snomed: vec![],
                    known_at: Some(at(150)),
                    abated_at: None,
                    active: true,
                },
            ],
            observations: vec![
                Observation { loinc: SODIUM, at: at(101), value: 135.0 },
                Observation { loinc: SODIUM, at: at(105), value: 129.0 },
                Observation { loinc: SODIUM, at: at(130), value: 120.0 },
                Observation { loinc: crate::labs::HEART_RATE, at: at(106), value: 112.0 },
            ],
            medications: vec![Medication {
                authored_at: at(90),
                active: true,
                classes: vec![crate::medications::Class::Anticoagulant],
            }],
            ..History::default()
        }
        .sorted()
    }

    #[test]
    fn a_discharge_sees_only_what_was_known_at_discharge() {
        let history = sample();
        let index = history.encounters.iter().find(|e| e.fhir_id == "index").expect("index").clone();
        let f = compute(&history, &Index::Readmission { stay: &index });
        assert_eq!(f.get("ed_visits_6m"), Some(2.0), "ed-1 and ed-2; ed-3 led to the stay, `later` is after");
        assert_eq!(f.get("sodium_lowest_in_stay"), Some(129.0), "the trough of the stay, not the later 120");
        assert_eq!(f.get("hemoglobin_lowest_in_stay"), Some(13.5), "not measured in the stay: typical");
        assert_eq!(f.get("stay_labs_missing"), Some(0.0));
        assert_eq!(f.get("inpatient_stays_12m"), Some(1.0), "the earlier stay, not the index stay");
        assert_eq!(f.get("days_since_last_discharge"), Some(36.0));
        assert_eq!(f.get("charlson_index"), Some(1.0), "the cancer was coded after discharge");
        assert_eq!(f.get("heart_failure"), Some(1.0));
        assert_eq!(f.get("arrhythmia"), Some(1.0));
        assert_eq!(f.get("elixhauser_categories"), Some(2.0), "heart failure and arrhythmia, not the later cancer");
        assert_eq!(f.get("elixhauser_van_walraven"), Some(12.0));
        assert_eq!((f.get("anticoagulant"), f.get("insulin")), (Some(1.0), Some(0.0)));
        assert_eq!(f.get("high_risk_medication_classes"), Some(1.0));
        assert_eq!(f.get("heart_rate_highest_in_stay"), Some(112.0));
        assert_eq!(f.get("unstable_vitals_at_discharge"), Some(1.0), "tachycardic when discharged");
        assert_eq!(f.get("sodium"), Some(129.0), "the last value at discharge");
        assert_eq!(f.get("sodium_change"), Some(-6.0));
        assert_eq!(f.get("sodium_missing"), Some(0.0));
        assert_eq!(f.get("hemoglobin"), Some(13.5), "missing: a typical value, flagged");
        assert_eq!(f.get("hemoglobin_missing"), Some(1.0));
        assert_eq!(f.get("length_of_stay_days"), Some(6.0));
        assert_eq!(f.get("acute_admission"), Some(1.0));
        assert_eq!(f.get("discharged_to_facility"), Some(1.0));
        let (lace, hospital) = (baselines::lace(&history, &index), baselines::hospital(&history, &index));
        assert_eq!(
            (f.get("lace_points"), f.get("hospital_points")),
            (Some(f64::from(lace)), Some(f64::from(hospital)))
        );
        let home = compute(&history, &Index::Admission { at: at(200) });
        assert_eq!((home.get("lace_points"), home.get("hospital_points")), (Some(0.0), Some(0.0)));
        assert!(f.get("age").is_some_and(|age| (83.0..=84.0).contains(&age)));
    }

    #[test]
    fn the_names_are_fixed_and_unique() {
        let names = names();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
        let history = sample();
        assert_eq!(compute(&history, &Index::Admission { at: at(200) }).names, names);
    }
}
