//! The parsing of search parameters, without a database.

use super::*;
use crate::http::fhir::type_def;
use vigil_ehr_adapter::map::ICD10_CM;

fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("instant").with_timezone(&Utc)
}

#[test]
fn dates_stand_for_the_whole_of_their_precision() {
    assert_eq!(
        date("d", "2025").expect("year"),
        (Prefix::Eq, Range { lower: at("2025-01-01T00:00:00Z"), upper: at("2026-01-01T00:00:00Z") })
    );
    assert_eq!(
        date("d", "ge2024-02").expect("month"),
        (Prefix::Ge, Range { lower: at("2024-02-01T00:00:00Z"), upper: at("2024-03-01T00:00:00Z") })
    );
    assert_eq!(
        date("d", "lt2024-12-31").expect("day"),
        (Prefix::Lt, Range { lower: at("2024-12-31T00:00:00Z"), upper: at("2025-01-01T00:00:00Z") })
    );
    assert_eq!(
        date("d", "gt2024-12-31T10:00:00+01:00").expect("second"),
        (Prefix::Gt, Range { lower: at("2024-12-31T09:00:00Z"), upper: at("2024-12-31T09:00:01Z") })
    );
    assert!(date("d", "sa2024").is_err_and(|e| e.contains("prefix")));
    assert!(date("d", "2024-13").is_err());
    assert!(date("d", "2024-12-31T10:00:00").is_err(), "a time needs its offset");
}

#[test]
fn parameters_parse_and_unknown_ones_are_named() {
    let observation = type_def("Observation").expect("type");
    let search = parse(
        observation,
        &params(&[
            ("patient", "Patient/p1,p2"),
            ("code", "http://loinc.org|718-7,http://snomed.info/sct|1"),
            ("_count", "5000"),
        ]),
    )
    .expect("valid");
    assert_eq!(search.count, MAX_COUNT);
    assert_eq!(
        search.filters,
        vec![Filter::Patient(vec!["p1".into(), "p2".into()]), Filter::LoincCode(vec![Some("718-7".into()), None]),]
    );
    let unknown = parse(observation, &params(&[("subject", "p1")])).expect_err("unknown");
    assert!(unknown.contains("subject") && unknown.contains("patient, code, date"), "{unknown}");
    assert!(parse(observation, &params(&[("code:text", "x")])).is_err_and(|e| e.contains(":text")));
    assert!(parse(observation, &params(&[("patient", "Encounter/e1")])).is_err());
    assert!(parse(observation, &params(&[("_count", "-1")])).is_err());
    let count_only = parse(observation, &params(&[("_count", "0")])).expect("the total only");
    assert!(count_only.total && count_only.count == 0);
    assert!(parse(observation, &params(&[("_cursor", "nonsense")])).is_err());

    let cursor = Cursor { key: Some(at("2025-01-01T00:00:00.123456Z")), row: 42 };
    assert_eq!(Cursor::decode(&Cursor { key: None, row: 7 }.encode()), Some(Cursor { key: None, row: 7 }));
    let paged = parse(observation, &params(&[("_cursor", &cursor.encode()), ("_count", "2")])).expect("cursor");
    assert_eq!(paged.after, Some(cursor));
    assert_eq!(paged.echo, params(&[("_count", "2")]), "the cursor is not echoed");
}

#[test]
fn sorts_totals_and_includes() {
    let observation = type_def("Observation").expect("type");
    let sorted = parse(observation, &params(&[("_sort", "-date")])).expect("by date");
    assert_eq!(sorted.sort, Sort { key: SortKey::Instant("effective_at"), descending: true });
    assert!(parse(observation, &params(&[("_sort", "code")])).is_err_and(|e| e.contains("date, _lastUpdated")));
    let encounter = type_def("Encounter").expect("type");
    assert_eq!(parse(encounter, &params(&[("_sort", "date")])).expect("period").sort.key, SortKey::PeriodStart);
    let counted = parse(observation, &params(&[("_summary", "count")])).expect("count");
    assert!(counted.summary_count && counted.total);
    assert!(parse(observation, &params(&[("_summary", "text")])).is_err());
    assert!(parse(observation, &params(&[("_total", "accurate")])).expect("total").total);
    assert!(parse(observation, &params(&[("_include", "Observation:patient")])).expect("include").include_patient);
    assert!(parse(observation, &params(&[("_include", "Encounter:patient")])).is_err());
    assert!(parse(observation, &params(&[("_include", "Observation:encounter")])).is_err());
    let patient = type_def("Patient").expect("type");
    let rev = parse(patient, &params(&[("_revinclude", "Condition:subject")])).expect("revinclude");
    assert_eq!(rev.revinclude, ["Condition"]);
    assert!(parse(observation, &params(&[("_revinclude", "Condition:patient")])).is_err());
    assert_eq!(parse(patient, &params(&[("_sort", "-birthdate")])).expect("birthdate").sort.key, SortKey::BirthDate);
}

#[test]
fn tokens_split_system_and_code() {
    let condition = type_def("Condition").expect("type");
    let search =
        parse(condition, &params(&[("code", "http://hl7.org/fhir/sid/icd-10-cm|E11.9,44054006")])).expect("valid");
    assert_eq!(
        search.filters,
        vec![Filter::ConditionCode(vec![(Some(ICD10_CM.into()), "E11.9".into()), (None, "44054006".into())])]
    );
    assert!(parse(condition, &params(&[("code", "http://snomed.info/sct|")])).is_err());
}
