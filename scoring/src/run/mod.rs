//! Scoring runs: every active and shadow model applied to a set of patients as of a time, the
//! scores stored with the model, the feature vector and the top factors.
//!
//! - One run at a time, across any number of processes: a runner holds a session-level advisory
//!   lock while it runs (released by Postgres if the process dies).
//! - Patients are scored in chunks, in id order; each chunk's scores and the run's cursor commit
//!   together. A run that was killed is resumed from its cursor by the next runner, so every
//!   patient is scored exactly once for that run (the unique key on the scores backs this up).
//! - Memory is bounded by the chunk (a few chunks in flight, whatever the population).

use chrono::{DateTime, Datelike, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use vigil_store::models::{JsonText, NewScore};
use vigil_store::schema::scoring_runs;

use crate::history::History;
use crate::model::ModelError;

mod feed;
mod pipeline;
mod scorers;

pub use feed::{advance, changed_since};
use scorers::models_of_run;
pub use scorers::{InUse, Score, Scorer, models_in_use, recent_discharge, score};

pub const DEFAULT_CHUNK: usize = 1000;
/// Connections a runner reads records on: reading is the slowest stage, and one reader waits for
/// each round trip in turn (see `pipeline`).
pub const READERS: usize = 2;
const LOCK: &str = "vigil.scoring";

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("another scoring run is in progress")]
    Busy,
    #[error("model {version}: {source}")]
    Model { version: String, source: ModelError },
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

/// Which patients a run scores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    /// Named patients (row ids).
    Patients(Vec<i64>),
    /// Patients the change feed named (row ids).
    Changed(Vec<i64>),
}

impl Scope {
    fn kind(&self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Patients(_) => "patients",
            Self::Changed(_) => "changed",
        }
    }
}

/// How a run went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub run_id: i64,
    pub patients: i64,
    pub scores: i64,
    /// The run was started before and is finished now.
    pub resumed: bool,
}

/// A run some runner left unfinished.
#[derive(Queryable)]
struct Unfinished {
    id: i64,
    kind: String,
    as_of: DateTime<Utc>,
    cursor: i64,
    patient_ids: Option<Vec<Option<i64>>>,
    model_ids: Option<Vec<Option<i64>>>,
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

/// A runner: its own connection, which holds the runners' lock and writes; others that read
/// records ahead of it (at least one; see [`READERS`]); who it acts for; and how many patients a
/// chunk holds.
pub struct Runner<'a> {
    pub conn: &'a mut PgConnection,
    pub readers: &'a mut [PgConnection],
    pub by: &'a str,
    pub chunk: usize,
}

/// The connections a runner reads on ([`READERS`] of them).
pub fn open_readers(url: &str) -> ConnectionResult<Vec<PgConnection>> {
    (0..READERS).map(|_| PgConnection::establish(url)).collect()
}

impl std::fmt::Debug for Runner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner").field("by", &self.by).field("chunk", &self.chunk).finish_non_exhaustive()
    }
}

