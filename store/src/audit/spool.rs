//! Audit rows kept on the server's own disk while the primary is out of reach.
//!
//! A server with a read replica goes on serving reads while the primary restarts, and every read
//! is audited before its data is sent. The rows then cannot reach `audit_log`, so they are kept
//! here instead: appended to one file and flushed to disk (`fsync`) before the request goes on.
//! Once the primary is back, [`Spool::drain`] appends them to `audit_log` in the order they were
//! kept, each at the time it was kept, and only then removes them. Each row carries a key of its
//! own (`audit_log.spool_key`, unique), so rows replayed twice (the server stopped between a
//! commit and removing the file) are added once.
//!
//! While the spool holds rows, new rows join it rather than the database ([`Spool::keep_behind`]):
//! the log then receives them in the order the accesses happened. Draining does not hold up the
//! rows being kept meanwhile: the file is first renamed aside, replayed, then removed, and rows
//! kept during the replay start a new file, drained next.
//!
//! A server stopped while appending may leave the last line torn. That row was never reported
//! kept, so its request was refused: the torn tail is cut off when the spool is opened.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, SubsecRound, Utc};
use diesel::prelude::*;
use diesel::upsert::DecoratableTarget;
use serde::{Deserialize, Serialize};

use super::{AuditEvent, row};
use crate::StoreError;
use crate::schema::audit_log;

const FILE: &str = "audit-spool.jsonl";
/// The rows being appended to the log, renamed aside from [`FILE`].
const DRAINING: &str = "audit-spool.draining.jsonl";
/// Rows per insert statement when draining.
const PER_STATEMENT: usize = 1000;

/// One kept row: the event, when it happened, and its key.
#[derive(Debug, Serialize, Deserialize)]
struct Kept {
    key: uuid::Uuid,
    at: DateTime<Utc>,
    event: AuditEvent,
}

/// The spool of one server; share it behind an `Arc`.
#[derive(Debug)]
pub struct Spool {
    path: PathBuf,
    draining: PathBuf,
    /// How many rows both files hold. The lock also orders keeping against renaming aside.
    held: Mutex<usize>,
}

impl Spool {
    /// The spool in `dir` (the folder is made when a row is first kept), holding whatever an
    /// earlier run of the server left there.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let (path, draining) = (dir.join(FILE), dir.join(DRAINING));
        let mut held = 0;
        for file in [&draining, &path] {
            held += match File::options().read(true).write(true).open(file) {
                Ok(mut file) => cut_torn_tail(&mut file)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
                Err(e) => return Err(e.into()),
            };
        }
        Ok(Self { path, draining, held: Mutex::new(held) })
    }

    /// How many rows wait for the database.
    pub fn held(&self) -> usize {
        *self.lock()
    }

    /// Keeps `events` as happening now, on disk, before returning.
    pub fn keep(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        let mut held = self.lock();
        self.append(&mut held, events)
    }

    /// Keeps `events` if rows wait already, so that the log receives rows in the order they were
    /// kept; false (nothing kept) when the spool is empty and the rows may go to the database.
    pub fn keep_behind(&self, events: &[AuditEvent]) -> Result<bool, StoreError> {
        let mut held = self.lock();
        if *held == 0 {
            return Ok(false);
        }
        self.append(&mut held, events).map(|()| true)
    }

    /// Appends every row kept to `audit_log`, oldest first, and removes them from the spool; how
    /// many rows were appended (a row an earlier drain appended counts, but is not added again).
    pub fn drain(&self, conn: &mut PgConnection) -> Result<usize, StoreError> {
        let mut drained = 0;
        loop {
            {
                let held = self.lock();
                if *held == 0 {
                    return Ok(drained);
                }
                // A file renamed aside by an earlier drain, or by a server stopped while draining,
                // goes first.
                if !self.draining.exists() {
                    std::fs::rename(&self.path, &self.draining)?;
                    sync_dir(&self.path)?;
                }
            }
            let replayed = replay(&self.draining, conn)?;
            std::fs::remove_file(&self.draining)?;
            sync_dir(&self.draining)?;
            drained += replayed;
            let mut held = self.lock();
            *held = held.saturating_sub(replayed);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, usize> {
        // A thread that panicked while holding the lock left the count as it was: the file is
        // the truth, and the count only ever lags behind a failed append.
        self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn append(&self, held: &mut usize, events: &[AuditEvent]) -> Result<(), StoreError> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let at = Utc::now().trunc_subsecs(6);
        let mut lines = Vec::new();
        for event in events {
            let kept = Kept { key: uuid::Uuid::new_v4(), at, event: event.clone() };
            serde_json::to_writer(&mut lines, &kept).map_err(std::io::Error::other)?;
            lines.push(b'\n');
        }
        let mut file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        file.write_all(&lines)?;
        file.sync_data()?;
        *held += events.len();
        Ok(())
    }
}

/// Appends the rows of `file` to the log in order, a statement at a time (each commits: a row
/// appended already is skipped by its key); how many rows the file held.
fn replay(file: &Path, conn: &mut PgConnection) -> Result<usize, StoreError> {
    let mut rows = 0;
    let mut chunk = Vec::with_capacity(PER_STATEMENT);
    let mut lines = BufReader::new(File::open(file)?).lines().enumerate().peekable();
    while let Some((n, line)) = lines.next() {
        chunk.push(parse(file, n, &line?)?);
        if chunk.len() == PER_STATEMENT || lines.peek().is_none() {
            let values: Vec<_> =
                chunk.iter().map(|k| (row(&k.event, k.at), audit_log::spool_key.eq(Some(k.key)))).collect();
            diesel::insert_into(audit_log::table)
                .values(values)
                .on_conflict(audit_log::spool_key)
                .filter_target(audit_log::spool_key.is_not_null())
                .do_nothing()
                .execute(conn)?;
            rows += chunk.len();
            chunk.clear();
        }
    }
    Ok(rows)
}

fn parse(file: &Path, n: usize, line: &str) -> Result<Kept, StoreError> {
    serde_json::from_str(line).map_err(|e| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: line {}: {e}", file.display(), n + 1)).into()
    })
}

