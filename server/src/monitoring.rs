//! Model monitoring as `vigil worker` runs it: on `monitoring.cron`, one worker of the deployment
//! at a time (a session advisory lock, which Postgres releases if the worker dies) matures outcomes
//! and computes every active and shadow model's figures (`vigil_scoring::monitoring::job`), and
//! each new finding becomes a notice to every informatics user through the outbox, in the
//! transaction that records it. The pass is audited as one system action: it reads records and
//! scores in aggregate and shows no patient to anyone.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Interval, Text};
use vigil_scoring::monitoring::job::{self, Finding, Summary};
use vigil_store::audit::{self, AuditEvent, Outcome};

use vigil_scoring::promotion::{
    self,
    store::{Decision, Request},
};
use vigil_scoring::registry;
use vigil_scoring::training::Target;

use crate::alerts::engine::Timing;
use crate::alerts::record::interval;
use crate::config::{DatabaseUrl, MonitoringSettings};
use crate::retrain::{self, Plan};

/// Queues a notice of `finding` to every active informatics user with an email address, when their
/// preferences let a notice go (group wait, digest, quiet hours).
pub fn notify_informatics(conn: &mut PgConnection, timing: Timing, finding: &Finding) -> QueryResult<usize> {
    diesel::sql_query(
        "INSERT INTO outbox (user_id, model_id, kind, tier, deliver_after)
         SELECT u.id, $1, $2, 'warning', notice_due(u.id, 'warning', $3, $4)
           FROM users u
          WHERE u.disabled_at IS NULL AND u.email IS NOT NULL AND u.role = 'informatics'",
    )
    .bind::<BigInt, _>(finding.model_id)
    .bind::<Text, _>(finding.kind.as_str())
    .bind::<Interval, _>(interval(timing.group_wait))
    .bind::<Interval, _>(interval(timing.digest))
    .execute(conn)
}

/// Who the worker acts as: scheduled retraining registers models in its name, and auto-promotion
/// judges only those.
const WORKER: &str = "service:worker";

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

/// One pass, unless another is under way somewhere (then None).
pub fn run_once(
    conn: &mut PgConnection,
    settings: &MonitoringSettings,
    timing: Timing,
    by: &str,
) -> anyhow::Result<Option<Summary>> {
    let lock: Locked =
        diesel::sql_query("SELECT pg_try_advisory_lock(hashtext('vigil.monitoring')) AS locked").get_result(conn)?;
    if !lock.locked {
        return Ok(None);
    }
    let result = job::run(conn, settings.job(), |conn, finding| notify_informatics(conn, timing, finding).map(|_| ()));
    diesel::sql_query("SELECT pg_advisory_unlock(hashtext('vigil.monitoring'))").execute(conn)?;
    let summary = result.context("model monitoring")?;
    let event = AuditEvent {
        resource_type: Some("Model".into()),
        data_category: Some("scores".into()),
        detail: Some(format!(
            "{} outcomes matured, {} models, {} weeks, {} findings",
            summary.outcomes.matured,
            summary.models,
            summary.weeks,
            summary.findings.len()
        )),
        ..AuditEvent::new(by.to_owned(), "system", "model-monitor", Outcome::Success)
    };
    audit::append(conn, &event).context("writing the audit row")?;
    Ok(Some(summary))
}

/// Retrains every target that has an active model on the newest window, each new model in
/// shadow; then, when `auto_promote` is set, judges every challenger retrained so whose shadow
/// period has matured enough evidence (once each).
pub fn retrain_all(conn: &mut PgConnection, settings: &MonitoringSettings, by: &str) -> anyhow::Result<Vec<String>> {
    let mut made = Vec::new();
    for target in [Target::Admission, Target::Readmission] {
        if registry::active(conn, target)?.is_none() {
            continue;
        }
        // A challenger of ours still in shadow and not judged yet is collecting its shadow
        // period: another beside it would only split the evidence.
        let mut waiting = false;
        for entry in registry::list(conn)? {
            if entry.status == "shadow" && entry.created_by == by && entry.target == target.as_str() {
                waiting |= promotion::store::decisions(conn, entry.id)?.is_empty();
            }
        }
        if waiting {
            continue;
        }
        match retrain::train(conn, &Plan::scheduled(target, settings.retrain_window_days), by, |_| {}) {
            Ok(trained) => made.push(trained.version),
            // Too few events in the window is a fact of the data, not a fault.
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), target = target.as_str(), "scheduled retraining skipped")
            }
        }
    }
    Ok(made)
}

