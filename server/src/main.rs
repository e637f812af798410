//! `vigil`: the one binary. This is the edge where errors become messages and exit codes.

mod cli;
mod config;
mod db;
mod http;
mod telemetry;

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use vigil_store::migrate;

use crate::cli::{Cli, Command, MigrateArgs, ServeArgs};
use crate::config::Settings;
use crate::db::Database;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "vigil stopped with an error");
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let overrides = match &cli.command {
        Command::Serve(args) => serve_overrides(args),
        Command::Migrate(_) => Vec::new(),
    };
    let settings = Settings::load(cli.config.as_deref(), &overrides)?;
    telemetry::init(&settings.log);
    match cli.command {
        Command::Serve(_) => serve(&settings),
        Command::Migrate(args) => migrate_command(&settings, &args),
    }
}

fn serve_overrides(args: &ServeArgs) -> Vec<(&'static str, figment::value::Value)> {
    let mut overrides = Vec::new();
    if let Some(host) = args.host {
        overrides.push(("server.host", host.to_string().into()));
    }
    if let Some(port) = args.port {
        overrides.push(("server.port", port.into()));
    }
    overrides
}

fn serve(settings: &Settings) -> anyhow::Result<ExitCode> {
    let url = settings.database_url()?;
    let db = Database::new(url, &settings.database);
    db.spawn_migrator().context("starting the migrator thread")?;
    tracing::info!(database = %url.redacted(), "starting server");
    actix_web::rt::System::new()
        .block_on(http::serve(&settings.server, db))
        .with_context(|| format!("serving on {}:{}", settings.server.host, settings.server.port))?;
    tracing::info!("server stopped");
    Ok(ExitCode::SUCCESS)
}

#[allow(clippy::print_stdout)] // the command's output for its user
fn migrate_command(settings: &Settings, args: &MigrateArgs) -> anyhow::Result<ExitCode> {
    use diesel::Connection;
    let url = settings.database_url()?;
    let mut conn =
        diesel::PgConnection::establish(url.expose()).with_context(|| format!("connecting to {}", url.redacted()))?;
    if args.status {
        let pending = migrate::pending(&mut conn)?;
        for version in migrate::known()? {
            let state = if pending.contains(&version) { "pending" } else { "applied" };
            println!("{version}  {state}");
        }
        return Ok(if pending.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) });
    }
    let applied = migrate::run_pending(&mut conn)?;
    for version in &applied {
        println!("applied {version}");
    }
    println!("database {} is up to date ({} migrations)", url.redacted(), migrate::known()?.len());
    Ok(ExitCode::SUCCESS)
}