/// Makes a rename or removal in `file`'s folder durable.
fn sync_dir(file: &Path) -> std::io::Result<()> {
    match file.parent() {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// Cuts off a last line that was never finished, and counts the whole lines before it.
fn cut_torn_tail(file: &mut File) -> Result<usize, StoreError> {
    let mut whole = 0;
    let (mut end, mut position) = (0u64, 0u64);
    let mut reader = BufReader::new(&mut *file);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = reader.read_until(b'\n', &mut line)?;
        if read == 0 {
            break;
        }
        position += read as u64;
        if line.last() == Some(&b'\n') {
            whole += 1;
            end = position;
        }
    }
    if end < position {
        tracing::warn!(bytes = position - end, "the audit spool ended in a torn row, never reported kept: cut off");
        file.set_len(end)?;
        file.seek(SeekFrom::End(0))?;
        file.sync_all()?;
    }
    Ok(whole)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Outcome;

    fn event(n: usize) -> AuditEvent {
        AuditEvent {
            resource_id: Some(format!("p{n}")),
            ..AuditEvent::new("user:a", "clinician", "read", Outcome::Success)
        }
    }

    #[test]
    fn rows_kept_survive_a_restart_of_the_server() {
        let dir = tempfile::tempdir().expect("dir");
        let spool = Spool::open(dir.path()).expect("open");
        assert!(!spool.keep_behind(&[event(0)]).expect("keep"), "an empty spool lets rows go to the database");
        spool.keep(&[event(1), event(2)]).expect("keep");
        assert!(spool.keep_behind(&[event(3)]).expect("keep"));
        drop(spool);
        let again = Spool::open(dir.path()).expect("open");
        assert_eq!(again.held(), 3);
        let ids: Vec<_> = kept(&again.path).into_iter().map(|k| k.event.resource_id.unwrap_or_default()).collect();
        assert_eq!(ids, ["p1", "p2", "p3"]);
    }

    #[test]
    fn a_torn_last_row_is_cut_off_and_the_next_row_starts_on_its_own_line() {
        let dir = tempfile::tempdir().expect("dir");
        let spool = Spool::open(dir.path()).expect("open");
        spool.keep(&[event(1)]).expect("keep");
        let path = dir.path().join(FILE);
        OpenOptions::new().append(true).open(&path).expect("file").write_all(b"{\"key\":\"1234").expect("torn");
        let again = Spool::open(dir.path()).expect("open");
        assert_eq!(again.held(), 1);
        again.keep(&[event(2)]).expect("keep");
        assert_eq!(kept(&path).len(), 2, "every line whole");
    }

    fn kept(file: &Path) -> Vec<Kept> {
        let text = std::fs::read_to_string(file).expect("spool");
        text.lines().enumerate().map(|(n, line)| parse(file, n, line).expect("a whole row")).collect()
    }
}
