use std::process::ExitCode;

use diesel::PgConnection;
use vigil_store::migrate;

use crate::cli::MigrateArgs;
use crate::config::Settings;

#[allow(clippy::print_stdout)] // the command's output for its user
pub fn run(conn: &mut PgConnection, settings: &Settings, args: &MigrateArgs) -> anyhow::Result<ExitCode> {
    if args.status {
        let pending = migrate::pending(conn)?;
        for version in migrate::known()? {
            let state = if pending.contains(&version) { "pending" } else { "applied" };
            println!("{version}  {state}");
        }
        return Ok(if pending.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) });
    }
    let applied = migrate::run_pending(conn)?;
    for version in &applied {
        println!("applied {version}");
    }
    let url = settings.migration_url()?;
    println!("database {} is up to date ({} migrations)", url.redacted(), migrate::known()?.len());
    Ok(ExitCode::SUCCESS)
}
