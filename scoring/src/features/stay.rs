//! What a discharge adds to the features: the index stay itself (its length, how it began and
//! ended, its worst labs and vital signs, how the patient left) and the clinical scores of it.
//! Every one is zero or typical when scoring admission, so both targets share one vector.

use chrono::Duration;

use super::Features;
use crate::baselines;
use crate::history::{Disposition, Encounter, History};
use crate::labs::{self, HEMOGLOBIN, SODIUM};

/// The labs and vital signs whose worst value during the index stay is a feature: (name, LOINC
/// code, whether the highest value is the worst). A stay's trough says more than its last value alone: a
/// hemoglobin that fell to 8 and was transfused to 10 is not a stay that ran at 10.
const WORST_IN_STAY: [(&str, &str, bool); 8] = [
    ("hemoglobin_lowest_in_stay", HEMOGLOBIN, false),
    ("sodium_lowest_in_stay", SODIUM, false),
    ("creatinine_highest_in_stay", labs::CREATININE, true),
    ("urea_nitrogen_highest_in_stay", labs::UREA_NITROGEN, true),
    ("leukocytes_highest_in_stay", labs::LEUKOCYTES, true),
    ("heart_rate_highest_in_stay", labs::HEART_RATE, true),
    ("respiratory_rate_highest_in_stay", labs::RESPIRATORY_RATE, true),
    ("oxygen_saturation_lowest_in_stay", labs::OXYGEN_SATURATION, false),
];

/// The blood tests of [`WORST_IN_STAY`] whose absence from a whole stay `stay_labs_missing` flags.
const STAY_BLOOD_TESTS: [&str; 5] = [HEMOGLOBIN, SODIUM, labs::CREATININE, labs::UREA_NITROGEN, labs::LEUKOCYTES];

/// Vital signs outside these at discharge mark instability (Nguyen et al. 2016, JAMA Intern Med
/// 176(1): each unstable vital sign on the day of discharge raised readmission or death): code, and
/// whether a value beyond the bound (above it, else below it) is unstable.
const UNSTABLE_AT_DISCHARGE: [(&str, f64, bool); 5] = [
    (labs::TEMPERATURE, 37.8, true),
    (labs::HEART_RATE, 100.0, true),
    (labs::RESPIRATORY_RATE, 24.0, true),
    (labs::SYSTOLIC, 90.0, false),
    (labs::OXYGEN_SATURATION, 90.0, false),
];

/// How long before discharge a vital sign still describes the patient leaving: a day.
const AT_DISCHARGE_HOURS: i64 = 24;

/// Stays longer than this count as this long: a stay of years (a long-term-care record sent as an
/// inpatient encounter) would otherwise outweigh every other feature of a linear model.
const LONGEST_STAY_DAYS: f64 = 60.0;

/// A procedure during the stay: linked to it, or performed between admission and discharge.
pub fn procedure_during(history: &History, stay: &Encounter) -> bool {
    history.procedures.iter().any(|p| {
        p.encounter_fhir_id.as_deref() == Some(stay.fhir_id.as_str())
            || (p.at >= stay.start && stay.end.is_some_and(|end| p.at <= end))
    })
}

/// How many vital signs were unstable when last measured in the day before discharge.
pub fn unstable_at_discharge(history: &History, stay: &Encounter) -> usize {
    let Some(end) = stay.end else { return 0 };
    UNSTABLE_AT_DISCHARGE
        .iter()
        .filter(|(loinc, bound, above)| {
            let last = history.observations.iter().rev().find(|o| {
                o.loinc == *loinc
                    && o.at <= end
                    && o.at >= stay.start
                    && o.at > end - Duration::hours(AT_DISCHARGE_HOURS)
            });
            last.is_some_and(|o| if *above { o.value > *bound } else { o.value < *bound })
        })
        .count()
}

/// Pushes the features of `stay` (None when scoring admission).
pub(super) fn push(f: &mut Features, history: &History, stay: Option<&Encounter>) {
    let los = stay.and_then(Encounter::length_of_stay_days).unwrap_or(0.0).min(LONGEST_STAY_DAYS);
    f.push("length_of_stay_days", los);
    f.flag("acute_admission", stay.is_some_and(|s| s.is_acute(history)));
    let disposition = stay.and_then(|s| s.disposition);
    f.flag("discharged_to_facility", disposition == Some(Disposition::Facility));
    f.flag("discharged_elsewhere", matches!(disposition, Some(Disposition::Other)));
    f.flag("oncology_service", stay.is_some_and(Encounter::is_oncology_service));
    f.flag("procedure_during_stay", stay.is_some_and(|s| procedure_during(history, s)));
    let mut measured_in_stay = false;
    for (name, loinc, highest) in WORST_IN_STAY {
        let Some(lab) = labs::of(loinc) else { continue };
        let during = stay.map(|s| {
            history
                .observations
                .iter()
                .filter(move |o| o.loinc == loinc && o.at >= s.start && s.end.is_none_or(|end| o.at <= end))
        });
        let worst = during.into_iter().flatten().map(|o| o.value).reduce(if highest { f64::max } else { f64::min });
        measured_in_stay |= worst.is_some() && STAY_BLOOD_TESTS.contains(&loinc);
        // Not measured in the stay (or scoring admission): a typical value, as for a missing lab.
        f.push(name, worst.unwrap_or(lab.typical));
    }
    f.flag("stay_labs_missing", stay.is_some() && !measured_in_stay);
    let unstable = stay.map_or(0, |s| unstable_at_discharge(history, s));
    f.push("unstable_vitals_at_discharge", unstable as f64);
    // The clinical scores themselves (zero when scoring admission): a learner starts from what they
    // know, in the thresholds their authors validated (HOSPITAL's haemoglobin and sodium at
    // discharge, LACE's bands of stay and comorbidity), rather than having to rediscover them
    // from few events.
    f.push("lace_points", stay.map_or(0.0, |s| f64::from(baselines::lace(history, s))));
    f.push("hospital_points", stay.map_or(0.0, |s| f64::from(baselines::hospital(history, s))));
}
