use std::process::ExitCode;

use anyhow::Context;
use chrono::Duration;
use diesel::PgConnection;
use vigil_ehr_adapter::fhir_time::parse_instant;
use vigil_scoring::model::Algorithm;
use vigil_scoring::training::{self, Example, Settings, Target, default_cutoff, month_starts};
use vigil_scoring::{load, registry};

use super::ingest::progress_bar;
use super::{audit_cli, cli_actor};
use crate::cli::{AlgorithmArg, TargetArg, TrainArgs};

/// Patients read per round trip.
const CHUNK: i64 = 2000;
/// Years of monthly admission index times before the newest data.
const ADMISSION_YEARS: i64 = 3;

pub fn target(arg: TargetArg) -> Target {
    match arg {
        TargetArg::Admission => Target::Admission,
        TargetArg::Readmission => Target::Readmission,
    }
}

/// An even, deterministic sample: SplitMix64 of the patient and month.
fn sampled(patient: i64, month: usize, stride: u64) -> bool {
    let mut z = (patient as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (month as u64);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)).is_multiple_of(stride)
}

/// Every example of `target` in the store, read in chunks of patients.
pub fn collect_examples(
    conn: &mut PgConnection,
    target: Target,
    data_end: chrono::DateTime<chrono::Utc>,
    max_examples: u64,
) -> anyhow::Result<Vec<Example>> {
    let times = match target {
        Target::Admission => {
            month_starts(data_end - Duration::days(365 * ADMISSION_YEARS), data_end - training::horizon())
        }
        Target::Readmission => Vec::new(),
    };
    let patients: i64 = {
        use diesel::prelude::*;
        use vigil_store::schema::patients;
        patients::table.filter(patients::version.gt(0)).count().get_result(conn)?
    };
    let stride = ((patients as u64 * times.len() as u64) / max_examples.max(1)).max(1);
    let bar = progress_bar();
    bar.set_message("reading records");
    let mut examples = Vec::new();
    load::for_each_chunk(conn, CHUNK, |histories| {
        for history in histories {
            let chosen: Vec<_> = times
                .iter()
                .enumerate()
                .filter(|(month, _)| sampled(history.patient_id, *month, stride))
                .map(|(_, t)| *t)
                .collect();
            examples.extend(training::examples(&history, target, data_end, &chosen));
        }
        bar.set_position(examples.len() as u64);
        Ok::<_, anyhow::Error>(())
    })?;
    bar.finish_and_clear();
    Ok(examples)
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
    let examples = collect_examples(conn, target, data_end, args.max_examples)?;
    println!(
        "{} examples of {} (newest data {}, cutoff {})",
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
    let (model, report) = training::train(&examples, &settings)?;
    print!("{}", report.to_text());
    let actor = cli_actor();
    registry::ensure_baselines(conn, &actor)?;
    let version = registry::register(conn, &model, &report, &actor)?;
    audit_cli(conn, "train", "Model", Some(&version), None)?;
    println!("registered {version} as a candidate; `vigil model activate {version}` makes it score");
    Ok(ExitCode::SUCCESS)
}
