use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Utc};
use diesel::PgConnection;
use vigil_ehr_adapter::fhir_time::parse_instant;
use vigil_scoring::model::Algorithm;
use vigil_scoring::training::Target;

use super::cli_actor;
use super::ingest::progress_bar;
use crate::cli::{AlgorithmArg, TargetArg, TrainArgs};
use crate::retrain::{self, Plan};

pub fn target(arg: TargetArg) -> Target {
    match arg {
        TargetArg::Admission => Target::Admission,
        TargetArg::Readmission => Target::Readmission,
    }
}

fn instant(flag: &str, raw: Option<&String>) -> anyhow::Result<Option<DateTime<Utc>>> {
    raw.map(|raw| parse_instant(raw).with_context(|| format!("{flag} {raw}: not a date or RFC 3339 time"))).transpose()
}

#[allow(clippy::print_stdout)] // the command's output for its user
pub fn run(conn: &mut PgConnection, args: TrainArgs) -> anyhow::Result<ExitCode> {
    let plan = Plan {
        target: target(args.target),
        learners: match args.algorithm {
            AlgorithmArg::Auto => vec![Algorithm::LogisticRegression, Algorithm::GradientBoosting],
            AlgorithmArg::LogisticRegression => vec![Algorithm::LogisticRegression],
            AlgorithmArg::GradientBoosting => vec![Algorithm::GradientBoosting],
        },
        as_of: instant("--as-of", args.as_of.as_ref())?,
        since: instant("--since", args.since.as_ref())?,
        window_days: None,
        until: instant("--until", args.until.as_ref())?,
        test_days: args.test_days,
        threshold: args.threshold,
        max_examples: args.max_examples,
        shadow: args.shadow,
    };
    let bar = progress_bar();
    bar.set_message("examples");
    let trained = retrain::train(conn, &plan, &cli_actor(), |n| bar.set_position(n as u64));
    bar.finish_and_clear();
    let trained = trained?;
    println!(
        "{} examples of {} (newest data {}, cutoff {}), {} excluded on clinicians' answers",
        trained.examples,
        plan.target.as_str(),
        trained.data_end.format("%Y-%m-%d"),
        trained.cutoff.format("%Y-%m-%d"),
        trained.report.excluded_by_feedback
    );
    print!("{}", trained.report.to_text());
    let version = trained.version;
    if plan.shadow {
        println!(
            "registered {version} and put it in shadow; `vigil model promote {version}` judges it once its outcomes mature"
        );
    } else {
        println!("registered {version} as a candidate; `vigil model activate {version}` makes it score");
    }
    Ok(ExitCode::SUCCESS)
}
