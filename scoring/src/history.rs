//! A patient's record as scoring sees it: the facts features and labels are computed from, each
//! with the time it became known. Built from the store's rows (see `load`), or by hand in tests;
//! everything here is pure.

use chrono::{DateTime, Duration, NaiveDate, Utc};

/// The kind of encounter, from its FHIR class (v3 ActCode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Inpatient,
    Emergency,
    Ambulatory,
    Other,
}

impl Class {
    pub fn from_code(code: Option<&str>) -> Self {
        match code {
            Some("IMP" | "ACUTE" | "NONAC") => Self::Inpatient,
            Some("EMER") => Self::Emergency,
            Some("AMB" | "VR" | "HH") => Self::Ambulatory,
            _ => Self::Other,
        }
    }
}

/// Where a patient went at discharge, in the groups that matter for risk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    Home,
    /// Skilled nursing, long-term care or rehabilitation.
    Facility,
    /// To another acute hospital.
    Transfer,
    Died,
    Other,
}

impl Disposition {
    /// From the FHIR discharge-disposition code.
    pub fn from_code(code: Option<&str>) -> Self {
        match code {
            Some("home" | "alt-home") => Self::Home,
            Some("snf" | "long" | "rehab" | "other-hcf") => Self::Facility,
            Some("hosp") => Self::Transfer,
            Some("exp") => Self::Died,
            _ => Self::Other,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Encounter {
    /// The FHIR logical id.
    pub fhir_id: String,
    pub class: Class,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    /// v3 ActPriority: EM, UR, EL, R...
    pub priority: Option<String>,
    pub admit_source: Option<String>,
    pub disposition: Option<Disposition>,
    pub service: Option<String>,
    pub unit: Option<String>,
    /// The encounter this one is part of (an ED visit that led to the stay; a mother's stay).
    pub part_of: Option<String>,
}

/// SNOMED CT's oncology specialties, as `Encounter.serviceType` may code them: clinical and medical
/// oncology.
const ONCOLOGY_SPECIALTIES: [&str; 2] = ["394592004", "394593009"];

impl Encounter {
    /// Whether the stay was under an oncology service (HOSPITAL's oncology point). Hospitals send
    /// the service as a code of their own, a SNOMED CT specialty or only as text ("Oncology",
    /// "Medical oncology"), so any of these counts, whatever its case.
    pub fn is_oncology_service(&self) -> bool {
        self.service.as_deref().is_some_and(|service| {
            ONCOLOGY_SPECIALTIES.contains(&service) || service.to_lowercase().contains("oncolog")
        })
    }

    /// Unplanned: urgent or emergency priority, admitted from the emergency department, or part
    /// of an emergency visit.
    pub fn is_acute(&self, history: &History) -> bool {
        matches!(self.priority.as_deref(), Some("EM" | "UR" | "A" | "S" | "CS"))
            || self.admit_source.as_deref() == Some("emd")
            || self.led_to_by(history).is_some()
    }

    /// The emergency visit of the same patient that led to this stay, if any: the one it is part
    /// of, or, where the source links none (Synthea's exports, many EHRs' too), an emergency visit
    /// that began in the [`ED_TO_ADMISSION_HOURS`] before admission.
    pub fn led_to_by<'a>(&self, history: &'a History) -> Option<&'a Encounter> {
        let emergencies = || history.encounters.iter().filter(|e| e.class == Class::Emergency);
        if let Some(parent) = self.part_of.as_deref()
            && let Some(linked) = emergencies().find(|e| e.fhir_id == parent)
        {
            return Some(linked);
        }
        let earliest = self.start - chrono::Duration::hours(ED_TO_ADMISSION_HOURS);
        emergencies().filter(|e| e.start <= self.start && e.start >= earliest).max_by_key(|e| e.start)
    }

    /// A newborn's birth stay: admitted as born, or part of an encounter that is not this
    /// patient's (the mother's).
    pub fn is_birth_stay(&self, history: &History) -> bool {
        self.admit_source.as_deref() == Some("born")
            || self.part_of.as_deref().is_some_and(|p| !history.encounters.iter().any(|e| e.fhir_id == p))
    }

    /// Length of stay in days (fractional), when finished.
    pub fn length_of_stay_days(&self) -> Option<f64> {
        self.end.map(|end| (end - self.start).num_minutes() as f64 / (24.0 * 60.0))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub icd10: Vec<String>,
    pub snomed: Vec<String>,
    /// When it was known: recorded, else onset.
    pub known_at: Option<DateTime<Utc>>,
    pub abated_at: Option<DateTime<Utc>>,
    /// Problem-list conditions that are not active (resolved, inactive) do not count.
    pub active: bool,
}

/// One numeric observation (a panel's components are separate observations here).
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// One of the codes in [`crate::features::LABS`].
    pub loinc: &'static str,
    pub at: DateTime<Utc>,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Medication {
    pub authored_at: DateTime<Utc>,
    pub active: bool,
    /// The high-risk classes its words name (none for most).
    pub classes: Vec<crate::medications::Class>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Procedure {
    pub at: DateTime<Utc>,
    pub encounter_fhir_id: Option<String>,
}

/// One patient's record. Encounters are sorted by start, observations by time.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct History {
    /// The store's row id of the patient.
    pub patient_id: i64,
    pub fhir_id: String,
    pub birth_date: Option<NaiveDate>,
    pub sex: Option<String>,
    pub race: Option<String>,
    pub deceased_at: Option<DateTime<Utc>>,
    pub encounters: Vec<Encounter>,
    pub conditions: Vec<Condition>,
    pub observations: Vec<Observation>,
    pub medications: Vec<Medication>,
    pub procedures: Vec<Procedure>,
}

impl History {
    /// Puts the lists in the order the rest of scoring expects.
    pub fn sorted(mut self) -> Self {
        self.encounters.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.fhir_id.cmp(&b.fhir_id)));
        // Ties (the same lab twice at one time) are ordered by value, so that the order rows come
        // back from the store in never changes which one is "last".
        self.observations.sort_by(|a, b| {
            a.at.cmp(&b.at).then_with(|| a.loinc.cmp(b.loinc)).then_with(|| a.value.total_cmp(&b.value))
        });
        // One measurement sent twice (Synthea sends a systolic pressure on its own and as its
        // panel's component) is one value: kept twice, its change since the last would read as none.
        self.observations.dedup_by(|a, b| a.at == b.at && a.loinc == b.loinc && a.value == b.value);
        self
    }

