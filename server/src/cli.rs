//! The command line: `vigil <subcommand>`. Each subcommand's `--help` says what it does.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::auth::Role;

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
    /// --until, for admission). Outcomes known before --until train: the earlier three quarters fit
    /// the model, the latest quarter chooses its hyperparameters and fits its calibration. Events
    /// from --until on are the test, reported with AUROC (95 % interval), AUPRC, Brier, calibration
    /// intercept and slope, deciles, figures at the threshold and per sex, age band and race, beside
    /// LACE and HOSPITAL with the paired difference of AUROC. The model is registered as a
    /// candidate.
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TargetArg {
    Admission,
    Readmission,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AlgorithmArg {
    LogisticRegression,
    GradientBoosting,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[arg(long, value_enum)]
    pub target: TargetArg,
    /// Train on outcomes known before this time (RFC 3339 or a date); test on events from it on.
    /// Default: the newest data less 30 days (outcomes not yet known) less --test-days
    #[arg(long, value_name = "T")]
    pub until: Option<String>,
    /// Days of events after --until to test on, when --until is not given
    #[arg(long, default_value_t = 180)]
    pub test_days: i64,
    #[arg(long, value_enum, default_value = "logistic-regression")]
    pub algorithm: AlgorithmArg,
    /// Alerting threshold (probability) to report on; default 0.30 for readmission, 0.05 for admission
    #[arg(long)]
    pub threshold: Option<f64>,
    /// At most this many admission examples (patient-months are sampled evenly beyond it)
    #[arg(long, default_value_t = 250_000)]
    pub max_examples: u64,
    /// Train as Vigil would have at this time (RFC 3339 or a date): data after it is not used
    #[arg(long, value_name = "T")]
    pub as_of: Option<String>,
    /// Learn only from index events from this time on (the newest window)
    #[arg(long, value_name = "T")]
    pub since: Option<String>,
    /// Put the new model in shadow beside the active one, for `vigil model promote` to judge
    #[arg(long)]
    pub shadow: bool,
}

#[derive(Debug, Args)]
pub struct BacktestArgs {
    #[arg(long, value_enum)]
    pub target: TargetArg,
    /// Start of the period (RFC 3339 or a date), included
    #[arg(long, value_name = "A")]
    pub from: String,
    /// End of the period, excluded
    #[arg(long, value_name = "B")]
    pub to: String,
    #[arg(long, value_name = "FILE.csv")]
    pub out: PathBuf,
    /// The model version (default: the active model of the target)
    #[arg(long)]
    pub model: Option<String>,
}

#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// Score as of this time (RFC 3339 or a date); default now
    #[arg(long, value_name = "T")]
    pub as_of: Option<String>,
    /// Score only these patients (FHIR logical ids)
    #[arg(long = "patient", value_name = "ID")]
    pub patients: Vec<String>,
    /// Patients per transaction
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub chunk: u32,
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Every registered model with its status and test AUROC
    List,
    /// One model's training window, counts and evaluation report
    Show { version: String },
    /// Make a model its target's active model (the one active before is retired)
    Activate { version: String },
    /// Score with a model beside the active one, alerting no one (a challenger on trial)
    Shadow { version: String },
    /// Stop scoring with a model that is not the active one
    Retire { version: String },
    /// Re-activate the model that was active before the current one
    Rollback {
        #[arg(long, value_enum)]
        target: TargetArg,
    },
    /// Judge a model in shadow against the active one on the matured outcomes of its shadow period
    /// and promote it if every check passes (paired AUROC, calibration, subgroups, alert burden); the
    /// decision and its figures are recorded
    Promote {
        version: String,
        /// Promote whatever the checks say (needs --reason)
        #[arg(long, requires = "reason")]
        force: bool,
        /// Why the checks are overridden
        #[arg(long)]
        reason: Option<String>,
    },
    /// Monitoring series per week: matured AUROC, calibration, Brier, PPV and sensitivity, the
    /// estimate before outcomes mature, alert burden, useful rate, drift (PSI)
    Monitor(MonitorArgs),
}

