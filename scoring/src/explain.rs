//! Why a score is what it is, in words a clinician reads: the features that pushed the score up
//! the most, each with its value ("3 ED visits in the last 6 months", "sodium 129 mmol/L").
//!
//! Method: each feature's contribution to the model's log-odds. For logistic regression that is
//! the coefficient times the feature's standardized deviation from the training mean (so a
//! factor is something unusual about this patient that the model weighs); for gradient boosting,
//! the trees' per-feature contributions. Only contributions that raise the risk are named.

use serde::{Deserialize, Serialize};

use crate::features::{Features, LABS};
use crate::medications;
use crate::model::Model;

/// How many factors a score keeps.
pub const TOP: usize = 3;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Factor {
    pub feature: String,
    /// Contribution to the log-odds.
    pub weight: f64,
    pub text: String,
}

fn plural(n: f64, one: &str, many: &str) -> String {
    let n = n.round() as i64;
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The words for a feature's value; None for a feature that says nothing on its own.
pub fn describe(name: &str, features: &Features) -> Option<String> {
    let value = features.get(name)?;
    let on = value > 0.5;
    // Unmeasured, the worst values stand at typical (normal) ones, which the thresholds below pass.
    let measured_in_stay = features.get("stay_labs_missing") == Some(0.0);
    Some(match name {
        "age" => format!("age {}", value.round()),
        "female" => return None,
        "ed_visits_6m" => format!("{} in the last 6 months", plural(value, "ED visit", "ED visits")),
        "inpatient_stays_12m" => format!("{} in the last 12 months", plural(value, "hospital stay", "hospital stays")),
        "outpatient_visits_12m" => {
            format!("{} in the last 12 months", plural(value, "outpatient visit", "outpatient visits"))
        }
        "days_since_last_discharge" if features.get("no_discharge_12m") == Some(0.0) => {
            format!("discharged {} ago", plural(value, "day", "days"))
        }
        "no_discharge_12m" if on => "no hospital stay in the last year".into(),
        "charlson_index" => format!("Charlson comorbidity index {}", value.round()),
        "heart_failure" if on => "heart failure".into(),
        "chronic_lung_disease" if on => "chronic lung disease".into(),
        "diabetes" if on => "diabetes".into(),
        "kidney_disease" if on => "chronic kidney disease".into(),
        "cancer" if on => "cancer".into(),
        "liver_disease" if on => "liver disease".into(),
        "dementia" if on => "dementia".into(),
        "cerebrovascular_disease" if on => "cerebrovascular disease".into(),
        "myocardial_infarction" if on => "past myocardial infarction".into(),
        "elixhauser_categories" if value > 0.0 => {
            format!("{} coded", plural(value, "Elixhauser comorbidity", "Elixhauser comorbidities"))
        }
        "elixhauser_van_walraven" => return None,
        "arrhythmia" if on => "arrhythmia".into(),
        "fluid_electrolyte_disorder" if on => "a fluid or electrolyte disorder".into(),
        "anemia" if on => "anemia".into(),
        "depression" if on => "depression".into(),
        "substance_use" if on => "alcohol or drug use disorder".into(),
        "weight_loss" if on => "weight loss or malnutrition".into(),
        "obesity" if on => "obesity".into(),
        "hypertension" if on => "hypertension".into(),
        "high_risk_medication_classes" if value > 0.0 => {
            plural(value, "high-risk medication class", "high-risk medication classes")
        }
        "active_medications" => {
            plural(value, "medication prescribed in the last year", "medications prescribed in the last year")
        }
        "length_of_stay_days" => format!("length of stay {}", plural(value, "day", "days")),
        "acute_admission" if on => "unplanned admission".into(),
        "discharged_to_facility" if on => "discharged to a nursing or rehabilitation facility".into(),
        "discharged_elsewhere" if on => "discharged to another setting".into(),
        "oncology_service" if on => "discharged from oncology".into(),
        "procedure_during_stay" if on => "a procedure during the stay".into(),
        "lace_points" if value > 0.0 => format!("LACE score {}", value.round()),
        "hospital_points" if value > 0.0 => format!("HOSPITAL score {}", value.round()),
        "hemoglobin_lowest_in_stay" if measured_in_stay && value < 12.0 => {
            format!("hemoglobin fell to {value:.1} g/dL during the stay")
        }
        "sodium_lowest_in_stay" if measured_in_stay && value < 135.0 => {
            format!("sodium fell to {value:.0} mmol/L during the stay")
        }
        "creatinine_highest_in_stay" if measured_in_stay && value > 1.5 => {
            format!("creatinine rose to {value:.1} mg/dL during the stay")
        }
        "urea_nitrogen_highest_in_stay" if value > 30.0 => {
            format!("urea nitrogen rose to {value:.0} mg/dL during the stay")
        }
        "leukocytes_highest_in_stay" if value > 12.0 => {
            format!("white cell count rose to {value:.1} ×10³/µL during the stay")
        }
        "heart_rate_highest_in_stay" if value > 110.0 => format!("heart rate reached {value:.0}/min during the stay"),
        "respiratory_rate_highest_in_stay" if value > 24.0 => {
            format!("respiratory rate reached {value:.0}/min during the stay")
        }
        "oxygen_saturation_lowest_in_stay" if value < 90.0 => {
            format!("oxygen saturation fell to {value:.0} % during the stay")
        }
        "unstable_vitals_at_discharge" if value > 0.0 => {
            format!("{} at discharge", plural(value, "unstable vital sign", "unstable vital signs"))
        }
        "stay_labs_missing" if on => "no blood tests during the stay".into(),
        _ => return describe_other(name, value, features),
    })
}

fn describe_other(name: &str, value: f64, features: &Features) -> Option<String> {
    if let Some(class) = medications::CLASSES.into_iter().find(|c| c.feature() == name) {
        return (value > 0.5).then(|| format!("prescribed {}", class.label()));
    }
    let show = |v: f64| if v.abs() >= 10.0 { format!("{v:.0}") } else { format!("{v:.1}") };
    for lab in &LABS {
        let missing = features.get(lab.missing) == Some(1.0);
        if name == lab.key {
            return (!missing).then(|| format!("{} {} {}", lab.label, show(value), lab.unit));
        }
        if name == lab.change && value != 0.0 && !missing {
            let direction = if value < 0.0 { "fell" } else { "rose" };
            return Some(format!("{} {direction} {} {}", lab.label, show(value.abs()), lab.unit));
        }
        if name == lab.missing && value > 0.5 {
            return Some(format!("no {} on record in the last year", lab.label));
        }
    }
    None
}

/// The factors that raised this score the most, largest first.
pub fn factors(model: &Model, features: &Features) -> Vec<Factor> {
    let contributions = model.learner.contributions(&features.values);
    let mut ranked: Vec<(usize, f64)> = contributions.into_iter().enumerate().filter(|(_, c)| *c > 0.0).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    ranked
        .into_iter()
        .filter_map(|(i, weight)| {
            let name = features.names.get(i)?;
            describe(name, features).map(|text| Factor { feature: name.to_string(), weight, text })
        })
        .take(TOP)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::{Index, compute};
    use crate::history::{History, Observation};
    use crate::labels::tests::at;

    #[test]
    fn values_read_as_words() {
        let history = History {
            observations: vec![
                Observation { loinc: "2951-2", at: at(1), value: 135.0 },
                Observation { loinc: "2951-2", at: at(2), value: 129.0 },
            ],
            ..History::default()
        };
        let f = compute(&history, &Index::Admission { at: at(3) });
        assert_eq!(describe("sodium", &f).as_deref(), Some("sodium 129 mmol/L"));
        assert_eq!(describe("sodium_change", &f).as_deref(), Some("sodium fell 6.0 mmol/L"));
        assert_eq!(describe("hemoglobin", &f), None, "a missing value is not described as a value");
        assert_eq!(describe("hemoglobin_missing", &f).as_deref(), Some("no hemoglobin on record in the last year"));
        assert_eq!(describe("ed_visits_6m", &f).as_deref(), Some("0 ED visits in the last 6 months"));
        assert_eq!(describe("heart_failure", &f), None, "an absent condition is no factor");
        assert_eq!(describe("anticoagulant", &f), None, "an absent class is no factor");
        let treated = History {
            medications: vec![crate::history::Medication {
                authored_at: at(1),
                active: true,
                classes: medications::classes("Warfarin (Coumadin)"),
            }],
            ..History::default()
        };
        let f = compute(&treated, &Index::Admission { at: at(3) });
        assert_eq!(describe("anticoagulant", &f).as_deref(), Some("prescribed an anticoagulant"));
        assert_eq!(describe("high_risk_medication_classes", &f).as_deref(), Some("1 high-risk medication class"));
    }
}
