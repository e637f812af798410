//! FHIR `date`, `dateTime` and `instant` values. Partial dates (a year, a year and month) stand for
//! their first instant, in UTC; a time without an offset is not valid FHIR and is refused.

use chrono::{DateTime, NaiveDate, Utc};

/// Parses a FHIR dateTime (or date, or instant) to the instant it starts at.
pub fn parse_instant(raw: &str) -> Option<DateTime<Utc>> {
    if raw.contains('T') {
        return DateTime::parse_from_rfc3339(raw).ok().map(|t| t.with_timezone(&Utc));
    }
    parse_date(raw).map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
}

/// Parses a FHIR date: `YYYY`, `YYYY-MM` or `YYYY-MM-DD` (the first day of a partial date).
pub fn parse_date(raw: &str) -> Option<NaiveDate> {
    let parts: Vec<&str> = raw.split('-').collect();
    let number = |s: &str, len: usize| {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
    };
    match parts.as_slice() {
        [y] => NaiveDate::from_ymd_opt(number(y, 4)?, 1, 1),
        [y, m] => NaiveDate::from_ymd_opt(number(y, 4)?, number(m, 2)? as u32, 1),
        [y, m, d] => NaiveDate::from_ymd_opt(number(y, 4)?, number(m, 2)? as u32, number(d, 2)? as u32),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_and_partial_dates() {
        assert_eq!(
            parse_instant("2025-12-23T10:13:00Z").map(|t| t.to_rfc3339()),
            Some("2025-12-23T10:13:00+00:00".into())
        );
        assert_eq!(
            parse_instant("1964-03-24T05:23:39.121791+02:00").map(|t| t.timestamp_micros()),
            Some(DateTime::parse_from_rfc3339("1964-03-24T03:23:39.121791Z").expect("t").timestamp_micros())
        );
        assert_eq!(parse_date("1940-10-10"), NaiveDate::from_ymd_opt(1940, 10, 10));
        assert_eq!(parse_date("1940-10"), NaiveDate::from_ymd_opt(1940, 10, 1));
        assert_eq!(parse_date("1940"), NaiveDate::from_ymd_opt(1940, 1, 1));
        assert_eq!(parse_instant("2025-02-03").map(|t| t.to_rfc3339()), Some("2025-02-03T00:00:00+00:00".into()));
        for bad in ["", "1940-13-01", "40-01-01", "2025-12-23T10:13:00", "yesterday", "2025-02-30"] {
            assert!(parse_instant(bad).is_none(), "{bad}");
        }
    }
}
