//! Reading patients' records from the store into [`History`]s, in bulk: one query per table for a
//! chunk of patients, so that a million patients are read in chunks with bounded memory.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::Value;
use vigil_store::schema::{conditions, encounters, medication_requests, observations, patients, procedures};

use crate::features::LOOKBACK_DAYS;
use crate::history::{Class, Condition, Disposition, Encounter, History, Medication, Observation, Procedure};
use crate::medications;
use crate::training::{self, Example, Target, month_starts};
use crate::units;

mod columns;

use columns::PrescriptionRow;
pub use columns::*;

/// The row ids of every patient received (not only referenced), in order, after `after`.
pub fn patient_ids(conn: &mut PgConnection, after: i64, limit: i64) -> QueryResult<Vec<i64>> {
    patients::table
        .filter(patients::version.gt(0).and(patients::id.gt(after)))
        .order(patients::id)
        .limit(limit)
        .select(patients::id)
        .load(conn)
}

/// Calls `visit` with the histories of every patient, `chunk` patients at a time, in id order:
/// memory holds one chunk whatever the population.
pub fn for_each_chunk<E: From<diesel::result::Error>>(
    conn: &mut PgConnection,
    chunk: i64,
    mut visit: impl FnMut(Vec<History>) -> Result<(), E>,
) -> Result<(), E> {
    let mut after = 0;
    loop {
        let ids = patient_ids(conn, after, chunk)?;
        let Some(&last) = ids.last() else { return Ok(()) };
        after = last;
        visit(histories(conn, &ids, Span::Whole)?)?;
    }
}

/// The newest time in the data: the last encounter start or end, or observation.
pub fn data_end(conn: &mut PgConnection) -> QueryResult<Option<DateTime<Utc>>> {
    let encounters: (Option<DateTime<Utc>>, Option<DateTime<Utc>>) = encounters::table
        .select((diesel::dsl::max(encounters::period_start), diesel::dsl::max(encounters::period_end)))
        .first(conn)?;
    let observed: Option<DateTime<Utc>> =
        observations::table.select(diesel::dsl::max(observations::effective_at)).first(conn)?;
    Ok([encounters.0, encounters.1, observed].into_iter().flatten().max())
}

/// The oldest time in the data: the first encounter start or observation. Training starts no
/// earlier: months before a hospital's records begin hold patients with nothing recorded, and
/// would teach a model that nobody is ever admitted.
pub fn data_start(conn: &mut PgConnection) -> QueryResult<Option<DateTime<Utc>>> {
    let encounter: Option<DateTime<Utc>> =
        encounters::table.select(diesel::dsl::min(encounters::period_start)).first(conn)?;
    let observed: Option<DateTime<Utc>> =
        observations::table.select(diesel::dsl::min(observations::effective_at)).first(conn)?;
    Ok([encounter, observed].into_iter().flatten().min())
}

/// How much of each patient's record a read brings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// Everything: training and backtests look at many index times.
    Whole,
    /// Enough to score at this time (see [`since`]): a scoring run needs only the lookback
    /// before it, and labs are most of the rows.
    AsOf(DateTime<Utc>),
}

/// The earliest lab or prescription that features at `as_of` can use, given the patients'
/// encounters: a lookback before the earliest index time a run at `as_of` scores (a discharge
/// in the 30 days before it), and any stay it scores from its admission on (HOSPITAL reads the
/// labs at discharge, taken during the stay). Stays not finished by `as_of` are not scored (nor
/// is a patient in hospital scored for admission), so a stay never closed does not reach back.
/// Encounters, conditions and procedures are read whole.
pub fn since<'a>(as_of: DateTime<Utc>, encounters: impl IntoIterator<Item = &'a Encounter>) -> DateTime<Utc> {
    let earliest_index = as_of - crate::labels::horizon();
    encounters
        .into_iter()
        .filter(|e| e.class == Class::Inpatient && e.end.is_some_and(|end| end > earliest_index && end <= as_of))
        .map(|e| e.start)
        .fold(earliest_index - chrono::Duration::days(LOOKBACK_DAYS), DateTime::min)
}

