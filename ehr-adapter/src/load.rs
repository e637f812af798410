//! Loading files: reads each file as a stream and stores it in batches, so memory stays bounded
//! by the batch size (and, for a Bundle, by the Bundle).

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use diesel::PgConnection;
use diesel::connection::SimpleConnection;

use vigil_store::audit::AuditEvent;

use crate::ingest::{Commit, IngestError, Prepared, Summary, flush, prepare, store_prepared};
use crate::read::{self, ReadError};

pub const DEFAULT_BATCH: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Store(#[from] IngestError),
}

/// Progress after each stored batch: the file being read and the running summary.
#[derive(Debug)]
pub struct Progress<'a> {
    pub file: &'a Path,
    pub summary: &'a Summary,
}

/// Loads every FHIR file under `paths` into the store as `source_system`; `audit` says who loads
/// (see [`store_batch`](crate::ingest::store_batch)).
///
/// Two threads: one reads, parses, validates and hashes the next batch while this one stores the
/// last, so that the client's work and Postgres's overlap. At most two prepared batches wait
/// between them, which bounds memory. Batches commit without waiting for the disk
/// ([`Commit::Deferred`]); the load ends by making them durable together, so when it returns
/// everything it stored is on disk.
pub fn load(
    conn: &mut PgConnection,
    source_system: &str,
    audit: &AuditEvent,
    paths: &[PathBuf],
    batch_size: usize,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<Summary, LoadError> {
    let mut files = Vec::new();
    for path in paths {
        files.extend(read::files(path)?);
    }
    let (sender, receiver) = mpsc::sync_channel::<Result<(usize, Prepared), ReadError>>(2);
    std::thread::scope(|scope| {
        let files = &files;
        scope.spawn(move || {
            for (index, file) in files.iter().enumerate() {
                let items = match read::resources(file) {
                    Ok(items) => items,
                    Err(e) => {
                        let _ = sender.send(Err(e));
                        return;
                    }
                };
                let mut batch = Vec::with_capacity(batch_size);
                for item in items {
                    batch.push(item);
                    if batch.len() == batch_size
                        && sender
                            .send(Ok((index, prepare(std::mem::replace(&mut batch, Vec::with_capacity(batch_size))))))
                            .is_err()
                    {
                        return; // the storing side stopped
                    }
                }
                // Sent even when empty: the storing side reports progress per file.
                if sender.send(Ok((index, prepare(batch)))).is_err() {
                    return;
                }
            }
        });
        let mut summary = Summary::default();
        let mut batches = 0_u64;
        for message in receiver {
            let (index, prepared) = message?;
            if !prepared.is_empty() {
                let stored = store_prepared(conn, source_system, audit, prepared, Commit::Deferred)?;
                summary.merge(&stored.summary);
                batches += 1;
                // A bulk load outruns autovacuum: with statistics from an empty table the planner
                // scans whole tables to find a batch's stored versions. Refreshing them as the
                // tables grow geometrically (after batches 1, 4, 16, 64, ...) keeps lookups on
                // their indexes.
                if batches.is_power_of_two() && batches.trailing_zeros().is_multiple_of(2) {
                    conn.batch_execute(ANALYZE).map_err(|e| LoadError::Store(e.into()))?;
                }
            }
            if let Some(file) = files.get(index) {
                progress(Progress { file, summary: &summary });
            }
        }
        // The batches committed without waiting for the disk; make them all durable now.
        if batches > 0 {
            flush(conn).map_err(|e| LoadError::Store(e.into()))?;
        }
        Ok(summary)
    })
}

/// ANALYZE of the record tables, with their owner's rights (the loader may be the runtime role).
const ANALYZE: &str = "SELECT analyze_records()";
