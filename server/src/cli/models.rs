//! The command line's model subcommands: training, backtests, scoring runs, the registry and
//! monitoring.

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TargetArg {
    Admission,
    Readmission,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AlgorithmArg {
    /// Both learners, the better by time-ordered cross-validation in the training window kept
    Auto,
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
    #[arg(long, value_enum, default_value = "auto")]
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
    Activate {
        version: String,
        /// Why a model whose calibration slope on its test period is outside 0.8–1.2 may score
        /// anyway (kept with the status change)
        #[arg(long = "override", value_name = "REASON")]
        override_reason: Option<String>,
    },
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
