//! Loading files: reads each file as a stream and stores it in batches, so memory stays bounded
//! by the batch size (and, for a Bundle, by the Bundle).

use std::path::{Path, PathBuf};

use diesel::PgConnection;
use diesel::connection::SimpleConnection;

use vigil_store::audit::AuditEvent;

use crate::ingest::{IngestError, Summary, store_batch};
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
/// (see [`store_batch`]).
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
    let mut summary = Summary::default();
    let mut batches = 0_u64;
    let mut store = |conn: &mut PgConnection, batch, summary: &mut Summary| -> Result<(), LoadError> {
        summary.merge(&store_batch(conn, source_system, audit, batch)?);
        batches += 1;
        // A bulk load outruns autovacuum: with statistics from an empty table the planner scans
        // whole tables to find a batch's stored versions. Refreshing them as the tables grow
        // geometrically (after batches 1, 4, 16, 64, ...) keeps lookups on their indexes.
        if batches.is_power_of_two() && batches.trailing_zeros().is_multiple_of(2) {
            conn.batch_execute(ANALYZE).map_err(|e| LoadError::Store(e.into()))?;
        }
        Ok(())
    };
    for file in &files {
        let mut batch = Vec::with_capacity(batch_size);
        for item in read::resources(file)? {
            batch.push(item);
            if batch.len() == batch_size {
                store(conn, std::mem::take(&mut batch), &mut summary)?;
                progress(Progress { file, summary: &summary });
            }
        }
        if !batch.is_empty() {
            store(conn, batch, &mut summary)?;
        }
        progress(Progress { file, summary: &summary });
    }
    Ok(summary)
}

const ANALYZE: &str =
    "ANALYZE raw_resources, patients, encounters, conditions, observations, medication_requests, procedures";
