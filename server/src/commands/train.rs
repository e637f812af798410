use std::process::ExitCode;

use anyhow::Context;
use diesel::PgConnection;
use vigil_ehr_adapter::fhir_time::parse_instant;
use vigil_scoring::model::Algorithm;
use vigil_scoring::training::{self, Settings, Target, default_cutoff};
use vigil_scoring::{exclusions, load, registry};

use super::ingest::progress_bar;
use super::{audit_cli, cli_actor};
use crate::cli::{AlgorithmArg, TargetArg, TrainArgs};

pub fn target(arg: TargetArg) -> Target {
    match arg {
        TargetArg::Admission => Target::Admission,
        TargetArg::Readmission => Target::Readmission,
    }
}

#[allow(clippy::print_stdout)] // the command's output for its user
pub fn run(conn: &mut PgConnection, args: TrainArgs) -> anyhow::Result<ExitCode> {
    let target = target(args.target);
    let data_end = load::data_end(conn)?.context("there is no clinical data: load some with `vigil ingest` first")?;
    let cutoff = match &args.until {
        Some(raw) => parse_instant(raw).with_context(|| format!("--until {raw}: not a date or RFC 3339 time"))?,
        None => default_cutoff(data_end, args.test_days),
    };
    let threshold = args.threshold.unwrap_or(match target {
        Target::Readmission => 0.30,
        Target::Admission => 0.05,
    });
    anyhow::ensure!(threshold > 0.0 && threshold < 1.0, "--threshold must be between 0 and 1");
    let bar = progress_bar();
    bar.set_message("examples");
    let examples = load::examples(conn, target, load::admission_from(cutoff), data_end, args.max_examples, |n| {
        bar.set_position(n as u64)
    })?;
    bar.finish_and_clear();
    // Clinicians' answers that say an event should not count take it out of training and evaluation.
    let (examples, excluded) = exclusions::apply(examples, &exclusions::load(conn, target)?);
    println!(
        "{} examples of {} (newest data {}, cutoff {}), {excluded} excluded on clinicians' answers",
        examples.len(),
        target.as_str(),
        data_end.format("%Y-%m-%d"),
        cutoff.format("%Y-%m-%d")
    );
    let algorithm = match args.algorithm {
        AlgorithmArg::LogisticRegression => Algorithm::LogisticRegression,
        AlgorithmArg::GradientBoosting => Algorithm::GradientBoosting,
    };
    let settings = Settings { target, algorithm, cutoff, threshold, threads: None };
    let (model, mut report) = training::train(&examples, &settings)?;
    report.excluded_by_feedback = excluded;
    print!("{}", report.to_text());
    let actor = cli_actor();
    registry::ensure_baselines(conn, &actor)?;
    let version = registry::register(conn, &model, &report, &actor)?;
    audit_cli(conn, "train", "Model", Some(&version), None)?;
    println!("registered {version} as a candidate; `vigil model activate {version}` makes it score");
    Ok(ExitCode::SUCCESS)
}