impl Runner<'_> {
    /// Runs (or resumes) a scoring run. `Busy` when another runner holds the lock.
    pub fn run(
        &mut self,
        scope: Scope,
        as_of: DateTime<Utc>,
        mut progress: impl FnMut(i64),
    ) -> Result<Outcome, RunError> {
        self.locked(|runner| runner.run_locked(scope, as_of, &mut progress))
    }

    /// Finishes a run of everyone that was left unfinished (its runner was killed); None when
    /// there is none.
    pub fn resume_all(&mut self) -> Result<Option<Outcome>, RunError> {
        self.locked(Self::resume_all_locked)
    }

    fn resume_all_locked(&mut self) -> Result<Option<Outcome>, RunError> {
        let unfinished: Option<DateTime<Utc>> = scoring_runs::table
            .filter(scoring_runs::status.eq("running").and(scoring_runs::kind.eq("all")))
            .order(scoring_runs::id.desc())
            .select(scoring_runs::as_of)
            .first(self.conn)
            .optional()?;
        match unfinished {
            Some(as_of) => self.run_locked(Scope::All, as_of, &mut |_| {}).map(Some),
            None => Ok(None),
        }
    }

    /// The scheduled run of everyone due at `tick`, scored as of the tick, unless a runner has run
    /// it (or is running it) already: every worker wakes for the same tick, and the schedule asks
    /// for one run. None when it was run before. A run of everyone that a killed runner left is
    /// finished first.
    pub fn run_scheduled(&mut self, tick: DateTime<Utc>) -> Result<Option<Outcome>, RunError> {
        self.locked(|runner| {
            runner.resume_all_locked()?;
            let ran: i64 = scoring_runs::table
                .filter(scoring_runs::kind.eq("all").and(scoring_runs::as_of.eq(tick)))
                .filter(scoring_runs::status.ne("failed"))
                .count()
                .get_result(runner.conn)?;
            if ran > 0 {
                return Ok(None);
            }
            runner.run_locked(Scope::All, tick, &mut |_| {}).map(Some)
        })
    }

    /// Scores the patients the change feed named since `consumer` last looked, and moves its
    /// position on; None when nothing changed (a run of everyone a killed runner left unfinished
    /// is finished first). The feed is read under the runners' lock, so two
    /// workers never score the same changes twice.
    pub fn score_changes(&mut self, consumer: &str, as_of: DateTime<Utc>) -> Result<Option<Outcome>, RunError> {
        self.locked(|runner| {
            // A run of everyone that a killed runner left is finished first, not closed as failed.
            runner.resume_all_locked()?;
            let (patients, last) = changed_since(runner.conn, consumer, 100_000)?;
            let Some(last) = last else { return Ok(None) };
            let outcome = runner.run_locked(Scope::Changed(patients), as_of, &mut |_| {})?;
            advance(runner.conn, consumer, last)?;
            Ok(Some(outcome))
        })
    }

    /// Runs `work` holding the runners' lock; `Busy` when another runner holds it.
    fn locked<T>(&mut self, work: impl FnOnce(&mut Self) -> Result<T, RunError>) -> Result<T, RunError> {
        let locked: Locked = diesel::sql_query("SELECT pg_try_advisory_lock(hashtext($1)) AS locked")
            .bind::<Text, _>(LOCK)
            .get_result(self.conn)?;
        if !locked.locked {
            return Err(RunError::Busy);
        }
        let result = work(self);
        let unlocked = diesel::sql_query("SELECT pg_advisory_unlock(hashtext($1)) AS locked")
            .bind::<Text, _>(LOCK)
            .execute(self.conn);
        let value = result?;
        unlocked?;
        Ok(value)
    }

    fn run_locked(
        &mut self,
        scope: Scope,
        as_of: DateTime<Utc>,
        progress: &mut impl FnMut(i64),
    ) -> Result<Outcome, RunError> {
        let (conn, readers) = (&mut *self.conn, &mut *self.readers);
        let (by, chunk) = (self.by, self.chunk.max(1));
        // Whoever holds the lock is the only runner: a run still marked running was killed. A run of
        // everyone is resumed (with its own time); the others are closed and started afresh.
        let unfinished: Option<Unfinished> = scoring_runs::table
            .filter(scoring_runs::status.eq("running"))
            .order(scoring_runs::id.desc())
            .select((
                scoring_runs::id,
                scoring_runs::kind,
                scoring_runs::as_of,
                scoring_runs::cursor,
                scoring_runs::patient_ids,
                scoring_runs::model_ids,
            ))
            .first(conn)
            .optional()?;
        let resumable = unfinished
            .as_ref()
            .is_some_and(|u| u.kind == scope.kind() && (u.kind == "all" || scope_ids(&scope) == flat(&u.patient_ids)));
        let (run_id, as_of, cursor, list, models, resumed) = match unfinished {
            Some(u) if resumable => {
                // The run finishes with the models it started with (runs from before this was kept
                // take the models in use now).
                let models = match flat(&u.model_ids) {
                    Some(ids) => models_of_run(conn, &ids)?,
                    None => models_in_use(conn)?,
                };
                (u.id, u.as_of, u.cursor, flat(&u.patient_ids), models, true)
            }
            stale => {
                if let Some(u) = stale {
                    diesel::update(scoring_runs::table.find(u.id))
                        .set((scoring_runs::status.eq("failed"), scoring_runs::finished_at.eq(diesel::dsl::now)))
                        .execute(conn)?;
                }
                let ids = scope_ids(&scope);
                let models = models_in_use(conn)?;
                let model_ids: Vec<i64> = models.iter().map(|m| m.model_id).collect();
                let id: i64 = diesel::insert_into(scoring_runs::table)
                    .values((
                        scoring_runs::kind.eq(scope.kind()),
                        scoring_runs::as_of.eq(as_of),
                        scoring_runs::patient_ids.eq(ids.as_ref()),
                        scoring_runs::model_ids.eq(&model_ids),
                        scoring_runs::started_by.eq(by),
                    ))
                    .returning(scoring_runs::id)
                    .get_result(conn)?;
                (id, as_of, 0, ids, models, false)
            }
        };
        // Scores go to the partition of their own time (a readmission score's is the discharge's):
        // each month a chunk reaches is made once per run.
        let mut months = std::collections::HashSet::new();
        let mut patients = 0_i64;
        let mut scores = 0_i64;
        let reading = pipeline::Reading { list: list.as_deref(), after: cursor, chunk, as_of };
        let models = &models;
        pipeline::run(
            readers,
            &reading,
            |histories| score_chunk(run_id, as_of, models, histories),
            |ids, rows| {
                let Some(&last) = ids.last() else { return Ok(false) };
                for row in &rows {
                    if months.insert((row.as_of.year(), row.as_of.month())) {
                        vigil_store::partitions::ensure_scores_month(conn, row.as_of)?;
                    }
                }
                store_chunk(conn, run_id, &rows, last, ids.len())?;
                patients += ids.len() as i64;
                scores += rows.len() as i64;
                progress(patients);
                Ok(true)
            },
        )?;
        diesel::update(scoring_runs::table.find(run_id))
            .set((scoring_runs::status.eq("done"), scoring_runs::finished_at.eq(diesel::dsl::now)))
            .execute(conn)?;
        Ok(Outcome { run_id, patients, scores, resumed })
    }
}

