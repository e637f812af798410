//! `vigil score` and `vigil worker`.

use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use vigil_ehr_adapter::fhir_time::parse_instant;
use vigil_scoring::run::{self, DEFAULT_CHUNK, RunError, Runner, Scope};
use vigil_store::schema::patients;
use vigil_store::wake;

use super::cli_actor;
use super::ingest::progress_bar;
use crate::alerts::engine::{self, Timing};
use crate::cli::ScoreArgs;

#[allow(clippy::print_stdout)] // the command's output for its user
pub fn run(
    conn: &mut PgConnection,
    readers: &mut [PgConnection],
    timing: Timing,
    args: ScoreArgs,
) -> anyhow::Result<ExitCode> {
    let as_of = match &args.as_of {
        Some(raw) => parse_instant(raw).with_context(|| format!("--as-of {raw}: not a date or RFC 3339 time"))?,
        None => Utc::now(),
    };
    let scope = if args.patients.is_empty() {
        Scope::All
    } else {
        let found: Vec<(String, i64)> = patients::table
            .filter(patients::fhir_id.eq_any(&args.patients).and(patients::version.gt(0)))
            .select((patients::fhir_id, patients::id))
            .load(conn)?;
        let missing: Vec<&String> = args.patients.iter().filter(|p| !found.iter().any(|(f, _)| f == *p)).collect();
        anyhow::ensure!(
            missing.is_empty(),
            "no patient with id {}",
            missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        );
        Scope::Patients(found.into_iter().map(|(_, id)| id).collect())
    };
    let bar = progress_bar();
    bar.set_message("patients scored");
    let by = cli_actor();
    let mut runner = Runner { conn, readers, by: &by, chunk: args.chunk as usize };
    let outcome = match runner.run(scope, as_of, |n| bar.set_position(n as u64)) {
        Ok(outcome) => outcome,
        Err(RunError::Busy) => {
            bar.finish_and_clear();
            println!("another scoring run is in progress; try again when it has finished");
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e.into()),
    };
    bar.finish_and_clear();
    let resumed = if outcome.resumed { " (resumed a run that had stopped)" } else { "" };
    println!(
        "run {}: {} patients, {} scores as of {}{resumed}",
        outcome.run_id,
        outcome.patients,
        outcome.scores,
        as_of.format("%Y-%m-%d %H:%M:%S UTC")
    );
    let alerts = engine::evaluate_all(conn, timing)?;
    println!(
        "alerts: {} opened, {} updated, {} ended; {} notices queued",
        alerts.opened, alerts.updated, alerts.ended, alerts.notices
    );
    Ok(ExitCode::SUCCESS)
}

/// A scheduled job.
#[derive(Debug)]
struct Job {
    all: bool,
    schedule: cron::Schedule,
    next: Option<DateTime<Utc>>,
}

pub const DEFAULT_CRON: &str = "changed=0 */15 * * * *;all=0 0 2 * * *";

fn schedules(raw: &str) -> anyhow::Result<Vec<Job>> {
    raw.split(';')
        .filter(|part| !part.trim().is_empty())
        .map(|part| {
            let (kind, expression) =
                part.split_once('=').with_context(|| format!("VIGIL_SCORE_CRON: {part:?} is not KIND=CRON"))?;
            let all = match kind.trim() {
                "all" => true,
                "changed" => false,
                other => anyhow::bail!("VIGIL_SCORE_CRON: {other:?} is neither all nor changed"),
            };
            let schedule = cron::Schedule::from_str(expression.trim())
                .with_context(|| format!("VIGIL_SCORE_CRON: {:?} is not a cron expression", expression.trim()))?;
            let next = schedule.upcoming(Utc).next();
            Ok(Job { all, schedule, next })
        })
        .collect()
}

/// How often the change feed is looked at when no commit wakes the worker first.
const FEED_POLL: Duration = Duration::from_secs(1);
const CONSUMER: &str = "scoring";
/// How often an idle relay looks for notices due.
const RELAY_IDLE: Duration = Duration::from_millis(500);

/// Runs a scoring run of `kind` in a span of its own and records its duration and scores in the
/// metrics.
fn measured(
    kind: &'static str,
    work: impl FnOnce() -> Result<Option<run::Outcome>, RunError>,
) -> Result<Option<run::Outcome>, RunError> {
    let started = std::time::Instant::now();
    // Everything the run logs carries its kind.
    let result = tracing::info_span!("scoring_run", kind).in_scope(work);
    if let Ok(Some(outcome)) = &result {
        crate::metrics::scoring_run(kind, u64::try_from(outcome.scores).unwrap_or(0), started.elapsed());
    }
    result
}

/// Logs how a piece of scheduled work went; false when the database connection should be
/// opened again.
/// Logs what a run of `kind` came to, in a `scoring_run` span of that kind as its work was; whether
/// the worker is still healthy.
fn report(kind: &'static str, what: &str, result: Result<Option<run::Outcome>, RunError>) -> bool {
    let _span = tracing::info_span!("scoring_run", kind).entered();
    match result {
        Ok(Some(o)) => {
            tracing::info!(run = o.run_id, patients = o.patients, scores = o.scores, resumed = o.resumed, "{what}");
            true
        }
        Ok(None) | Err(RunError::Busy) => true,
        Err(error) => {
            tracing::warn!(%error, "{what} failed; it will be tried again");
            !matches!(error, RunError::Database(_))
        }
    }
}

