use std::process::ExitCode;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};
use vigil_ehr_adapter::ingest::Summary;
use vigil_ehr_adapter::load::load;
use vigil_store::audit::{AuditEvent, Outcome};
use vigil_store::schema::ingest_rejects;

use super::cli_actor;
use crate::cli::{IngestArgs, IngestCommand};

pub fn run(conn: &mut PgConnection, args: IngestArgs) -> anyhow::Result<ExitCode> {
    if let Some(IngestCommand::Rejects { all, limit }) = args.command {
        return list_rejects(conn, all, limit);
    }
    let started = Instant::now();
    let bar = progress_bar();
    let what = format!("source {}", args.source);
    let summary = load(conn, &args.source, &loader(&what), &args.paths, args.batch as usize, |progress| {
        bar.set_position(progress.summary.totals().total());
        bar.set_message(progress.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
    })?;
    bar.finish_and_clear();
    finish(conn, &what, &summary, started)
}

/// A spinner with the count and rate of resources, drawn on stderr and only on a terminal.
pub(super) fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {human_pos} resources, {per_sec} · {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// The audit event a load records for each patient it changes; `what` says where from.
pub(super) fn loader(what: &str) -> AuditEvent {
    AuditEvent {
        data_category: Some("clinical-import".into()),
        detail: Some(what.to_owned()),
        ..AuditEvent::new(cli_actor(), "operator", "ingest", Outcome::Success)
    }
}

/// Ends a load: one audit row for it as a whole (besides one per changed patient, written with
/// the data), the summary printed, and exit status 1 when anything was rejected.
#[allow(clippy::print_stdout)] // the command's output for its user
pub(super) fn finish(
    conn: &mut PgConnection,
    what: &str,
    summary: &Summary,
    started: Instant,
) -> anyhow::Result<ExitCode> {
    let totals = summary.totals();
    let event = AuditEvent {
        resource_type: Some("Bundle".into()),
        detail: Some(format!(
            "{what}: {} stored, {} updated, {} unchanged, {} outdated, {} rejected",
            totals.stored, totals.updated, totals.unchanged, totals.outdated, totals.rejected
        )),
        ..loader(what)
    };
    vigil_store::audit::append(conn, &event)?;
    print_summary(summary, started.elapsed());
    if totals.rejected > 0 {
        println!("{} resources were rejected: `vigil ingest rejects` lists them with the reasons", totals.rejected);
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

#[allow(clippy::print_stdout)]
fn print_summary(summary: &Summary, elapsed: Duration) {
    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "resource type", "stored", "updated", "unchanged", "outdated", "rejected"
    );
    for (ty, c) in &summary.by_type {
        println!("{ty:<28} {:>9} {:>9} {:>9} {:>9} {:>9}", c.stored, c.updated, c.unchanged, c.outdated, c.rejected);
    }
    let t = summary.totals();
    println!("{:<28} {:>9} {:>9} {:>9} {:>9} {:>9}", "total", t.stored, t.updated, t.unchanged, t.outdated, t.rejected);
    let rate = t.total() as f64 / elapsed.as_secs_f64().max(1e-9);
    println!("{} resources in {:.1} s ({rate:.0} per second)", t.total(), elapsed.as_secs_f64());
}

#[allow(clippy::print_stdout)]
fn list_rejects(conn: &mut PgConnection, all: bool, limit: i64) -> anyhow::Result<ExitCode> {
    let mut query = ingest_rejects::table
        .select((
            ingest_rejects::id,
            ingest_rejects::rejected_at,
            ingest_rejects::origin,
            ingest_rejects::location,
            ingest_rejects::resource_type,
            ingest_rejects::fhir_id,
            ingest_rejects::outcome,
            ingest_rejects::resolved_at,
        ))
        .order(ingest_rejects::id.desc())
        .limit(limit)
        .into_boxed();
    if !all {
        query = query.filter(ingest_rejects::resolved_at.is_null());
    }
    type Row =
        (i64, DateTime<Utc>, String, String, Option<String>, Option<String>, serde_json::Value, Option<DateTime<Utc>>);
    let rows: Vec<Row> = query.load(conn)?;
    if rows.is_empty() {
        println!("no rejects");
    }
    for (id, at, origin, location, ty, fhir_id, outcome, resolved) in rows {
        let what = format!("{}/{}", ty.as_deref().unwrap_or("?"), fhir_id.as_deref().unwrap_or("?"));
        let state = if resolved.is_some() { " (resolved)" } else { "" };
        println!("#{id} {} {origin}, {location}: {what}{state}", at.format("%Y-%m-%d %H:%M:%S"));
        for issue in outcome["issue"].as_array().into_iter().flatten() {
            let path = issue["expression"][0].as_str().unwrap_or("");
            let text = issue["diagnostics"].as_str().unwrap_or("");
            let prefix = format!("{origin}, {location}: ");
            println!("    {path}: {}", text.strip_prefix(&prefix).unwrap_or(text));
        }
    }
    Ok(ExitCode::SUCCESS)
}
