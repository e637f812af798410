//! The command line: `vigil <subcommand>`. Each subcommand's `--help` says what it does.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

mod admin;
mod models;

pub use admin::{AuditCommand, ClientCommand, UnitCommand, UserCommand};
pub use models::{AlgorithmArg, BacktestArgs, ModelCommand, MonitorArgs, ScoreArgs, TargetArg, TrainArgs};

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
    /// Prepare a local installation: TLS certificate, token-signing key, configuration file
    ///
    /// Writes DIR/vigil.toml (use it with --config), a self-signed certificate for localhost in
    /// DIR/tls/, and an Ed25519 signing key in DIR/keys/, all readable by their owner only. Leaves an
    /// existing DIR/vigil.toml alone unless --force is given. Needs no database.
    Init {
        #[arg(long, default_value = ".vigil")]
        dir: PathBuf,
        #[arg(long)]
        force: bool,
    },
    /// Ask a Vigil server's health endpoint: exit 0 on 200, else 1 (a container's health check)
    ///
    /// Needs no database and no configuration, so that an image holds nothing but the binary.
    Probe {
        /// The endpoint, such as http://127.0.0.1:8080/readyz
        #[arg(default_value = "http://127.0.0.1:8080/healthz")]
        url: String,
    },
    /// Load FHIR R4 data: Bundles (*.json) and Bulk NDJSON (*.ndjson), plain or .gz, files or folders
    ///
    /// Every resource is stored (all versions kept, the clinical types mapped to tables) or rejected
    /// with its file, line or entry and an OperationOutcome; loading the same data again changes
    /// nothing. Prints a summary per resource type; the exit status is 1 when anything was rejected
    /// (see `vigil ingest rejects`).
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Ingest(IngestArgs),
    /// Write a synthetic population: NDJSON per resource type, or a transaction Bundle per patient
    ///
    /// Demographics, chronic conditions (ICD-10-CM and SNOMED CT), outpatient, emergency and inpatient
    /// encounters with lengths of stay, priority and discharge disposition, vitals and labs, medications and
    /// procedures. Admissions and readmissions follow a hidden risk process (documented in
    /// ehr-adapter/src/synth/mod.rs) driven by age, comorbidity, prior use of care and labs. The same seed
    /// gives the same files.
    Synth(SynthArgs),
    /// Pull FHIR data from another FHIR server, authenticating with SMART Backend Services
    ///
    /// Reads the remote's CapabilityStatement for its token URL, signs a client assertion with
    /// --key (ES384 for an EC P-384 key, RS384 for RSA), then pages through a `_lastUpdated` search
    /// of each mapped type and stores every page like `vigil ingest`. Remembers, per remote and type,
    /// the newest `meta.lastUpdated` stored; without --since the next pull resumes from there (less
    /// a margin of five minutes, since repeats change nothing). Exit status 1 when anything was
    /// rejected.
    Pull(PullArgs),
    /// Train a model, evaluate it on the period after --until beside LACE and HOSPITAL, register it
    ///
    /// Examples come from every patient's record as of each index time (each discharge for
    /// readmission; each patient at home on the first of each month, from three years before
    /// --until, for admission). Outcomes known before --until train: the learner and its
    /// hyperparameters are chosen by time-ordered cross-validation inside that window, the earlier
    /// three quarters fit the model and the latest quarter fits its calibration. Events from
    /// --until on are the test, reported with AUROC (95 % interval), AUPRC, Brier, calibration
    /// intercept and slope (with intervals), deciles, figures at the threshold and per sex, age band
    /// and race, beside LACE and HOSPITAL with the paired difference of AUROC. The model is
    /// registered as a candidate.
    Train(TrainArgs),
    /// Score patients now (or as of a time) with every active and shadow model
    ///
    /// Without --patient, scores everyone: a run that was killed halfway is resumed and finishes
    /// with every patient scored exactly once. One run at a time across all processes: exits 1
    /// when another is in progress.
    Score(ScoreArgs),
    /// A model's point-in-time predictions for every index event in [--from, --to), as CSV
    ///
    /// Rows: each discharge (readmission) or each patient at home on the first of each month
    /// (admission), with the probability the model gives from the data of that time, LACE and
    /// HOSPITAL where they apply, and the observed outcome. Columns: patient_id, encounter_id (FHIR
    /// ids as received), index_time, probability, lace, hospital, label. Prints the metrics.
    Backtest(BacktestArgs),
    /// Run the scheduled work: scoring on cron schedules, and re-scoring changed patients within seconds
    ///
    /// Schedules come from VIGIL_SCORE_CRON, `KIND=CRON` pairs separated by `;` (KIND: all or
    /// changed; CRON with seconds: sec min hour day month weekday). Default:
    /// "changed=0 */15 * * * *;all=0 0 2 * * *". Besides, the change feed is polled every second,
    /// so patients whose data changed are re-scored within seconds. Any number of workers may run:
    /// one scores at a time.
    Worker,
    /// The model registry: list, show, activate, roll back
    #[command(subcommand)]
    Model(ModelCommand),
    /// Manage users: add, list, disable, set a password
    #[command(subcommand)]
    User(UserCommand),
    /// Manage care units (wards) that users and patients belong to
    #[command(subcommand)]
    Unit(UnitCommand),
    /// Manage systems that use the API through SMART Backend Services
    #[command(subcommand)]
    Client(ClientCommand),
    /// Check and export the audit trail
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Alert rules: which scores open alerts of which tier
    #[command(subcommand)]
    Alert(crate::commands::alert::AlertCommand),
    /// Email messages: list, show, retry dead letters
    #[command(subcommand)]
    Outbox(crate::commands::outbox::OutboxCommand),
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// The remote FHIR base URL, such as https://ehr.example/fhir
    #[arg(long = "from", value_name = "URL")]
    pub from: url::Url,
    /// Fetch what changed at or after this time (RFC 3339, or a date); default: where the last pull
    /// from this remote stopped, else everything
    #[arg(long, value_name = "T")]
    pub since: Option<String>,
    /// The client id the remote registered for Vigil
    #[arg(long)]
    pub client_id: String,
    /// PEM private key (PKCS#8) whose public half the remote has in Vigil's JWKS
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The key id (`kid`) of that key in the JWKS
    #[arg(long)]
    pub kid: String,
    /// PEM certificate(s) to trust for the remote instead of the system's roots (a self-signed remote)
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// The system the data is stored under (as `vigil ingest --source`)
    #[arg(long, default_value = "local")]
    pub source: String,
    /// Allow plain http when the remote is on this machine (loopback); otherwise only https
    #[arg(long)]
    pub allow_http_loopback: bool,
    /// Resource types to pull (default: the mapped types the remote can search)
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
    /// Resources per page asked of the remote
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub page_size: u32,
}