/// Runs until killed. Killing it is safe at any moment: a run it leaves unfinished is resumed by
/// the next worker (or `vigil score`), and the change feed position moves only after the scores
/// are stored.
pub fn worker(settings: &crate::config::Settings) -> anyhow::Result<ExitCode> {
    let raw = std::env::var("VIGIL_SCORE_CRON").unwrap_or_else(|_| DEFAULT_CRON.to_owned());
    let mut jobs = schedules(&raw)?;
    let url = settings.database_url()?;
    let by = "service:worker";
    let timing = settings.alerts.timing();
    tracing::info!(schedules = %raw, database = %url.redacted(), "worker started");
    let scrape = crate::metrics::install()?;
    if let Some(addr) = settings.worker.metrics_addr {
        crate::http::metrics::spawn_listener(addr, scrape, None)?;
    }
    crate::sealer::spawn(url, crate::sealer::Anchoring::from_settings(&settings.audit)?)
        .context("starting the audit sealer")?;
    // Email links lead to the portal, so the relay needs to know where it is.
    let public_url = settings.server.public_url()?;
    crate::alerts::relay::spawn(url, settings.email.clone(), public_url, RELAY_IDLE)
        .context("starting the email relay")?;
    crate::monitoring::spawn(url, settings.monitoring.clone(), timing).context("starting model monitoring")?;
    // The runner's connection and the ones that read records ahead of it.
    let mut conns: Option<(PgConnection, Vec<PgConnection>)> = None;
    let mut resumed = false;
    loop {
        if conns.is_none() {
            // Woken by ingestion's commits rather than waiting for the next poll.
            let opened = wake::listening(url.expose(), wake::Channel::Changes)
                .and_then(|c| Ok((c, run::open_readers(url.expose())?)));
            match opened {
                Ok(pair) => conns = Some(pair),
                Err(error) => tracing::warn!(%error, "worker: database unreachable"),
            }
        }
        if let Some((conn, readers)) = conns.as_mut() {
            let mut runner = Runner { conn, readers, by, chunk: DEFAULT_CHUNK };
            let mut healthy = true;
            if !resumed {
                // A run of everyone that a killed worker left unfinished is finished first.
                healthy &= report("all", "resumed run", measured("all", || runner.resume_all()));
                resumed = healthy;
            }
            let changes = measured("changes", || runner.score_changes(CONSUMER, Utc::now()));
            healthy &= report("changes", "changed patients scored", changes);
            let now = Utc::now();
            for job in jobs.iter_mut() {
                let Some(tick) = job.next.filter(|n| *n <= now) else { continue };
                let result = if job.all {
                    // Scored as of the tick, so that workers waking for it find the one run.
                    measured("all", || runner.run_scheduled(tick))
                } else {
                    measured("changes", || runner.score_changes(CONSUMER, now))
                };
                // Another worker holds the runners' lock: try this tick again on the next pass
                // (a run of everyone for it is then found done, or run now).
                if job.all && matches!(result, Err(RunError::Busy)) {
                    continue;
                }
                let (kind, what) =
                    if job.all { ("all", "scheduled run") } else { ("changes", "scheduled run of changed patients") };
                healthy &= report(kind, what, result);
                job.next = job.schedule.upcoming(Utc).next();
            }
            // Alerts follow the scores just stored, and any a killed worker left unevaluated.
            match engine::evaluate_all(conn, timing) {
                Ok(done) if done.scores > 0 => tracing::info!(
                    scores = done.scores,
                    opened = done.opened,
                    updated = done.updated,
                    ended = done.ended,
                    notices = done.notices,
                    "alerts evaluated"
                ),
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "alert evaluation failed; it will be tried again");
                    healthy = false;
                }
            }
            match crate::alerts::sweep::sweep(conn, timing) {
                Ok(s) if s != crate::alerts::sweep::Swept::default() => {
                    tracing::info!(reopened = s.reopened, ended = s.ended, escalated = s.escalated, "alerts swept");
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "alert sweep failed; it will be tried again");
                    healthy = false;
                }
            }
            if !healthy {
                conns = None;
                // A run of everyone that failed with the connection is resumed first on the next.
                resumed = false;
            }
        }
        match conns.as_mut() {
            Some((conn, _)) => {
                if let Err(error) = wake::wait(conn, FEED_POLL) {
                    tracing::warn!(%error, "worker: lost the database connection while waiting");
                    conns = None;
                    resumed = false;
                }
            }
            None => std::thread::sleep(FEED_POLL),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_parse_and_name_what_is_wrong() {
        let jobs = schedules(DEFAULT_CRON).expect("default");
        assert_eq!(jobs.iter().map(|j| j.all).collect::<Vec<_>>(), [false, true]);
        assert!(jobs.iter().all(|j| j.next.is_some()));
        assert!(schedules("nightly=0 0 2 * * *").is_err_and(|e| e.to_string().contains("nightly")));
        assert!(schedules("all=every night").is_err_and(|e| e.to_string().contains("every night")));
    }
}
