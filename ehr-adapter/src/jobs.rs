//! Asynchronous NDJSON imports: a queue in Postgres (`import_jobs`) that any number of workers
//! work off. A job's body is kept in parts of whole lines (`import_job_parts`), written as it
//! streams in and read back one part at a time, so neither side holds it whole. A worker claims the
//! oldest waiting job with `FOR UPDATE SKIP LOCKED`, stores it in batches like `vigil ingest`
//! (beating a heartbeat after each), each resource checked against the write scopes of whoever
//! queued it, and records the summary. A job whose worker died (no heartbeat for a while) is claimed
//! again and re-run from the start: the resources already stored come out unchanged, so nothing is
//! duplicated.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text, Uuid as SqlUuid};
use serde_json::Value;
use uuid::Uuid;
use vigil_store::audit::{AuditEvent, Outcome};
use vigil_store::schema::{import_job_parts, import_jobs, ingest_rejects};

use crate::ingest::{Commit, IngestError, Summary, prepare, store_prepared};
use crate::read::ndjson_from;

/// After this many claims a job that never finished is given up as failed.
pub const MAX_ATTEMPTS: i32 = 3;

/// A claimed job.
#[derive(Debug, QueryableByName)]
pub struct Job {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub requested_by: String,
    #[diesel(sql_type = Text)]
    pub requester_role: String,
    #[diesel(sql_type = Text)]
    pub source_system: String,
    /// The requester's write permissions (SMART scopes), which every resource is checked against.
    #[diesel(sql_type = Text)]
    pub write_scopes: String,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
}

/// What a client may learn of its job.
#[derive(Debug, Queryable)]
pub struct Status {
    pub status: String,
    pub progress: i64,
    pub summary: Option<Value>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Where a job's resources are said to come from, in rejects.
pub fn origin(id: Uuid) -> String {
    format!("$import {id}")
}

/// Who queues a job, and what they may write.
#[derive(Debug, Clone)]
pub struct Requester<'a> {
    /// The audit actor ("user:<name>" or "client:<id>"): only they see the job's status.
    pub actor: &'a str,
    pub role: &'a str,
    pub source_system: &'a str,
    /// Their write permissions as SMART scopes (`system/*.write`, `system/Observation.write`).
    pub write_scopes: &'a str,
}