/// The histories of the given patients, in the order of `ids` (unknown ids are left out).
pub fn histories(conn: &mut PgConnection, ids: &[i64], span: Span) -> QueryResult<Vec<History>> {
    type PatientRow = (i64, String, Option<chrono::NaiveDate>, Option<String>, Option<String>, Option<DateTime<Utc>>);
    let rows: Vec<PatientRow> = patients::table.filter(patients::id.eq_any(ids)).select(PATIENT_COLUMNS).load(conn)?;
    let mut by_id: HashMap<i64, History> = rows
        .into_iter()
        .map(|(id, fhir_id, birth_date, sex, race, deceased_at)| {
            (id, History { patient_id: id, fhir_id, birth_date, sex, race, deceased_at, ..History::default() })
        })
        .collect();

    type EncounterRow = (
        i64,
        String,
        Option<String>,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<EncounterRow> = encounters::table
        .filter(encounters::patient_id.eq_any(ids))
        .filter(encounters::status.ne_all(ENCOUNTERS_LEFT_OUT))
        .select(ENCOUNTER_COLUMNS)
        .load(conn)?;
    for (patient, fhir_id, class, start, end, priority, admit_source, disposition, service, unit, part_of) in rows {
        let (Some(history), Some(start)) = (by_id.get_mut(&patient), start) else { continue };
        history.encounters.push(Encounter {
            fhir_id,
            class: Class::from_code(class.as_deref()),
            start,
            end,
            priority,
            admit_source,
            disposition: disposition.as_deref().map(|d| Disposition::from_code(Some(d))),
            service,
            unit,
            part_of,
        });
    }

    type ConditionRow = (
        i64,
        Vec<Option<String>>,
        Vec<Option<String>>,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
        Option<String>,
    );
    let rows: Vec<ConditionRow> =
        conditions::table.filter(conditions::patient_id.eq_any(ids)).select(CONDITION_COLUMNS).load(conn)?;
    for (patient, icd10, snomed, recorded, onset, abated, verification) in rows {
        let Some(history) = by_id.get_mut(&patient) else { continue };
        if matches!(verification.as_deref(), Some("refuted" | "entered-in-error")) {
            continue;
        }
        history.conditions.push(Condition {
            icd10: icd10.into_iter().flatten().collect(),
            snomed: snomed.into_iter().flatten().collect(),
            // Known once recorded; a condition with only an onset was known from its onset.
            known_at: match (recorded, onset) {
                (Some(r), Some(o)) => Some(r.max(o)),
                (r, o) => r.or(o),
            },
            abated_at: abated,
            // The clinical status is today's, not the one at the index time: using it would
            // leak the future. A condition counts from when it was known until its abatement.
            active: true,
        });
    }

    let since = match span {
        Span::Whole => None,
        Span::AsOf(as_of) => Some(since(as_of, by_id.values().flat_map(|h| &h.encounters))),
    };

    let codes = units::codes_read();
    let mut query = observations::table
        .filter(observations::patient_id.eq_any(ids))
        .filter(observations::loinc_code.eq_any(&codes))
        .filter(observations::status.ne_all(OBSERVATIONS_LEFT_OUT))
        .filter(observations::value_quantity.is_not_null())
        .select((
            observations::patient_id,
            observations::loinc_code,
            observations::effective_at,
            observations::value_quantity,
            observations::value_unit,
        ))
        .into_boxed();
    if let Some(since) = since {
        query = query.filter(observations::effective_at.ge(since));
    }
    type ValueRow = (i64, Option<String>, Option<DateTime<Utc>>, Option<f64>, Option<String>);
    let rows: Vec<ValueRow> = query.load(conn)?;
    for (patient, loinc, at, value, unit) in rows {
        let (Some(history), Some(loinc), Some(at), Some(value)) =
            (by_id.get_mut(&patient), loinc.as_deref().and_then(units::feature_code), at, value)
        else {
            continue;
        };
        if let Some(value) = units::normalise(loinc, value, unit.as_deref()) {
            history.observations.push(Observation { loinc, at, value });
        }
    }

    // Panels carry their values in components (systolic pressure in the BP panel): read apart,
    // so that only panels pay for their JSON.
    let mut query = observations::table
        .filter(observations::patient_id.eq_any(ids))
        .filter(observations::loinc_code.eq(BP_PANEL))
        .filter(observations::status.ne_all(OBSERVATIONS_LEFT_OUT))
        .select((observations::patient_id, observations::effective_at, observations::components))
        .into_boxed();
    if let Some(since) = since {
        query = query.filter(observations::effective_at.ge(since));
    }
    let rows: Vec<(i64, Option<DateTime<Utc>>, Value)> = query.load(conn)?;
    for (patient, at, components) in rows {
        let (Some(history), Some(at)) = (by_id.get_mut(&patient), at) else { continue };
        for component in components.as_array().into_iter().flatten() {
            let (Some(loinc), Some(value)) = (
                component.get("loinc").and_then(Value::as_str).and_then(units::feature_code),
                component.get("value").and_then(Value::as_f64),
            ) else {
                continue;
            };
            let unit = component.get("unit").and_then(Value::as_str);
            if let Some(value) = units::normalise(loinc, value, unit) {
                history.observations.push(Observation { loinc, at, value });
            }
        }
    }

    let mut query = medication_requests::table
        .filter(medication_requests::patient_id.eq_any(ids))
        .select(PRESCRIPTION_COLUMNS)
        .into_boxed();
    if let Some(since) = since {
        query = query.filter(medication_requests::authored_at.ge(since));
    }
    let rows: Vec<PrescriptionRow> = query.load(conn)?;
    for (patient, status, authored, display) in rows {
        let (Some(history), Some(authored_at)) = (by_id.get_mut(&patient), authored) else { continue };
        // As for conditions, today's status says nothing of the index time: a prescription
        // counts from when it was written, unless it was never real.
        let active = !matches!(status.as_str(), "cancelled" | "entered-in-error" | "draft");
        let classes = display.as_deref().map(medications::classes).unwrap_or_default();
        history.medications.push(Medication { authored_at, active, classes });
    }

    let rows: Vec<(i64, Option<DateTime<Utc>>, Option<String>)> = procedures::table
        .filter(procedures::patient_id.eq_any(ids))
        .filter(procedures::status.ne_all(PROCEDURES_LEFT_OUT))
        .select(PROCEDURE_COLUMNS)
        .load(conn)?;
    for (patient, at, encounter_fhir_id) in rows {
        let (Some(history), Some(at)) = (by_id.get_mut(&patient), at) else { continue };
        history.procedures.push(Procedure { at, encounter_fhir_id });
    }

    Ok(ids.iter().filter_map(|id| by_id.remove(id)).map(History::sorted).collect())
}

/// Patients read per round trip when walking the whole population.
pub const CHUNK: i64 = 2000;
/// Years of monthly admission index times a model trains on, before its cutoff.
pub const ADMISSION_YEARS: i64 = 3;

/// The first admission index time of training with `cutoff`: [`ADMISSION_YEARS`] before it, or
/// the start of the data (see [`data_start`]) when that is later.
pub fn admission_from(cutoff: DateTime<Utc>, data_start: Option<DateTime<Utc>>) -> DateTime<Utc> {
    let years = cutoff - chrono::Duration::days(365 * ADMISSION_YEARS);
    data_start.map_or(years, |start| start.max(years))
}

/// An even, deterministic sample: SplitMix64 of the patient and month.
fn sampled(patient: i64, month: usize, stride: u64) -> bool {
    let mut z = (patient as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (month as u64);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)).is_multiple_of(stride)
}

