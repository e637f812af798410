use std::process::ExitCode;

use diesel::PgConnection;
use vigil_scoring::promotion::{self, store::Request};
use vigil_scoring::registry::{self, Entry};
use vigil_scoring::training::Report;

use super::train::target;
use super::{audit_cli, cli_actor};
use crate::cli::ModelCommand;
use crate::config::Settings;

fn test_auroc(entry: &Entry) -> String {
    entry.test_auroc().map(|a| format!("{a:.3}")).unwrap_or_else(|| "-".into())
}

#[allow(clippy::print_stdout)] // the command's output for its user
pub fn run(conn: &mut PgConnection, settings: &Settings, command: ModelCommand) -> anyhow::Result<ExitCode> {
    match command {
        ModelCommand::Monitor(args) => return super::monitor::run(conn, settings, args),
        ModelCommand::Promote { version, force, reason } => {
            let by = cli_actor();
            let request =
                Request { by: &by, force: force.then_some(reason.as_deref().unwrap_or("")), automatic: false };
            let decision = promotion::store::decide(conn, &version, settings.monitoring.rules(), request)?;
            audit_cli(conn, "model-promote", "Model", Some(&version), None)?;
            print!("{}", super::monitor::decision_text(&decision));
        }
        ModelCommand::List => {
            println!(
                "{:<16} {:<12} {:<20} {:<10} {:<11} {:>9} {:>6}  created",
                "version", "target", "algorithm", "status", "until", "examples", "AUROC"
            );
            for e in registry::list(conn)? {
                println!(
                    "{:<16} {:<12} {:<20} {:<10} {:<11} {:>9} {:>6}  {} by {}",
                    e.version,
                    e.target,
                    e.algorithm,
                    e.status,
                    e.trained_until.map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_else(|| "-".into()),
                    e.training_examples,
                    test_auroc(&e),
                    e.created_at.format("%Y-%m-%d %H:%M"),
                    e.created_by
                );
            }
        }
        ModelCommand::Show { version } => {
            let e = registry::show(conn, &version)?;
            println!("{} ({} {}, {}), threshold {:.2}", e.version, e.target, e.algorithm, e.status, e.threshold);
            println!(
                "feature version {}, created {} by {}",
                e.feature_version,
                e.created_at.format("%Y-%m-%d %H:%M"),
                e.created_by
            );
            match serde_json::from_value::<Report>(e.metrics.clone()) {
                Ok(report) => print!("{}", report.to_text()),
                Err(_) => println!("a formula: no training report"),
            }
        }
        ModelCommand::Activate { version, override_reason } => {
            let e = registry::activate(conn, &version, &cli_actor(), override_reason.as_deref())?;
            audit_cli(conn, "model-activate", "Model", Some(&e.version), None)?;
            println!("{} is the active {} model", e.version, e.target);
        }
        ModelCommand::Shadow { version } => {
            let e = registry::shadow(conn, &version, &cli_actor())?;
            audit_cli(conn, "model-shadow", "Model", Some(&e.version), None)?;
            println!("{} scores in shadow beside the active {} model", e.version, e.target);
        }
        ModelCommand::Retire { version } => {
            let e = registry::retire(conn, &version, &cli_actor())?;
            audit_cli(conn, "model-retire", "Model", Some(&e.version), None)?;
            println!("{} is retired", e.version);
        }
        ModelCommand::Rollback { target: arg } => {
            let e = registry::rollback(conn, target(arg), &cli_actor())?;
            audit_cli(conn, "model-rollback", "Model", Some(&e.version), None)?;
            println!("rolled back: {} is the active {} model again", e.version, e.target);
        }
    }
    Ok(ExitCode::SUCCESS)
}
