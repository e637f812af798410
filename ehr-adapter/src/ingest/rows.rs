//! Writing the mapped rows of the resources a batch made current (the clinical tables), and
//! linking them to their patients; the rest of ingestion is in `mod.rs`.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use diesel::upsert::excluded;
use vigil_store::models::{NewCondition, NewEncounter, NewMedicationRequest, NewObservation, NewPatient, NewProcedure};
use vigil_store::schema::{conditions, encounters, medication_requests, observations, patients, procedures};

use super::{Key, Valid};
use crate::map::{Header, Mapped};

/// Upserts the mapped rows of the resources that became current; returns the patients whose data
/// changed.
pub(super) fn store_mapped(
    conn: &mut PgConnection,
    source_system: &str,
    items: &[(&Valid, bool)],
    versions: &HashMap<Key, i32>,
) -> QueryResult<Vec<i64>> {
    // Only the last version of a key in this batch is the current one; its row is new only if
    // no earlier version of the key exists (in the store or earlier in the batch).
    let mut last: HashMap<Key, (&Valid, bool)> = HashMap::new();
    for (item, new) in items {
        if !matches!(item.mapped, Mapped::Unmapped) {
            let key = (item.header.resource_type.clone(), item.header.id.clone());
            let new = *new && !last.contains_key(&key);
            last.insert(key, (item, new));
        }
    }
    if last.is_empty() {
        return Ok(Vec::new());
    }
    let patient_ids =
        resolve_patients(conn, source_system, last.values().filter_map(|(v, _)| v.mapped.patient(&v.header)))?;
    let version_of =
        |v: &Valid| versions.get(&(v.header.resource_type.clone(), v.header.id.clone())).copied().unwrap_or(1);
    let mut changed: HashSet<i64> = HashSet::new();
    let (mut pats, mut encs, mut conds, mut obs, mut meds, mut procs) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for (item, new) in last.values() {
        let new = *new;
        let Some(patient_fhir_id) = item.mapped.patient(&item.header) else { continue };
        let Some(&patient_id) = patient_ids.get(&patient_fhir_id) else { continue };
        changed.insert(patient_id);
        let storage =
            Storage { source_system, header: &item.header, version: version_of(item), hash: &item.hash, patient_id };
        match &item.mapped {
            // A patient's row may exist as a placeholder even when the resource is new.
            Mapped::Patient(row) => pats.push((storage.stamp(&**row), false)),
            Mapped::Encounter { row, .. } => encs.push((storage.stamp(&**row), new)),
            Mapped::Condition { row, .. } => conds.push((storage.stamp(&**row), new)),
            Mapped::Observation { row, .. } => obs.push((storage.stamp(&**row), new)),
            Mapped::MedicationRequest { row, .. } => meds.push((storage.stamp(&**row), new)),
            Mapped::Procedure { row, .. } => procs.push((storage.stamp(&**row), new)),
            Mapped::Unmapped => {}
        }
    }
    // New rows go in with COPY (the fastest way in); the others replace their row. Patients
    // always upsert: a placeholder row may stand where a new one would go.
    macro_rules! upsert {
        ($table:ident, $rows:expr, copy new, [$($col:ident),* $(,)?]) => {
            let (fresh, replacing): (Vec<_>, Vec<_>) = $rows.into_iter().partition(|(_, new)| *new);
            let fresh: Vec<_> = fresh.into_iter().map(|(row, _)| row).collect();
            if !fresh.is_empty() {
                diesel::copy_from($table::table).from_insertable(&fresh).execute(conn)?;
            }
            upsert!($table, replacing, [$($col),*]);
        };
        ($table:ident, $rows:expr, [$($col:ident),* $(,)?]) => {
            let rows: Vec<_> = $rows.into_iter().map(|(row, _)| row).collect();
            for chunk in rows.chunks(1000) {
                diesel::insert_into($table::table)
                    .values(chunk)
                    .on_conflict($table::fhir_id)
                    .do_update()
                    .set(($($table::$col.eq(excluded($table::$col)),)* $table::stored_at.eq(diesel::dsl::now)))
                    .execute(conn)?;
            }
        };
    }
    upsert!(
        patients,
        pats,
        [
            version,
            source_version_id,
            source_last_updated,
            content_hash,
            mrn,
            identifiers,
            family_name,
            given_names,
            birth_date,
            sex,
            race_code,
            race_display,
            ethnicity_code,
            ethnicity_display,
            deceased,
            deceased_at,
            postal_code,
        ]
    );
    upsert!(
        encounters,
        encs, copy new,
        [
            version,
            source_version_id,
            source_last_updated,
            content_hash,
            patient_id,
            status,
            class_code,
            period_start,
            period_end,
            priority_code,
            admit_source_code,
            discharge_disposition_code,
            service_type_code,
            location_fhir_id,
            unit,
            reason_codes,
            diagnoses,
            part_of_fhir_id,
        ]
    );
    upsert!(
        conditions,
        conds, copy new,
        [
            version,
            source_version_id,
            source_last_updated,
            content_hash,
            patient_id,
            encounter_fhir_id,
            icd10_codes,
            snomed_codes,
            code_display,
            clinical_status,
            verification_status,
            category_code,
            onset_at,
            abatement_at,
            recorded_at,
        ]
    );
    upsert!(
        observations,
        obs, copy new,
        [
            version,
            source_version_id,
            source_last_updated,
            content_hash,
            patient_id,
            encounter_fhir_id,
            status,
            category_code,
            loinc_code,
            code_display,
            effective_at,
            value_quantity,
            value_unit,
            value_code,
            value_text,
            components,
        ]
    );
    upsert!(
        medication_requests,
        meds, copy new,
        [
            version,
            source_version_id,
            source_last_updated,
            content_hash,
            patient_id,
            encounter_fhir_id,
            status,
            intent,
            rxnorm_code,
            code_display,
            authored_at,
        ]
    );
    upsert!(
        procedures,
        procs, copy new,
        [
            version,
            source_version_id,
            source_last_updated,
            content_hash,
            patient_id,
            encounter_fhir_id,
            status,
            code_system,
            code,
            code_display,
            performed_start,
            performed_end,
        ]
    );
    let mut changed: Vec<i64> = changed.into_iter().collect();
    changed.sort_unstable();
    Ok(changed)
}

