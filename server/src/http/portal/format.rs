//! How the portal writes numbers, times and patients: short, unambiguous, the same on every page.

use chrono::{DateTime, NaiveDate, Utc};

use vigil_store::models::Patient;

use crate::http::alerts::view::Row;

/// A probability as a percentage: one decimal below 10 %, none above.
pub fn percent(p: f64) -> String {
    let pct = p * 100.0;
    if pct < 10.0 { format!("{pct:.1} %") } else { format!("{pct:.0} %") }
}

/// The change from `before` to `now` in percentage points, signed; empty without a score before.
pub fn change(now: f64, before: Option<f64>) -> String {
    match before {
        None => String::new(),
        Some(before) => {
            let points = (now - before) * 100.0;
            if points.abs() < 0.05 { "no change".into() } else { format!("{points:+.1} points") }
        }
    }
}

/// How long ago `since` was, in the largest whole unit: "5 min", "3 h", "2 d".
pub fn elapsed(since: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let minutes = (now - since).num_minutes().max(0);
    match minutes {
        0..60 => format!("{minutes} min"),
        60..2880 => format!("{} h", minutes / 60),
        _ => format!("{} d", minutes / 1440),
    }
}

pub fn instant(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// What the portal shows to recognise a patient.
pub struct Identity<'a> {
    pub fhir_id: &'a str,
    pub family: Option<&'a str>,
    pub given: Option<&'a str>,
    pub sex: Option<&'a str>,
    pub birth_date: Option<NaiveDate>,
    pub mrn: Option<&'a str>,
}

impl<'a> Identity<'a> {
    pub fn of_alert(row: &'a Row) -> Self {
        Self {
            fhir_id: &row.patient,
            family: row.family_name.as_deref(),
            given: row.given_names.as_deref(),
            sex: row.sex.as_deref(),
            birth_date: row.birth_date,
            mrn: row.mrn.as_deref(),
        }
    }

    pub fn of_patient(patient: &'a Patient) -> Self {
        Self {
            fhir_id: &patient.fhir_id,
            family: patient.family_name.as_deref(),
            given: patient.given_names.as_deref(),
            sex: patient.sex.as_deref(),
            birth_date: patient.birth_date,
            mrn: patient.mrn.as_deref(),
        }
    }

    /// The name as a ward writes it: "FAMILY, Given", or the record's id.
    pub fn who(&self) -> String {
        match (self.family, self.given) {
            (Some(family), Some(given)) => format!("{}, {given}", family.to_uppercase()),
            (Some(family), None) => family.to_uppercase(),
            (None, Some(given)) => given.to_owned(),
            (None, None) => format!("Patient {}", self.fhir_id),
        }
    }

    /// What tells two patients of one name apart: sex, age, birth date, record number.
    pub fn details(&self, today: NaiveDate) -> String {
        let mut parts = Vec::new();
        if let Some(sex) = self.sex {
            parts.push(sex.to_owned());
        }
        if let Some(born) = self.birth_date {
            if let Some(age) = today.years_since(born) {
                parts.push(format!("{age} y"));
            }
            parts.push(format!("born {born}"));
        }
        if let Some(mrn) = self.mrn {
            parts.push(format!("MRN {mrn}"));
        }
        parts.join(" · ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_the_same_everywhere() {
        assert_eq!(percent(0.0123), "1.2 %");
        assert_eq!(percent(0.456), "46 %");
        assert_eq!(change(0.30, Some(0.25)), "+5.0 points");
        assert_eq!(change(0.20, Some(0.25)), "-5.0 points");
        assert_eq!(change(0.2, None), "");
        let now = Utc::now();
        assert_eq!(elapsed(now - chrono::Duration::minutes(5), now), "5 min");
        assert_eq!(elapsed(now - chrono::Duration::hours(30), now), "30 h");
        assert_eq!(elapsed(now - chrono::Duration::days(3), now), "3 d");
    }
}