#[derive(Debug, Args)]
pub struct SynthArgs {
    #[arg(long)]
    pub patients: u64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Folder to write into (created if missing)
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value = "ndjson")]
    pub format: SynthFormat,
    /// Years of history per patient
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=30))]
    pub years: u32,
    /// Last day of the history (YYYY-MM-DD)
    #[arg(long, default_value = "2026-10-31")]
    pub end: chrono::NaiveDate,
    /// From this day (YYYY-MM-DD) the hidden process changes: diabetics' HbA1c runs higher and a
    /// high HbA1c becomes a risk of admission (for testing monitoring and retraining)
    #[arg(long, value_name = "DATE")]
    pub drift_from: Option<chrono::NaiveDate>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SynthFormat {
    Ndjson,
    Bundle,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    #[command(subcommand)]
    pub command: Option<IngestCommand>,
    /// Files or folders to load
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// The system the data comes from. An id names one resource per type on this server: a resource
    /// whose type and id (or whose patient) another source holds is rejected, naming the holder
    #[arg(long, default_value = "local")]
    pub source: String,
    /// Resources stored per transaction
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch: u32,
}

#[derive(Debug, Subcommand)]
pub enum IngestCommand {
    /// List rejected resources not yet corrected, newest first
    Rejects {
        /// Also list rejects that a corrected version has resolved
        #[arg(long)]
        all: bool,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

/// A date (midnight UTC) or an RFC 3339 timestamp.
pub fn parse_time(raw: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
        .map_err(|_| format!("expected YYYY-MM-DD or an RFC 3339 time, found {raw:?}"))
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
