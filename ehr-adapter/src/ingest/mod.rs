//! Storing what was read: every resource kept raw (all its versions), the clinical types mapped
//! to their tables, rejects kept with their OperationOutcome, and the changed patients recorded.
//!
//! A batch is one transaction. Its keys are locked first (transaction-scoped advisory locks,
//! taken in sorted order so that concurrent loaders cannot deadlock), then the stored versions of
//! those keys are read once and each incoming resource is classified:
//! - new: never seen; stored as version 1;
//! - unchanged: its content (hash) is already stored, as the current or an older version;
//! - updated: newer than the current version (by `meta.lastUpdated`, else `meta.versionId`, else
//!   arrival); the current version is superseded and the mapped row replaced;
//! - outdated: older than the current version; kept in history, the mapped row untouched.
//!
//! The database's unique keys back all of this up, so a bug here could fail a batch but never
//! duplicate a row.

use std::collections::HashMap;

use chrono::Utc;
use diesel::prelude::*;
use serde_json::Value;
use vigil_store::audit::AuditEvent;
use vigil_store::models::{JsonText, NewRawResource};
use vigil_store::schema::{ingest_rejects, raw_resources};

use crate::issue::{Issue, operation_outcome};
use crate::map::{Header, Mapped, map};
use crate::read::Incoming;
use crate::{content, identity};

mod outcome;
mod rows;
mod versions;
use rows::store_mapped;
use versions::{Class, Current, Key, classify, load_known};

pub use outcome::{Change, Counts, Fate, IngestError, Stored, Summary};

/// A valid resource on its way to the store.
#[derive(Debug)]
pub(crate) struct Valid {
    pub(crate) header: Header,
    pub(crate) mapped: Mapped,
    /// The resource as stored, serialized.
    json: JsonText,
    hash: Vec<u8>,
    /// Where it came from, should the store refuse it (an id another source holds).
    origin: String,
    location: String,
}

/// Stores one batch of incoming resources from `source_system` in one transaction. Every patient
/// whose data the batch changed gets an audit row in the same transaction, made from `audit` (who
/// is loading, from where) with the patient filled in.
pub fn store_batch(
    conn: &mut PgConnection,
    source_system: &str,
    audit: &AuditEvent,
    batch: Vec<Incoming>,
) -> Result<Summary, IngestError> {
    Ok(store(conn, source_system, audit, batch)?.summary)
}

/// [`store_batch`], also telling the fate of each resource (for per-entry responses).
pub fn store(
    conn: &mut PgConnection,
    source_system: &str,
    audit: &AuditEvent,
    batch: Vec<Incoming>,
) -> Result<Stored, IngestError> {
    store_prepared(conn, source_system, audit, prepare(batch), Commit::Durable)
}

/// How a batch's transaction commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// Returns once the commit is on disk.
    Durable,
    /// Returns before the commit reaches the disk (`synchronous_commit = off`): a crash may lose
    /// it, never half of it. A bulk load commits its batches so and ends with [`flush`], which
    /// makes them all durable at once (the write-ahead log is flushed in order).
    Deferred,
}

/// Makes every commit so far durable: a transaction that writes a commit record, committed
/// synchronously, flushes the log up to it and so everything before it.
pub fn flush(conn: &mut PgConnection) -> QueryResult<()> {
    conn.transaction(|conn| {
        diesel::sql_query("SET LOCAL synchronous_commit = on").execute(conn)?;
        diesel::sql_query("SELECT txid_current()").execute(conn)?;
        Ok(())
    })
}

/// A batch validated, mapped and hashed, ready to store: the CPU-bound half of [`store`], which
/// needs no database, so that a loader can prepare the next batch while this one is stored.
#[derive(Debug)]
pub struct Prepared {
    len: usize,
    valid: Vec<(usize, Valid)>,
    rejects: Vec<Reject>,
}

/// A refused resource: its place in the batch, where it came from, the input, and its
/// [`Problems`].
#[derive(Debug)]
struct Reject {
    position: usize,
    origin: String,
    location: String,
    raw: String,
    resource_type: Option<String>,
    id: Option<String>,
    issues: Vec<Issue>,
}

impl Prepared {
    pub fn len(&self) -> usize {
        self.len
    }

