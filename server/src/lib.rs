//! The `vigil` server: command line, configuration, HTTP (portal, FHIR and JSON APIs), identity,
//! access and audit. The binary in `main.rs` only calls [`run`]; the library form lets the
//! benchmarks reach the same code.

pub mod alerts;
pub mod anchor;
pub mod audit_csv;
pub mod auth;
pub mod cli;
pub mod commands;
pub mod config;
pub mod fuzz;
pub mod http;
pub mod imports;
pub mod metrics;
pub mod monitoring;
pub mod remembered;
pub mod retrain;
pub mod sealer;
pub mod telemetry;

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use crate::cli::{Cli, Command, ServeArgs};
use crate::config::Settings;
use crate::http::access::database::Database;

/// Runs the command line; errors become a message on stderr and exit status 1.
pub fn main_with_args() -> ExitCode {
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

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let overrides = match &cli.command {
        Command::Serve(args) => serve_overrides(args),
        _ => Vec::new(),
    };
    if let Command::Init { dir, force } = &cli.command {
        return commands::init::run(dir, *force);
    }
    if let Command::Probe { url } = &cli.command {
        return Ok(commands::probe::run(url));
    }
    if let Command::Synth(args) = &cli.command {
        return commands::synth::run(args);
    }
    let settings = Settings::load(cli.config.as_deref(), &overrides)?;
    telemetry::init(&settings.log);
    match cli.command {
        Command::Serve(_) => serve(&settings),
        command => commands::run(&settings, command),
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

fn auth_state(settings: &Settings, public_url: String) -> anyhow::Result<http::access::AuthState> {
    use std::time::Duration;
    let auth = &settings.auth;
    Ok(http::access::AuthState {
        keys: auth::keys::SigningKeys::load(&auth.signing_keys)?,
        tokens: auth::tokens::TokenSettings { issuer: auth.issuer.clone(), audience: auth.audience.clone() },
        token_ttl_secs: auth.token_ttl_secs,
        sessions: auth::sessions::SessionLimits {
            idle: Duration::from_secs(auth.session_idle_timeout_secs),
            absolute: Duration::from_secs(auth.session_absolute_timeout_secs),
        },
        break_glass: Duration::from_secs(auth.break_glass_secs),
        public_url,
        mfa_required: auth.mfa_required_roles.clone(),
        verified: auth::tokens::VerifiedTokens::default(),
        known: std::sync::Arc::default(),
    })
}

fn serve(settings: &Settings) -> anyhow::Result<ExitCode> {
    let url = settings.database_url()?;
    let auth = auth_state(settings, settings.server.public_url()?)?;
    let spool_dir = settings.audit.spool_dir.join(url.place());
    let spool = vigil_store::audit::Spool::open(&spool_dir)
        .with_context(|| format!("opening the audit spool in {}", spool_dir.display()))?;
    let db = Database::new(url, &settings.database, spool).context("starting the audit writers")?;
    auth.known.spawn_listener(url.expose().to_owned()).context("starting the principal listener")?;
    db.spawn_listeners(url).context("starting the listeners for changes")?;
    db.spawn_migrator().context("starting the migrator thread")?;
    let importer = imports::spawn(url).context("starting the importer thread")?;
    sealer::spawn(url, sealer::Anchoring::from_settings(&settings.audit)?).context("starting the audit sealer")?;
    tracing::info!(database = %url.redacted(), "starting server");
    actix_web::rt::System::new()
        .block_on(http::serve(
            &settings.server,
            &settings.alerts,
            std::time::Duration::from_secs(settings.audit.security_event_window_secs),
            db,
            auth,
            importer,
        ))
        .with_context(|| format!("serving on {}:{}", settings.server.host, settings.server.port))?;
    tracing::info!("server stopped");
    Ok(ExitCode::SUCCESS)
}
