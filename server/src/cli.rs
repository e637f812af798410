//! The command line: `vigil <subcommand>`. Each subcommand's `--help` says what it does.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "vigil",
    version,
    about = "Predictive monitoring of unplanned admission and 30-day readmission risk",
    long_about = "Vigil reads patient records from the EHR (FHIR R4), scores every patient for the risk of an \
                  unplanned admission and of a 30-day readmission, and alerts the right clinician in time.\n\n\
                  Configuration comes from an optional TOML file (--config, VIGIL_CONFIG, or ./vigil.toml), \
                  then the environment: DATABASE_URL and VIGIL_<SECTION>__<KEY> (for example \
                  VIGIL_SERVER__PORT=8081)."
)]
pub struct Cli {
    /// Configuration file (TOML); it must exist when given.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API and health endpoints until SIGTERM
    ///
    /// Applies pending migrations in the background. The server starts even when the database is
    /// unreachable: /healthz answers 200 as long as the process is alive, /readyz answers 503 with
    /// the reason until the database is reachable and migrated, and the server recovers by itself
    /// when the database returns. On SIGTERM or SIGINT it stops accepting connections and lets
    /// in-flight requests finish (up to server.shutdown_timeout_secs).
    Serve(ServeArgs),
    /// Apply pending database migrations
    ///
    /// Safe to run from several processes at once: a Postgres advisory lock lets one apply them.
    /// With --status, list every migration this binary knows and whether it is applied; the exit
    /// status is then 1 when any is pending.
    Migrate(MigrateArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (overrides server.host)
    #[arg(long)]
    pub host: Option<IpAddr>,
    /// Port to listen on; 0 picks a free one (overrides server.port)
    #[arg(long)]
    pub port: Option<u16>,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Only report which migrations are applied and which are pending
    #[arg(long)]
    pub status: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