    /// Refuses, as rejects kept with their reason, the valid resources of a type `may_write` does
    /// not allow (work done on someone's behalf is held to their permissions).
    pub fn refuse_unless(&mut self, may_write: &dyn Fn(&str) -> bool) {
        let (allowed, refused): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.valid).into_iter().partition(|(_, v)| may_write(&v.header.resource_type));
        self.valid = allowed;
        for (position, v) in refused {
            let ty = v.header.resource_type.clone();
            self.rejects.push(Reject {
                position,
                issues: vec![Issue::forbidden(
                    "resourceType",
                    format!("whoever queued this may not write {ty} resources (their scopes were kept with the job)"),
                )],
                resource_type: Some(ty),
                id: Some(v.header.id),
                raw: v.json.0,
                origin: v.origin,
                location: v.location,
            });
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

pub fn prepare(batch: Vec<Incoming>) -> Prepared {
    let len = batch.len();
    let mut valid = Vec::with_capacity(len);
    let mut rejects = Vec::new();
    for (position, item) in batch.into_iter().enumerate() {
        match validate(&item) {
            Ok((header, mapped, hash)) => {
                let json = item.resource.as_ref().map(JsonText::of).unwrap_or_else(|_| JsonText("null".into()));
                let Incoming { origin, location, .. } = item;
                valid.push((position, Valid { header, mapped, json, hash, origin, location }));
            }
            Err((resource_type, id, issues)) => {
                let Incoming { origin, location, raw, .. } = item;
                rejects.push(Reject { position, origin, location, raw, resource_type, id, issues })
            }
        }
    }
    Prepared { len, valid, rejects }
}

/// The database half of [`store`].
pub fn store_prepared(
    conn: &mut PgConnection,
    source_system: &str,
    audit: &AuditEvent,
    prepared: Prepared,
    commit: Commit,
) -> Result<Stored, IngestError> {
    let Prepared { len, valid, mut rejects } = prepared;
    let mut summary = Summary::default();
    let mut fates: Vec<Option<Fate>> = vec![None; len];
    conn.transaction(|conn| {
        if commit == Commit::Deferred {
            diesel::sql_query("SET LOCAL synchronous_commit = off").execute(conn)?;
        }
        let items: Vec<&Valid> = valid.iter().map(|(_, v)| v).collect();
        identity::lock_batch(conn, &items)?;
        let mut known = load_known(conn, &items)?;
        let patient_holders = identity::patient_holders(conn, &items)?;
        let now = Utc::now();
        let mut raw_rows: Vec<NewRawResource> = Vec::new();
        let mut superseded: Vec<i64> = Vec::new();
        // Index into raw_rows of the pending current version of a key, superseded if a later
        // item of the same batch replaces it.
        let mut pending: HashMap<Key, usize> = HashMap::new();
        // The resources that become current, and whether each is new (no row of it can exist).
        let mut to_map: Vec<(&Valid, bool)> = Vec::new();
        for (position, item) in &valid {
            let key = (item.header.resource_type.clone(), item.header.id.clone());
            let state = known.entry(key.clone()).or_default();
            if let Some(issue) = identity::taken(source_system, item, state.holder.as_deref(), &patient_holders) {
                rejects.push(Reject {
                    position: *position,
                    origin: item.origin.clone(),
                    location: item.location.clone(),
                    raw: item.json.0.clone(),
                    resource_type: Some(item.header.resource_type.clone()),
                    id: Some(item.header.id.clone()),
                    issues: vec![issue],
                });
                continue;
            }
            let class = classify(state, item);
            let counts = summary.count(&item.header.resource_type);
            let accepted = |change, version| Fate::Accepted {
                resource_type: item.header.resource_type.clone(),
                id: item.header.id.clone(),
                change,
                version,
            };
            match class {
                Class::Unchanged => {
                    counts.unchanged += 1;
                    let version = match &state.current {
                        Some(current) if current.hash == item.hash => current.version,
                        _ => state.hashes.get(&item.hash).copied().unwrap_or(state.max_version),
                    };
                    fates[*position] = Some(accepted(Change::Unchanged, version));
                    continue;
                }
                Class::New => counts.stored += 1,
                Class::Updated => counts.updated += 1,
                Class::Outdated => counts.outdated += 1,
            }
            state.max_version += 1;
            state.hashes.insert(item.hash.clone(), state.max_version);
            let change = match class {
                Class::New => Change::Created,
                Class::Updated => Change::Updated,
                _ => Change::Outdated,
            };
            fates[*position] = Some(accepted(change, state.max_version));
            let current = class != Class::Outdated;
            if current {
                if let Some(Current { row: Some(row), .. }) = state.current {
                    superseded.push(row);
                }
                if let Some(index) = pending.insert(key.clone(), raw_rows.len())
                    && let Some(row) = raw_rows.get_mut(index)
                {
                    row.superseded_at = Some(now);
                }
                state.current = Some(Current {
                    row: None,
                    version: state.max_version,
                    hash: item.hash.clone(),
                    deleted: false,
                    version_id: item.header.version_id.clone(),
                    last_updated: item.header.last_updated,
                });
                to_map.push((item, class == Class::New));
            }
            raw_rows.push(NewRawResource {
                source_system: source_system.to_owned(),
                resource_type: item.header.resource_type.clone(),
                fhir_id: item.header.id.clone(),
                version: state.max_version,
                source_version_id: item.header.version_id.clone(),
                source_last_updated: item.header.last_updated,
                content_hash: item.hash.clone(),
                content: item.json.clone(),
                superseded_at: (!current).then_some(now),
                deleted: false,
            });
        }
        if !superseded.is_empty() {
            diesel::update(raw_resources::table.filter(raw_resources::id.eq_any(&superseded)))
                .set(raw_resources::superseded_at.eq(now))
                .execute(conn)?;
        }
        if !raw_rows.is_empty() {
            diesel::copy_from(raw_resources::table).from_insertable(&raw_rows).execute(conn)?;
        }
        let versions: HashMap<Key, i32> = known.iter().map(|(k, v)| (k.clone(), v.max_version)).collect();
        let changed = store_mapped(conn, source_system, &to_map, &versions)?;
        if !changed.is_empty() {
            let events: Vec<AuditEvent> =
                changed.iter().map(|p| AuditEvent { patient_id: Some(*p), ..audit.clone() }).collect();
            vigil_store::audit::append_many(conn, &events)?;
        }
        let current: Vec<&Valid> = to_map.iter().map(|(v, _)| *v).collect();
        resolve_rejects(conn, source_system, &current)?;
        // In input order, so that a load's reject list reads like its input.
        rejects.sort_by_key(|r| r.position);
        for Reject { position, origin, location, raw, resource_type: ty, id, issues } in &rejects {
            summary.count(ty.as_deref().unwrap_or("(unreadable)")).rejected += 1;
            let outcome = operation_outcome(issues, origin, location);
            diesel::insert_into(ingest_rejects::table)
                .values((
                    ingest_rejects::source_system.eq(source_system),
                    ingest_rejects::origin.eq(origin),
                    ingest_rejects::location.eq(location),
                    ingest_rejects::resource_type.eq(ty),
                    ingest_rejects::fhir_id.eq(id),
                    ingest_rejects::outcome.eq(&outcome),
                    ingest_rejects::content.eq(raw),
                ))
                .execute(conn)?;
            fates[*position] = Some(Fate::Rejected { outcome });
        }
        // Last: it holds the change feed's lock until the commit.
        vigil_store::changes::record(conn, &changed)
    })?;
    let fates = fates.into_iter().map(|f| f.unwrap_or(Fate::Rejected { outcome: Value::Null })).collect();
    Ok(Stored { summary, fates })
}

/// The problems of an incoming resource, if any: its type and id as far as they could be read,
/// and the issues, each with its element path.
pub type Problems = (Option<String>, Option<String>, Vec<Issue>);

/// Validates one incoming resource without storing anything: its header, mapped row and content
/// hash, or its problems.
fn validate(item: &Incoming) -> Result<(Header, Mapped, Vec<u8>), Problems> {
    let resource = match &item.resource {
        Ok(resource) => resource,
        Err(message) => return Err((None, None, vec![Issue::structure("Resource", message.clone())])),
    };
    match map(resource) {
        Ok((header, mapped)) => Ok((header, mapped, content::hash(resource).to_vec())),
        Err(issues) => {
            let ty = resource.get("resourceType").and_then(Value::as_str).map(str::to_owned);
            let id = resource.get("id").and_then(Value::as_str).map(str::to_owned);
            Err((ty, id, issues))
        }
    }
}

/// The OperationOutcome of an incoming resource that would be rejected, or None when it is valid.
pub fn problems(item: &Incoming) -> Option<Value> {
    validate(item).err().map(|(_, _, issues)| operation_outcome(&issues, &item.origin, &item.location))
}

/// A valid version of a resource resolves its earlier rejects.
fn resolve_rejects(conn: &mut PgConnection, source_system: &str, stored: &[&Valid]) -> QueryResult<()> {
    let mut by_type: HashMap<&str, Vec<&str>> = HashMap::new();
    for v in stored {
        by_type.entry(v.header.resource_type.as_str()).or_default().push(v.header.id.as_str());
    }
    for (ty, ids) in by_type {
        diesel::update(
            ingest_rejects::table
                .filter(ingest_rejects::source_system.eq(source_system))
                .filter(ingest_rejects::resource_type.eq(ty))
                .filter(ingest_rejects::fhir_id.eq_any(ids))
                .filter(ingest_rejects::resolved_at.is_null()),
        )
        .set(ingest_rejects::resolved_at.eq(diesel::dsl::now))
        .execute(conn)?;
    }
    Ok(())
}