/// The scores of a chunk of patients, as rows of the run (pure).
fn score_chunk(run_id: i64, as_of: DateTime<Utc>, models: &[InUse], histories: &[History]) -> Vec<NewScore> {
    histories
        .iter()
        .flat_map(|h| score(h, as_of, models))
        .map(|s| NewScore {
            run_id,
            model_id: s.model_id,
            patient_id: s.patient_id,
            encounter_fhir_id: s.encounter_fhir_id,
            as_of: s.as_of,
            probability: s.probability,
            points: s.points,
            features: s.features,
            factors: JsonText(serde_json::to_string(&s.factors).unwrap_or_else(|_| "[]".to_owned())),
        })
        .collect()
}

/// Stores a chunk's scores with the run's cursor, in one transaction.
fn store_chunk(conn: &mut PgConnection, run_id: i64, rows: &[NewScore], last: i64, patients: usize) -> QueryResult<()> {
    conn.transaction(|conn| {
        if !rows.is_empty() {
            diesel::copy_from(vigil_store::schema::scores::table).from_insertable(rows).execute(conn)?;
        }
        diesel::update(scoring_runs::table.find(run_id))
            .set((
                scoring_runs::cursor.eq(last),
                scoring_runs::scored.eq(scoring_runs::scored + patients as i32),
                scoring_runs::heartbeat_at.eq(diesel::dsl::now),
            ))
            .execute(conn)
    })?;
    Ok(())
}

fn scope_ids(scope: &Scope) -> Option<Vec<i64>> {
    match scope {
        Scope::All => None,
        Scope::Patients(ids) | Scope::Changed(ids) => {
            let mut ids = ids.clone();
            ids.sort_unstable();
            ids.dedup();
            Some(ids)
        }
    }
}

fn flat(ids: &Option<Vec<Option<i64>>>) -> Option<Vec<i64>> {
    ids.as_ref().map(|ids| ids.iter().flatten().copied().collect())
}
