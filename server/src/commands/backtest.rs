//! `vigil backtest`: a model's point-in-time predictions for every index event of a period, beside
//! LACE and HOSPITAL and what happened, as CSV; and the metrics on the terminal.

use std::process::ExitCode;

use anyhow::Context;
use diesel::PgConnection;
use vigil_ehr_adapter::fhir_time::parse_instant;
use vigil_scoring::model::Model;
use vigil_scoring::training::{self, Target, discrimination, evaluate, month_starts};
use vigil_scoring::{load, registry};

use super::audit_cli;
use super::ingest::progress_bar;
use super::train::target;
use crate::cli::BacktestArgs;

#[allow(clippy::print_stdout)] // the command's output for its user
pub fn run(conn: &mut PgConnection, args: BacktestArgs) -> anyhow::Result<ExitCode> {
    let target = target(args.target);
    let from = parse_instant(&args.from).with_context(|| format!("--from {}: not a date or time", args.from))?;
    let to = parse_instant(&args.to).with_context(|| format!("--to {}: not a date or time", args.to))?;
    anyhow::ensure!(from < to, "--from must be before --to");
    let (entry, artifact) = match &args.model {
        Some(version) => registry::artifact(conn, version)?,
        None => registry::active(conn, target)?
            .with_context(|| format!("no {} model is active; name one with --model", target.as_str()))?,
    };
    anyhow::ensure!(entry.target == target.as_str(), "{} is a {} model", entry.version, entry.target);
    let model = Model::from_json(&artifact)?;
    let data_end = load::data_end(conn)?.context("there is no clinical data")?;
    // Admission: each patient on the first of each month whose 30-day window ends before --to.
    let times = match target {
        Target::Admission => month_starts(from, to).into_iter().filter(|t| *t + training::horizon() <= to).collect(),
        Target::Readmission => Vec::new(),
    };
    let file = std::fs::File::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let mut csv = csv::Writer::from_writer(std::io::BufWriter::new(file));
    csv.write_record(["patient_id", "encounter_id", "index_time", "probability", "lace", "hospital", "label"])?;
    let (mut p, mut y, mut lace, mut hospital) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let bar = progress_bar();
    bar.set_message("index events");
    load::for_each_chunk(conn, load::CHUNK, |histories| {
        for history in histories {
            let events: Vec<_> = training::examples(&history, target, data_end, &times)
                .into_iter()
                .filter(|e| e.index_time >= from && e.index_time < to)
                .collect();
            if events.is_empty() {
                continue;
            }
            let rows: Vec<Vec<f64>> = events.iter().map(|e| e.features.clone()).collect();
            for (event, probability) in events.iter().zip(model.probabilities(&rows)) {
                let opt = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_default();
                csv.write_record([
                    event.patient_fhir_id.clone(),
                    event.encounter_fhir_id.clone().unwrap_or_default(),
                    event.index_time.to_rfc3339(),
                    format!("{probability:.6}"),
                    opt(event.lace),
                    opt(event.hospital),
                    u8::from(event.label).to_string(),
                ])?;
                p.push(probability);
                y.push(event.label);
                lace.extend(event.lace.map(f64::from));
                hospital.extend(event.hospital.map(f64::from));
            }
        }
        bar.set_position(y.len() as u64);
        Ok::<_, anyhow::Error>(())
    })?;
    csv.flush()?;
    bar.finish_and_clear();
    println!(
        "{} {} events from {} to {} with {} ({}): {} positive; written to {}",
        y.len(),
        target.as_str(),
        from.format("%Y-%m-%d"),
        to.format("%Y-%m-%d"),
        entry.version,
        entry.algorithm,
        y.iter().filter(|l| **l).count(),
        args.out.display()
    );
    if y.iter().any(|l| *l) && y.iter().any(|l| !*l) {
        println!("{}", evaluate(&p, &y).line(&entry.version));
        for (name, points) in [("LACE (points)", &lace), ("HOSPITAL (points)", &hospital)] {
            if points.len() == y.len() {
                let (auroc, auprc) = discrimination(points, &y);
                if let Some((v, lo, hi)) = auroc {
                    println!("  {name:<22} AUROC {v:.3} [{lo:.3}, {hi:.3}]   AUPRC {:.3}", auprc.unwrap_or(0.0));
                }
            }
        }
    }
    // Kept for `vigil alert rule suggest`.
    vigil_scoring::backtests::store(conn, entry.id, (from, to), &p, &y, &super::cli_actor())?;
    audit_cli(conn, "backtest", "Model", Some(&entry.version), None)?;
    Ok(ExitCode::SUCCESS)
}
