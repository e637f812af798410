//! How the portal writes numbers, times and patients: short, unambiguous, the same on every page.

use chrono::{DateTime, NaiveDate, Utc};

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

/// The patient's name as a ward writes it: "FAMILY, Given", or their record id.
pub fn who(row: &Row) -> String {
    match (&row.family_name, &row.given_names) {
        (Some(family), Some(given)) => format!("{}, {given}", family.to_uppercase()),
        (Some(family), None) => family.to_uppercase(),
        (None, Some(given)) => given.clone(),
        (None, None) => format!("Patient {}", row.patient),
    }
}

/// What tells two patients of one name apart: sex, age, birth date, record number.
pub fn details(row: &Row, today: NaiveDate) -> String {
    let mut parts = Vec::new();
    if let Some(sex) = &row.sex {
        parts.push(sex.clone());
    }
    if let Some(born) = row.birth_date {
        if let Some(age) = today.years_since(born) {
            parts.push(format!("{age} y"));
        }
        parts.push(format!("born {born}"));
    }
    if let Some(mrn) = &row.mrn {
        parts.push(format!("MRN {mrn}"));
    }
    parts.join(" · ")
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