/// Judges, once each, the challengers scheduled retraining put in shadow whose shadow period holds
/// enough matured events; promotes those the guard passes.
pub fn auto_promote(conn: &mut PgConnection, settings: &MonitoringSettings, by: &str) -> anyhow::Result<Vec<Decision>> {
    let mut decided = Vec::new();
    let rules = settings.rules();
    for challenger in registry::list(conn)?.into_iter().filter(|e| e.status == "shadow" && e.created_by == by) {
        let Some(target) = Target::parse(&challenger.target) else { continue };
        let Some((champion, _)) = registry::active(conn, target)? else { continue };
        if !promotion::store::decisions(conn, challenger.id)?.is_empty() {
            continue;
        }
        let (events, _) = promotion::store::paired(conn, challenger.id, champion.id)?;
        let positives = events.iter().filter(|e| e.outcome).count();
        if positives < rules.min_events || events.len() - positives < rules.min_events {
            continue; // the shadow period has not matured enough yet
        }
        let request = Request { by, force: None, automatic: true };
        decided.push(promotion::store::decide(conn, &challenger.version, rules, request)?);
    }
    Ok(decided)
}

/// Retires the months of scores wholly older than `days` (after the pass matured their outcomes);
/// nothing when `days` is 0.
pub fn retire_scores(conn: &mut PgConnection, days: u32) -> anyhow::Result<()> {
    if days == 0 {
        return Ok(());
    }
    let horizon = Utc::now() - chrono::Duration::days(i64::from(days));
    for month in vigil_store::partitions::retire_scores_before(conn, horizon)? {
        tracing::info!(month = %month.month, kept = month.kept, dropped = month.dropped, "scores retired");
    }
    Ok(())
}

/// Starts the monitoring thread of `vigil worker`; it reconnects by itself after an outage.
pub fn spawn(url: &DatabaseUrl, settings: MonitoringSettings, timing: Timing) -> anyhow::Result<()> {
    let schedule = cron::Schedule::from_str(settings.cron.trim())
        .with_context(|| format!("monitoring.cron: {:?} is not a cron expression", settings.cron))?;
    let retraining = match settings.retrain_cron.trim() {
        "" => None,
        raw => Some(
            cron::Schedule::from_str(raw)
                .with_context(|| format!("monitoring.retrain_cron: {raw:?} is not a cron expression"))?,
        ),
    };
    let url = url.clone();
    std::thread::Builder::new().name("monitoring".into()).spawn(move || {
        let mut next = schedule.upcoming(Utc).next();
        let mut next_retrain = retraining.as_ref().and_then(|s| s.upcoming(Utc).next());
        loop {
            if let (Some(s), Some(due)) = (&retraining, next_retrain)
                && due <= Utc::now()
            {
                next_retrain = s.upcoming(Utc).next();
                let made = PgConnection::establish(url.expose())
                    .context("connecting")
                    .and_then(|mut conn| retrain_all(&mut conn, &settings, WORKER));
                match made {
                    Ok(versions) if versions.is_empty() => {
                        tracing::debug!("scheduled retraining: every target's challenger is still in shadow")
                    }
                    Ok(versions) => tracing::info!(models = ?versions, "scheduled retraining: new models in shadow"),
                    Err(error) => tracing::warn!(error = %format!("{error:#}"), "scheduled retraining failed"),
                }
            }
            if next.is_some_and(|due| due <= Utc::now()) {
                next = schedule.upcoming(Utc).next();
                let pass = PgConnection::establish(url.expose())
                    .context("connecting")
                    .and_then(|mut conn| {
                        let summary = run_once(&mut conn, &settings, timing, WORKER)?;
                        retire_scores(&mut conn, settings.score_retention_days)?;
                        if settings.auto_promote {
                            for d in auto_promote(&mut conn, &settings, WORKER)? {
                                tracing::info!(challenger = %d.challenger.version, decision = d.verdict.as_str(), "automatic promotion decision");
                            }
                        }
                        Ok(summary)
                    });
                match pass {
                    Ok(Some(s)) => tracing::info!(
                        matured = s.outcomes.matured,
                        models = s.models,
                        weeks = s.weeks,
                        findings = s.findings.len(),
                        "models monitored"
                    ),
                    Ok(None) => tracing::debug!("model monitoring is running elsewhere"),
                    Err(error) => tracing::warn!(error = %format!("{error:#}"), "model monitoring failed"),
                }
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    })?;
    Ok(())
}