    /// Age in whole years at `at`.
    pub fn age_at(&self, at: DateTime<Utc>) -> Option<f64> {
        let birth = self.birth_date?;
        let today = at.date_naive();
        let mut years = today.years_since(birth)? as f64;
        if years < 0.0 {
            years = 0.0;
        }
        Some(years)
    }

    /// The patient died at or before `at`.
    pub fn dead_by(&self, at: DateTime<Utc>) -> bool {
        self.deceased_at.is_some_and(|d| d <= at)
    }

    /// Inpatient stays, in order of admission.
    pub fn stays(&self) -> impl Iterator<Item = &Encounter> {
        self.encounters.iter().filter(|e| e.class == Class::Inpatient)
    }

    /// A stay ended in death: so disposed, or the patient died before or within a day of its end.
    pub fn died_in(&self, stay: &Encounter) -> bool {
        stay.disposition == Some(Disposition::Died)
            || match (self.deceased_at, stay.end) {
                (Some(death), Some(end)) => death <= end + Duration::days(1),
                _ => false,
            }
    }
}

/// How long before an admission an emergency visit may begin and still be the one that led to it.
pub const ED_TO_ADMISSION_HOURS: i64 = 24;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emergency_visit_leads_to_a_stay_by_link_or_by_beginning_the_day_before() {
        let t = |hours: i64| DateTime::from_timestamp(1_700_000_000 + hours * 3600, 0).expect("t");
        let encounter = |id: &str, class: Class, start: i64| Encounter {
            fhir_id: id.into(),
            class,
            start: t(start),
            end: Some(t(start + 3)),
            priority: None,
            admit_source: None,
            disposition: None,
            service: None,
            unit: None,
            part_of: None,
        };
        let stay = encounter("stay", Class::Inpatient, 100);
        let history = |ed: Vec<Encounter>| History { encounters: ed, ..History::default() };
        let unlinked_the_night_before = history(vec![encounter("ed", Class::Emergency, 90)]);
        assert_eq!(stay.led_to_by(&unlinked_the_night_before).map(|e| e.fhir_id.as_str()), Some("ed"));
        assert!(stay.is_acute(&unlinked_the_night_before), "no priority, no admit source: the visit tells");
        let two_days_before = history(vec![encounter("ed", Class::Emergency, 70)]);
        assert!(stay.led_to_by(&two_days_before).is_none() && !stay.is_acute(&two_days_before));
        let clinic_visit = history(vec![encounter("amb", Class::Ambulatory, 99)]);
        assert!(!stay.is_acute(&clinic_visit));
        let linked = Encounter { part_of: Some("old-ed".into()), ..stay.clone() };
        let both = history(vec![encounter("old-ed", Class::Emergency, 50), encounter("ed", Class::Emergency, 95)]);
        assert_eq!(linked.led_to_by(&both).map(|e| e.fhir_id.as_str()), Some("old-ed"), "a link wins");
    }

    #[test]
    fn an_oncology_service_is_recognised_as_code_specialty_or_text_in_any_case() {
        let under = |service: Option<&str>| {
            let stay = Encounter {
                fhir_id: "e".into(),
                class: Class::Inpatient,
                start: DateTime::from_timestamp(1_700_000_000, 0).expect("t"),
                end: None,
                priority: None,
                admit_source: None,
                disposition: None,
                service: service.map(str::to_owned),
                unit: None,
                part_of: None,
            };
            stay.is_oncology_service()
        };
        for service in ["oncology", "Oncology", "Medical oncology", "HAEMATO-ONCOLOGY", "394593009", "394592004"] {
            assert!(under(Some(service)), "{service}");
        }
        // 394591006 is neurology.
        for service in [Some("cardiology"), Some(""), Some("394591006"), None] {
            assert!(!under(service), "{service:?}");
        }
    }

    #[test]
    fn the_same_lab_twice_at_one_time_sorts_the_same_whatever_order_it_was_read_in() {
        let at = DateTime::from_timestamp(1_700_000_000, 0).expect("t");
        let sodium = |value| Observation { loinc: crate::features::SODIUM, at, value };
        let read = |values: [f64; 2]| {
            History { observations: values.map(sodium).to_vec(), ..History::default() }.sorted().observations
        };
        assert_eq!(read([129.0, 140.0]), read([140.0, 129.0]));
        assert_eq!(read([129.0, 129.0]).len(), 1, "one measurement sent twice is one value");
    }
}
