//! Loading files: reads each file as a stream and stores it in batches, so memory stays bounded
//! by the batch size (and, for a Bundle, by the Bundle).

use std::path::{Path, PathBuf};

use diesel::PgConnection;

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

/// Loads every FHIR file under `paths` into the store as `source_system`.
pub fn load(
    conn: &mut PgConnection,
    source_system: &str,
    paths: &[PathBuf],
    batch_size: usize,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<Summary, LoadError> {
    let mut files = Vec::new();
    for path in paths {
        files.extend(read::files(path)?);
    }
    let mut summary = Summary::default();
    for file in &files {
        let mut batch = Vec::with_capacity(batch_size);
        for item in read::resources(file)? {
            batch.push(item);
            if batch.len() == batch_size {
                summary.merge(&store_batch(conn, source_system, std::mem::take(&mut batch))?);
                progress(Progress { file, summary: &summary });
            }
        }
        if !batch.is_empty() {
            summary.merge(&store_batch(conn, source_system, batch)?);
        }
        progress(Progress { file, summary: &summary });
    }
    Ok(summary)
}
