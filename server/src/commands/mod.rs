//! The subcommands that run to completion (everything but `serve`): each opens a database
//! connection, does its work, prints for its user, and returns an exit code.

pub mod alert;
mod audit;
mod backtest;
mod client;
mod ingest;
pub mod init;
mod migrate;
mod model;
mod monitor;
pub mod outbox;
pub mod probe;
mod pull;
mod score;
pub mod synth;
mod train;
mod unit;
mod user;

use std::process::ExitCode;

use anyhow::Context;
use diesel::{Connection, PgConnection};
use vigil_store::audit::{AuditEvent, Outcome};

use crate::cli::Command;
use crate::config::Settings;

pub fn run(settings: &Settings, command: Command) -> anyhow::Result<ExitCode> {
    if let Command::Worker = command {
        // The worker outlives database outages: it opens and reopens its own connection.
        return score::worker(settings);
    }
    let command = match command {
        Command::Migrate(args) => {
            // Migrations are the owner's: `database.migration_url`, else the database URL.
            let url = settings.migration_url()?;
            let conn = &mut PgConnection::establish(url.expose())
                .with_context(|| format!("connecting to {}", url.redacted()))?;
            return migrate::run(conn, settings, &args);
        }
        other => other,
    };
    let conn = &mut connect(settings)?;
    let result = match command {
        Command::Serve(_) | Command::Init { .. } | Command::Synth(_) | Command::Probe { .. } => unreachable_serve(),
        Command::Migrate(_) => unreachable_serve(),
        Command::User(cmd) => user::run(conn, cmd),
        Command::Unit(cmd) => unit::run(conn, cmd),
        Command::Alert(cmd) => alert::run(conn, cmd),
        Command::Outbox(cmd) => outbox::run(conn, cmd),
        Command::Audit(cmd) => audit::run(conn, &settings.audit, cmd),
        Command::Client(cmd) => client::run(conn, cmd),
        Command::Ingest(args) => ingest::run(conn, args),
        Command::Pull(args) => pull::run(conn, args),
        Command::Train(args) => train::run(conn, args),
        Command::Model(cmd) => model::run(conn, settings, cmd),
        Command::Score(args) => score::run(conn, &mut readers(settings)?, settings.alerts.timing(), args),
        Command::Backtest(args) => backtest::run(conn, args),
        Command::Worker => unreachable_serve(),
    };
    // What the command audited joins the chain now, not when a server's sealer next looks.
    if let Err(error) = vigil_store::audit::chain::seal_all(conn) {
        tracing::warn!(%error, "could not seal the audit rows this command wrote; a server's sealer will");
    }
    result
}

fn unreachable_serve() -> anyhow::Result<ExitCode> {
    anyhow::bail!("this command does not use the database")
}

fn connect(settings: &Settings) -> anyhow::Result<PgConnection> {
    let url = settings.database_url()?;
    PgConnection::establish(url.expose()).with_context(|| format!("connecting to {}", url.redacted()))
}

/// The connections a scoring run reads records on.
fn readers(settings: &Settings) -> anyhow::Result<Vec<PgConnection>> {
    let url = settings.database_url()?;
    vigil_scoring::run::open_readers(url.expose()).with_context(|| format!("connecting to {}", url.redacted()))
}

/// Who is acting when a person runs the CLI: the operating-system user.
fn cli_actor() -> String {
    format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".into()))
}

/// Records an administrative action taken from the command line; `patient_id` when it changes a
/// patient's record.
fn audit_cli(
    conn: &mut PgConnection,
    action: &str,
    resource_type: &str,
    resource_id: Option<&str>,
    patient_id: Option<i64>,
) -> anyhow::Result<()> {
    let event = AuditEvent {
        resource_type: Some(resource_type.into()),
        resource_id: resource_id.map(str::to_owned),
        patient_id,
        data_category: patient_id.map(|_| "care-unit".to_owned()),
        ..AuditEvent::new(cli_actor(), "operator", action, Outcome::Success)
    };
    vigil_store::audit::append(conn, &event).context("writing the audit row")?;
    Ok(())
}
