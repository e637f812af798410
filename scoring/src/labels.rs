//! What happened after an index time: the outcomes models learn and are judged on.
//!
//! - **Readmission**: each inpatient stay finished alive (not a death, not a transfer to another
//!   hospital, not a newborn's birth stay) is an index event at its discharge; its label is
//!   whether another inpatient stay of the patient starts within 30 days after the discharge.
//! - **Admission**: as of a time T, for a patient alive and not in hospital at T, whether an
//!   unplanned inpatient stay (see [`Encounter::is_acute`]) starts in (T, T + 30 days]. Planned
//!   admissions are left out: they are scheduled, not predicted.
//!
//! An index event whose 30-day window runs past the end of the data is left out, not labelled
//! negative: its outcome is not known yet.

use chrono::{DateTime, Duration, Utc};

use crate::history::{Disposition, Encounter, History};

pub const HORIZON_DAYS: i64 = 30;

pub fn horizon() -> Duration {
    Duration::days(HORIZON_DAYS)
}

/// Whether a stay can be a readmission index event: finished, alive, not a transfer, not a birth.
pub fn is_readmission_index(history: &History, stay: &Encounter) -> bool {
    stay.end.is_some()
        && !history.died_in(stay)
        && stay.disposition != Some(Disposition::Transfer)
        && !stay.is_birth_stay(history)
}

/// Whether another stay starts within 30 days after `stay`'s discharge.
pub fn readmitted(history: &History, stay: &Encounter) -> Option<bool> {
    let end = stay.end?;
    Some(first_readmission(history, stay, end).is_some())
}

/// The first other stay starting within 30 days after `end`, the discharge of `stay`.
pub fn first_readmission<'a>(history: &'a History, stay: &Encounter, end: DateTime<Utc>) -> Option<&'a Encounter> {
    history
        .stays()
        .filter(|other| other.fhir_id != stay.fhir_id && other.start > end && other.start <= end + horizon())
        .min_by_key(|other| other.start)
}

/// The first unplanned stay starting in (at, at + 30 days].
pub fn first_unplanned_admission(history: &History, at: DateTime<Utc>) -> Option<&Encounter> {
    history.stays().filter(|s| s.start > at && s.start <= at + horizon() && s.is_acute(history)).min_by_key(|s| s.start)
}

/// The readmission index events of a patient with known outcomes: (stay, label).
pub fn readmission_events(history: &History, data_end: DateTime<Utc>) -> Vec<(&Encounter, bool)> {
    history
        .stays()
        .filter(|stay| is_readmission_index(history, stay))
        .filter(|stay| stay.end.is_some_and(|end| end + horizon() <= data_end))
        .filter_map(|stay| readmitted(history, stay).map(|label| (stay, label)))
        .collect()
}

/// Whether the patient can be scored for admission at `at`: alive and not in hospital.
pub fn admission_eligible(history: &History, at: DateTime<Utc>) -> bool {
    !history.dead_by(at) && !history.stays().any(|s| s.start <= at && s.end.is_none_or(|end| end > at))
}

/// The admission label at `at`, when the patient is eligible and the window is within the data.
pub fn admission_label(history: &History, at: DateTime<Utc>, data_end: DateTime<Utc>) -> Option<bool> {
    if at + horizon() > data_end || !admission_eligible(history, at) {
        return None;
    }
    Some(first_unplanned_admission(history, at).is_some())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::history::{Class, History};

    pub(crate) fn at(day: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).expect("t") + Duration::days(day)
    }

    pub(crate) fn stay(id: &str, start: i64, end: Option<i64>) -> Encounter {
        Encounter {
            fhir_id: id.into(),
            class: Class::Inpatient,
            start: at(start),
            end: end.map(at),
            priority: Some("EM".into()),
            admit_source: Some("emd".into()),
            disposition: Some(Disposition::Home),
            service: None,
            unit: None,
            part_of: None,
        }
    }

    #[test]
    fn readmissions_within_thirty_days_of_a_live_discharge() {
        let mut died = stay("s4", 100, Some(104));
        died.disposition = Some(Disposition::Died);
        let history = History {
            encounters: vec![stay("s1", 0, Some(5)), stay("s2", 20, Some(25)), stay("s3", 80, Some(85)), died],
            ..History::default()
        };
        let events: Vec<(&str, bool)> =
            readmission_events(&history, at(200)).into_iter().map(|(s, l)| (s.fhir_id.as_str(), l)).collect();
        // s4 ended in death: it is s3's readmission, but no index event of its own.
        assert_eq!(events, vec![("s1", true), ("s2", false), ("s3", true)]);
        let early: Vec<&str> =
            readmission_events(&history, at(40)).into_iter().map(|(s, _)| s.fhir_id.as_str()).collect();
        assert_eq!(early, vec!["s1"], "s2's window runs past the data: left out, not negative");
    }

    #[test]
    fn a_birth_stay_is_no_index_event() {
        let mut born = stay("baby", 0, Some(2));
        born.part_of = Some("mothers-stay".into());
        let history = History { encounters: vec![born], ..History::default() };
        assert!(readmission_events(&history, at(100)).is_empty());
    }

    #[test]
    fn admission_counts_unplanned_stays_of_patients_at_home() {
        let mut planned = stay("planned", 10, Some(12));
        planned.priority = Some("EL".into());
        planned.admit_source = Some("gp".into());
        let history = History { encounters: vec![planned, stay("unplanned", 50, Some(55))], ..History::default() };
        assert_eq!(admission_label(&history, at(0), at(365)), Some(false), "a planned stay is not the outcome");
        assert_eq!(admission_label(&history, at(25), at(365)), Some(true));
        assert_eq!(admission_label(&history, at(11), at(365)), None, "in hospital at T");
        assert_eq!(admission_label(&history, at(340), at(365)), None, "window past the data");
    }
}
