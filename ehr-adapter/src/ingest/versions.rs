//! What the store already holds of a batch's keys, and how each incoming resource compares with
//! it (new, updated, unchanged or outdated).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use vigil_store::schema::raw_resources;

use super::Valid;

/// Outcome of comparing an incoming resource with what is stored.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    New,
    Updated,
    Unchanged,
    Outdated,
}

/// The current version of a key: its row id (None while only pending in this batch), its content
/// hash, whether it is a tombstone, and the sender's version id and lastUpdated.
#[derive(Clone)]
pub(super) struct Current {
    pub(super) row: Option<i64>,
    pub(super) version: i32,
    pub(super) hash: Vec<u8>,
    pub(super) deleted: bool,
    pub(super) version_id: Option<String>,
    pub(super) last_updated: Option<DateTime<Utc>>,
}

/// What the store holds for one key.
#[derive(Default)]
pub(super) struct Known {
    /// The source whose versions these are (one source holds a type and id).
    pub(super) holder: Option<String>,
    /// Content hash -> the version holding it.
    pub(super) hashes: HashMap<Vec<u8>, i32>,
    pub(super) max_version: i32,
    pub(super) current: Option<Current>,
}

/// A stored version of a resource, as `load_known` reads it.
#[derive(Queryable)]
struct StoredVersion {
    row: i64,
    source: String,
    fhir_id: String,
    version: i32,
    hash: Vec<u8>,
    version_id: Option<String>,
    last_updated: Option<DateTime<Utc>>,
    superseded_at: Option<DateTime<Utc>>,
    deleted: bool,
}

pub(super) type Key = (String, String);

pub(super) fn classify(state: &Known, item: &Valid) -> Class {
    let Some(current) = &state.current else { return Class::New };
    if !current.deleted && current.hash == item.hash {
        return Class::Unchanged;
    }
    let newer = match (item.header.last_updated, current.last_updated) {
        (Some(incoming), Some(stored)) => Some(incoming > stored),
        _ => match (
            item.header.version_id.as_deref().map(str::parse::<u64>),
            current.version_id.as_deref().map(str::parse::<u64>),
        ) {
            (Some(Ok(incoming)), Some(Ok(stored))) => Some(incoming > stored),
            _ => None,
        },
    };
    let seen = state.hashes.contains_key(&item.hash);
    match (newer, seen) {
        // An earlier content again, said to be newer: a revert (or a re-creation after a delete).
        (Some(true), _) => Class::Updated,
        // An older version arriving late: kept in history unless it is already there.
        (Some(false), true) => Class::Unchanged,
        (Some(false), false) => Class::Outdated,
        // Nothing to compare: content seen before is a repeat (so that loading the same files
        // again changes nothing), anything else the later arrival and so the newer version; a
        // deleted resource sent again is re-created.
        (None, true) if !current.deleted => Class::Unchanged,
        (None, _) => Class::Updated,
    }
}

/// The stored versions of the batch's keys, whichever source holds them.
pub(super) fn load_known(conn: &mut PgConnection, valid: &[&Valid]) -> QueryResult<HashMap<Key, Known>> {
    let mut known: HashMap<Key, Known> = HashMap::new();
    let types: HashSet<&str> = valid.iter().map(|v| v.header.resource_type.as_str()).collect();
    for ty in types {
        let ids: Vec<&str> =
            valid.iter().filter(|v| v.header.resource_type == ty).map(|v| v.header.id.as_str()).collect();
        let rows: Vec<StoredVersion> = raw_resources::table
            .filter(raw_resources::resource_type.eq(ty))
            .filter(raw_resources::fhir_id.eq_any(&ids))
            .select((
                raw_resources::id,
                raw_resources::source_system,
                raw_resources::fhir_id,
                raw_resources::version,
                raw_resources::content_hash,
                raw_resources::source_version_id,
                raw_resources::source_last_updated,
                raw_resources::superseded_at,
                raw_resources::deleted,
            ))
            .load(conn)?;
        for stored in rows {
            let state = known.entry((ty.to_owned(), stored.fhir_id)).or_default();
            state.holder = Some(stored.source);
            state.max_version = state.max_version.max(stored.version);
            if stored.superseded_at.is_none() {
                state.current = Some(Current {
                    row: Some(stored.row),
                    version: stored.version,
                    hash: stored.hash.clone(),
                    deleted: stored.deleted,
                    version_id: stored.version_id,
                    last_updated: stored.last_updated,
                });
            }
            if !stored.deleted {
                state.hashes.insert(stored.hash, stored.version);
            }
        }
    }
    Ok(known)
}