#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// One model (default: every active and shadow model)
    #[arg(long = "model", value_name = "VERSION")]
    pub model: Option<String>,
    /// One unit's series instead of all units'
    #[arg(long)]
    pub unit: Option<String>,
    /// Mature outcomes and compute the figures now, as the worker does on its schedule, first
    #[arg(long)]
    pub run: bool,
    /// Every feature's PSI for the newest week, not only the largest
    #[arg(long)]
    pub features: bool,
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

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user with a role and, for clinicians, the care units whose patients they see
    ///
    /// The password is read from standard input with --password-stdin, else asked for on the terminal.
    /// It must have 12 to 128 characters and not be one of the most common passwords.
    Add {
        /// Sign-in name: lowercase letters, digits and . _ @ -
        username: String,
        /// Name shown in the portal (default: the username)
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_enum)]
        role: Role,
        /// A care unit code the user works on; repeat for several
        #[arg(long = "unit", value_name = "CODE")]
        units: Vec<String>,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
        /// Where alert notices are emailed
        #[arg(long)]
        email: Option<String>,
    },
    /// Set the address alert notices are emailed to ("none" removes it)
    SetEmail { username: String, email: String },
    /// List users with their role, units and status
    List,
    /// Disable a user: they cannot sign in, and their sessions end at once
    Disable { username: String },
    /// Set a user's password; unlocks the account and ends its sessions
    SetPassword {
        username: String,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove a user's second factor and recovery codes (a lost phone); they enrol again at their
    /// next sign-in if their role requires one. Ends their sessions
    ResetMfa { username: String },
}

#[derive(Debug, Subcommand)]
pub enum UnitCommand {
    /// Add a care unit; CODE is what encounters name as their unit
    Add {
        code: String,
        #[arg(long)]
        name: String,
    },
    /// List care units
    List,
    /// How long a critical alert of the unit may stay unacknowledged before its escalation
    /// contacts are told, and how often again (seconds; default 1800 and 3600)
    Escalation {
        code: String,
        #[arg(long, value_name = "SECONDS")]
        after: u64,
        #[arg(long, value_name = "SECONDS")]
        repeat: u64,
    },
    /// Make a member of the unit one of its escalation contacts (or, with --remove, no longer)
    Contact {
        code: String,
        username: String,
        #[arg(long)]
        remove: bool,
    },
    /// Assign a patient to a care unit explicitly, besides the unit of their current or last encounter
    Assign {
        code: String,
        /// The patient's FHIR logical id; repeat for several (a community team's caseload)
        #[arg(long = "patient", required = true)]
        patients: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a system: its public keys (JWKS) and the scopes it may ask for; prints its client id
    ///
    /// The system then gets access tokens from POST /auth/token with grant_type=client_credentials and
    /// a client assertion (a JWT signed RS384 or ES384 with one of these keys, iss = sub = the client id,
    /// aud = the token URL). Scopes look like system/Patient.read, system/*.read or system/*.*.
    Add {
        #[arg(long)]
        name: String,
        /// A JSON Web Key Set file with the system's public keys (each with a kid)
        #[arg(long, value_name = "FILE")]
        jwks: PathBuf,
        /// Space-separated scopes, for example "system/Patient.read system/Observation.read"
        #[arg(long)]
        scopes: String,
        /// The system is also a CDS Hooks client signing its requests as this issuer (the `iss` of
        /// its JWTs, usually its base URL); it needs system/RiskAssessment.read to get cards
        #[arg(long, value_name = "ISS")]
        cds_issuer: Option<String>,
    },
    /// List registered systems
    List,
    /// Disable a system: its tokens stop working at once
    Disable { client_id: String },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Seal what is unsealed, walk the hash chain, check every anchor, and name the first row that
    /// was altered or removed
    ///
    /// Prints the chain's head (position and hash) and the rows not sealed yet. Every anchor in
    /// audit.anchor_dir is checked: its signature, and that the chain still holds its hash. A head
    /// printed earlier can be checked too with --anchor. Exit status 0 when the chain and every
    /// anchor hold, 1 otherwise.
    Verify {
        /// A head printed earlier, POSITION:HASH, that must still be in the chain
        #[arg(long, value_name = "POSITION:HASH")]
        anchor: Vec<String>,
    },
    /// Seal the rows written since the sealer last ran (servers and workers do it every second)
    Seal,
    /// Anchor the chain's head now: sign it with audit.anchor_key_file into audit.anchor_dir
    Anchor,
    /// Write the audit rows of a period as CSV, for privacy officers
    Export {
        /// Start of the period, inclusive (YYYY-MM-DD or RFC 3339)
        #[arg(long, value_parser = parse_time)]
        from: chrono::DateTime<chrono::Utc>,
        /// End of the period, exclusive (YYYY-MM-DD or RFC 3339)
        #[arg(long, value_parser = parse_time)]
        to: chrono::DateTime<chrono::Utc>,
        /// Write to this file instead of standard output
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
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