/// Every example of `target` in the store: each readmission index event, or each patient at home
/// on the first of each month from `from` to the last month whose outcome is known (sampled evenly
/// beyond `max_examples`). `progress` hears the examples gathered so far.
pub fn examples(
    conn: &mut PgConnection,
    target: Target,
    from: DateTime<Utc>,
    data_end: DateTime<Utc>,
    max_examples: u64,
    mut progress: impl FnMut(usize),
) -> QueryResult<Vec<Example>> {
    let times = match target {
        Target::Admission => month_starts(from, data_end - crate::labels::horizon()),
        Target::Readmission => Vec::new(),
    };
    let patients: i64 = patients::table.filter(patients::version.gt(0)).count().get_result(conn)?;
    let stride = ((patients as u64 * times.len() as u64) / max_examples.max(1)).max(1);
    let mut out = Vec::new();
    for_each_chunk(conn, CHUNK, |histories| {
        for history in histories {
            let chosen: Vec<_> = times
                .iter()
                .enumerate()
                .filter(|(month, _)| sampled(history.patient_id, *month, stride))
                .map(|(_, t)| *t)
                .collect();
            out.extend(training::examples(&history, target, data_end, &chosen));
        }
        progress(out.len());
        Ok::<_, diesel::result::Error>(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::tests::{at, stay};

    #[test]
    fn admission_training_starts_three_years_before_the_cutoff_or_where_the_records_start() {
        let cutoff = at(2000);
        let three_years = cutoff - chrono::Duration::days(365 * ADMISSION_YEARS);
        assert_eq!(admission_from(cutoff, None), three_years);
        assert_eq!(admission_from(cutoff, Some(at(10))), three_years);
        assert_eq!(admission_from(cutoff, Some(at(1700))), at(1700));
    }

    #[test]
    fn scoring_reads_labs_from_the_lookback_before_the_earliest_discharge_it_scores() {
        let as_of = at(1000);
        let lookback = as_of - chrono::Duration::days(crate::labels::HORIZON_DAYS + LOOKBACK_DAYS);
        // Stays finished before the 30 days a run scores do not reach back further.
        assert_eq!(since(as_of, &[stay("old", 100, Some(110)), stay("done", 900, Some(960))]), lookback);
        // A long stay discharged within them is read from its admission: HOSPITAL looks at the
        // labs taken during it.
        assert_eq!(since(as_of, &[stay("long", 400, Some(990))]), at(400));
        // A stay still open, or finished after the time scored, is not scored.
        assert_eq!(since(as_of, &[stay("open", 450, None), stay("later", 500, Some(1010))]), lookback);
    }
}