/// Starts a job; its parts follow with [`add_part`]. Call both in one transaction, so that no
/// worker sees the job before its last part.
pub fn create(conn: &mut PgConnection, requester: &Requester<'_>) -> QueryResult<Uuid> {
    let id = Uuid::new_v4();
    diesel::insert_into(import_jobs::table)
        .values((
            import_jobs::id.eq(id),
            import_jobs::requested_by.eq(requester.actor),
            import_jobs::requester_role.eq(requester.role),
            import_jobs::source_system.eq(requester.source_system),
            import_jobs::write_scopes.eq(requester.write_scopes),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Appends part `part` (whole lines, the first of which is line `first_line` of the body).
pub fn add_part(conn: &mut PgConnection, id: Uuid, part: i32, first_line: i64, body: &[u8]) -> QueryResult<()> {
    diesel::insert_into(import_job_parts::table)
        .values((
            import_job_parts::job_id.eq(id),
            import_job_parts::part.eq(part),
            import_job_parts::first_line.eq(first_line),
            import_job_parts::body.eq(body),
        ))
        .execute(conn)?;
    Ok(())
}

/// Queues a whole NDJSON body as one part; returns the job id.
pub fn enqueue(conn: &mut PgConnection, requester: &Requester<'_>, body: &[u8]) -> QueryResult<Uuid> {
    conn.transaction(|conn| {
        let id = create(conn, requester)?;
        add_part(conn, id, 0, 1, body)?;
        Ok(id)
    })
}

/// Claims the oldest job waiting, or one whose worker has not beaten for `stale_secs`.
pub fn claim(conn: &mut PgConnection, stale_secs: i32) -> QueryResult<Option<Job>> {
    diesel::sql_query(
        "UPDATE import_jobs SET status = 'failed', finished_at = now(), \
         error = 'the import stopped ' || attempts || ' times before finishing' \
         WHERE status = 'running' AND attempts >= $1 AND heartbeat_at < now() - make_interval(secs => $2)",
    )
    .bind::<Integer, _>(MAX_ATTEMPTS)
    .bind::<Integer, _>(stale_secs)
    .execute(conn)?;
    diesel::sql_query(
        "UPDATE import_jobs SET status = 'running', started_at = COALESCE(started_at, now()), \
         heartbeat_at = now(), attempts = attempts + 1, progress = 0 \
         WHERE id = (SELECT id FROM import_jobs \
                     WHERE status = 'queued' \
                        OR (status = 'running' AND heartbeat_at < now() - make_interval(secs => $1)) \
                     ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT 1) \
         RETURNING id, requested_by, requester_role, source_system, write_scopes, attempts",
    )
    .bind::<Integer, _>(stale_secs)
    .get_result(conn)
    .optional()
}

/// Stores a claimed job's resources in batches and records how it ended. Rejected resources are
/// kept with `origin(job.id)` and their line; they do not fail the job. A resource of a type that
/// `may_write` (the job's write scopes, as the caller reads them) does not allow is rejected too.
pub fn run(
    conn: &mut PgConnection,
    job: &Job,
    batch_size: usize,
    may_write: &dyn Fn(&str) -> bool,
) -> Result<Summary, IngestError> {
    let audit = AuditEvent {
        data_category: Some("clinical-import".into()),
        detail: Some(origin(job.id)),
        ..AuditEvent::new(job.requested_by.clone(), job.requester_role.clone(), "write", Outcome::Success)
    };
    let mut summary = Summary::default();
    let mut batch = Vec::with_capacity(batch_size);
    let flush = |conn: &mut PgConnection, batch: Vec<_>, summary: &mut Summary| -> Result<(), IngestError> {
        // Deferred: the job's final status update commits durably, and with it every batch.
        let mut prepared = prepare(batch);
        prepared.refuse_unless(may_write);
        let stored = store_prepared(conn, &job.source_system, &audit, prepared, Commit::Deferred)?;
        summary.merge(&stored.summary);
        conn.transaction(|conn| {
            diesel::sql_query("SET LOCAL synchronous_commit = off").execute(conn)?;
            diesel::update(import_jobs::table.find(job.id))
                .set((
                    import_jobs::progress.eq(summary.totals().total() as i64),
                    import_jobs::heartbeat_at.eq(diesel::dsl::now),
                ))
                .execute(conn)
        })?;
        Ok(())
    };
    for part in 0.. {
        let Some((first_line, body)) = import_job_parts::table
            .find((job.id, part))
            .select((import_job_parts::first_line, import_job_parts::body))
            .first::<(i64, Vec<u8>)>(conn)
            .optional()?
        else {
            break;
        };
        for item in ndjson_from(body.as_slice(), origin(job.id), first_line) {
            batch.push(item);
            if batch.len() == batch_size {
                flush(conn, std::mem::take(&mut batch), &mut summary)?;
            }
        }
    }
    if !batch.is_empty() {
        flush(conn, batch, &mut summary)?;
    }
    let summary_json = serde_json::to_value(&summary).unwrap_or(Value::Null);
    diesel::update(import_jobs::table.find(job.id))
        .set((
            import_jobs::status.eq("done"),
            import_jobs::summary.eq(summary_json),
            import_jobs::finished_at.eq(diesel::dsl::now),
        ))
        .execute(conn)?;
    Ok(summary)
}

/// Records that a job failed for a reason other than its content (the database went away, say);
/// it is not retried.
pub fn fail(conn: &mut PgConnection, id: Uuid, reason: &str) -> QueryResult<()> {
    diesel::update(import_jobs::table.find(id))
        .set((
            import_jobs::status.eq("failed"),
            import_jobs::error.eq(reason),
            import_jobs::finished_at.eq(diesel::dsl::now),
        ))
        .execute(conn)?;
    Ok(())
}

/// The status of a job, if `requested_by` asked for it.
pub fn status(conn: &mut PgConnection, id: Uuid, requested_by: &str) -> QueryResult<Option<Status>> {
    import_jobs::table
        .find(id)
        .filter(import_jobs::requested_by.eq(requested_by))
        .select((
            import_jobs::status,
            import_jobs::progress,
            import_jobs::summary,
            import_jobs::error,
            import_jobs::created_at,
            import_jobs::finished_at,
        ))
        .first(conn)
        .optional()
}

/// The OperationOutcomes of a job's rejected resources, in input order, once each (a job run
/// again after its worker died rejects the same lines again).
pub fn errors(conn: &mut PgConnection, id: Uuid) -> QueryResult<Vec<Value>> {
    let rows: Vec<(String, Value)> = ingest_rejects::table
        .filter(ingest_rejects::origin.eq(origin(id)))
        .order(ingest_rejects::id)
        .select((ingest_rejects::location, ingest_rejects::outcome))
        .load(conn)?;
    let mut seen = std::collections::HashSet::new();
    Ok(rows.into_iter().filter(|(location, _)| seen.insert(location.clone())).map(|(_, outcome)| outcome).collect())
}