/// The storage columns of a mapped row: where it came from, which version, its content hash, and
/// (for all but Patient) the patient row it belongs to.
struct Storage<'a> {
    source_system: &'a str,
    header: &'a Header,
    version: i32,
    hash: &'a [u8],
    patient_id: i64,
}

impl Storage<'_> {
    fn stamp<R: Stamped>(&self, row: &R) -> R {
        let mut row = row.clone();
        row.stamp(self);
        row
    }
}

/// A mapped row type whose storage columns the ingester fills in.
trait Stamped: Clone {
    fn stamp(&mut self, storage: &Storage<'_>);
}

macro_rules! stamped {
    ($($row:ty => |$r:ident, $s:ident| $extra:expr),* $(,)?) => {$(
        impl Stamped for $row {
            fn stamp(&mut self, $s: &Storage<'_>) {
                let $r = self;
                $r.source_system = $s.source_system.to_owned();
                $r.fhir_id = $s.header.id.clone();
                $r.version = $s.version;
                $r.source_version_id = $s.header.version_id.clone();
                $r.source_last_updated = $s.header.last_updated;
                $extra;
            }
        }
    )*};
}

stamped! {
    NewPatient => |r, s| r.content_hash = Some(s.hash.to_vec()),
    NewEncounter => |r, s| (r.content_hash, r.patient_id) = (s.hash.to_vec(), s.patient_id),
    NewCondition => |r, s| (r.content_hash, r.patient_id) = (s.hash.to_vec(), s.patient_id),
    NewObservation => |r, s| (r.content_hash, r.patient_id) = (s.hash.to_vec(), s.patient_id),
    NewMedicationRequest => |r, s| (r.content_hash, r.patient_id) = (s.hash.to_vec(), s.patient_id),
    NewProcedure => |r, s| (r.content_hash, r.patient_id) = (s.hash.to_vec(), s.patient_id),
}

/// Row ids of the patients with these FHIR ids, creating a placeholder row (version 0, no
/// content) for each not seen yet, so that resources may arrive before their patient.
fn resolve_patients(
    conn: &mut PgConnection,
    source_system: &str,
    fhir_ids: impl Iterator<Item = String>,
) -> QueryResult<HashMap<String, i64>> {
    let mut ids: Vec<String> = fhir_ids.collect();
    ids.sort();
    ids.dedup();
    let placeholders: Vec<_> =
        ids.iter().map(|id| (patients::source_system.eq(source_system), patients::fhir_id.eq(id))).collect();
    for chunk in placeholders.chunks(5000) {
        diesel::insert_into(patients::table).values(chunk).on_conflict_do_nothing().execute(conn)?;
    }
    let rows: Vec<(String, i64)> = patients::table
        .filter(patients::source_system.eq(source_system).and(patients::fhir_id.eq_any(&ids)))
        .select((patients::fhir_id, patients::id))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}
