//! One logical id names one resource per type on this server, whatever source sent it.
//!
//! The FHIR API serves `Type/id`, so a second source sending an id that another source holds
//! cannot make a second record: the resource is refused with a reason naming the holder. The same
//! goes for a resource of one source that refers to a patient another source holds: records are
//! never joined across sources. The database backs this up (the id alone is unique per type), and
//! loaders of one type and id are serialized by an advisory lock whatever their source, so two
//! sources racing for a new id cannot both take it.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt};
use sha2::{Digest, Sha256};
use vigil_store::schema::patients;

use crate::ingest::Valid;
use crate::issue::Issue;
use crate::map::Mapped;

/// Takes the transaction-scoped locks that storing takes for these (type, id) keys, so that a
/// caller can read and decide on a resource's current version before storing a new one, with no
/// other writer of it in between. Locks are taken in a fixed order: concurrent callers cannot
/// deadlock.
pub fn lock(conn: &mut PgConnection, keys: &[(&str, &str)]) -> QueryResult<()> {
    let mut keys: Vec<i64> = keys.iter().map(|(resource_type, id)| lock_key(resource_type, id)).collect();
    keys.sort_unstable();
    keys.dedup();
    if keys.is_empty() {
        return Ok(());
    }
    diesel::sql_query("SELECT pg_advisory_xact_lock(k) FROM unnest($1) AS k")
        .bind::<Array<BigInt>, _>(keys)
        .execute(conn)?;
    Ok(())
}

fn lock_key(resource_type: &str, id: &str) -> i64 {
    let digest = Sha256::new().chain_update(resource_type).chain_update([0]).chain_update(id).finalize();
    let mut first = [0_u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// Locks a batch's keys and the patients its resources refer to: a patient row (or its
/// placeholder) is claimed by one source at a time.
pub(crate) fn lock_batch(conn: &mut PgConnection, items: &[&Valid]) -> QueryResult<()> {
    let referred: Vec<String> = items
        .iter()
        .filter(|v| !matches!(v.mapped, Mapped::Patient(_)))
        .filter_map(|v| v.mapped.patient(&v.header))
        .collect();
    let mut keys: Vec<(&str, &str)> =
        items.iter().map(|v| (v.header.resource_type.as_str(), v.header.id.as_str())).collect();
    keys.extend(referred.iter().map(|id| ("Patient", id.as_str())));
    lock(conn, &keys)
}

/// The source holding each patient row (received or a placeholder) that a batch's Patients are or
/// its other resources refer to.
pub(crate) fn patient_holders(conn: &mut PgConnection, items: &[&Valid]) -> QueryResult<HashMap<String, String>> {
    let mut ids: Vec<String> = items.iter().filter_map(|v| v.mapped.patient(&v.header)).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, String)> = patients::table
        .filter(patients::fhir_id.eq_any(&ids))
        .select((patients::fhir_id, patients::source_system))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// Why `source_system` may not store `item`, when its type and id (`holder`: the source of its
/// stored versions) or the patient it belongs to is held by another source.
pub(crate) fn taken(
    source_system: &str,
    item: &Valid,
    holder: Option<&str>,
    patient_holders: &HashMap<String, String>,
) -> Option<Issue> {
    let (ty, id) = (&item.header.resource_type, &item.header.id);
    let own = match &item.mapped {
        Mapped::Patient(_) => holder.or_else(|| patient_holders.get(id).map(String::as_str)),
        _ => holder,
    };
    if let Some(holder) = own.filter(|h| *h != source_system) {
        return Some(Issue::conflict(
            format!("{ty}.id"),
            format!(
                "{ty}/{id} is held by source {holder:?}: an id names one resource per type on this server, \
                 so source {source_system:?} cannot store another under it (send it from {holder:?}, or give \
                 it an id of its own)"
            ),
        ));
    }
    if matches!(item.mapped, Mapped::Patient(_)) {
        return None;
    }
    let patient = item.mapped.patient(&item.header)?;
    let holder = patient_holders.get(&patient).filter(|h| h.as_str() != source_system)?;
    Some(Issue::conflict(
        format!("{ty}.subject"),
        format!(
            "refers to Patient/{patient}, which is held by source {holder:?}; a resource of source \
             {source_system:?} may refer only to patients of its own source"
        ),
    ))
}
