//! `vigil model monitor`: each model's weekly monitoring series as a table, its drift per feature
//! and its findings; `--run` makes a pass first, as the worker does on its schedule.

use std::process::ExitCode;

use diesel::PgConnection;
use vigil_scoring::drift;
use vigil_scoring::monitoring::Figures;
use vigil_scoring::monitoring::stored::{self, Stored};
use vigil_scoring::promotion::store::{Decision, Verdict};
use vigil_scoring::registry::{self, Entry};

use super::cli_actor;
use crate::cli::MonitorArgs;
use crate::config::Settings;

fn num(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.digits$}"))
}

/// One line of the series.
pub fn line(week: &Stored) -> String {
    let f: &Figures = &week.figures;
    let auroc = f.auroc.map_or_else(|| "-".to_owned(), |(a, low, high)| format!("{a:.3} [{low:.2},{high:.2}]"));
    let drifted = f.psi_features.first().map_or_else(|| "-".to_owned(), |(name, psi)| format!("{name} {psi:.2}"));
    format!(
        "{}  {:>6} {:>6} {:>5}  {:<20} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6}  {}",
        week.week,
        f.scores,
        f.matured,
        f.events,
        auroc,
        num(f.estimated.and_then(|e| e.auroc), 3),
        num(f.calibration_slope, 2),
        num(f.brier, 3),
        num(f.ppv, 2),
        num(f.sensitivity, 2),
        num(f.alerts_per_100_patient_days, 2),
        num(f.useful_rate, 2),
        num(f.psi_prediction, 2),
        drifted
    )
}

pub const HEADER: &str = "week         scores matured events  AUROC [95% CI]       est.   slope  Brier    PPV   sens  al/100 useful PSI(p)  largest feature PSI";

/// A promotion decision as `vigil model promote` prints it.
pub fn decision_text(d: &Decision) -> String {
    let mut out = format!(
        "{} against {} on {} matured events of the shadow period ({} positive):\n",
        d.challenger.version, d.champion.version, d.comparison.events, d.comparison.positives
    );
    for check in &d.comparison.checks {
        out.push_str(&format!(
            "  {:<5} {:<15} {}\n",
            if check.passed { "pass" } else { "FAIL" },
            check.name,
            check.detail
        ));
    }
    out.push_str(&match d.verdict {
        Verdict::Promoted => format!(
            "promoted: {} is the active {} model; `vigil model rollback --target {}` restores {}\n",
            d.challenger.version, d.challenger.target, d.challenger.target, d.champion.version
        ),
        Verdict::Forced => format!(
            "promoted by force, the checks overridden: {} is the active {} model\n",
            d.challenger.version, d.challenger.target
        ),
        Verdict::Kept => {
            format!("kept: {} stays the active model; {} stays in shadow\n", d.champion.version, d.challenger.version)
        }
    });
    out
}

#[allow(clippy::print_stdout)] // the command's output for its user
pub fn run(conn: &mut PgConnection, settings: &Settings, args: MonitorArgs) -> anyhow::Result<ExitCode> {
    if args.run {
        match crate::monitoring::run_once(conn, &settings.monitoring, settings.alerts.timing(), &cli_actor())? {
            Some(s) => println!(
                "outcomes: {} new scores, {} matured, {} still open; {} models over {} weeks; {} new findings",
                s.outcomes.new,
                s.outcomes.matured,
                s.outcomes.open,
                s.models,
                s.weeks,
                s.findings.len()
            ),
            None => println!("another monitoring pass is under way; showing the figures as they stand"),
        }
    }
    let models: Vec<Entry> = match &args.model {
        Some(version) => vec![registry::show(conn, version)?],
        None => {
            registry::list(conn)?.into_iter().filter(|e| matches!(e.status.as_str(), "active" | "shadow")).collect()
        }
    };
    for entry in models {
        let validation = entry.test_auroc().map_or_else(String::new, |a| format!(", AUROC {a:.3} at validation"));
        let unit = args.unit.as_deref().map_or_else(|| "all units".to_owned(), |u| format!("unit {u}"));
        println!("\n{} ({} {}, {}{validation}), {unit}", entry.version, entry.target, entry.algorithm, entry.status);
        let series = stored::series(conn, entry.id, args.unit.as_deref())?;
        if series.is_empty() {
            println!("  no monitored week yet (scores need a monitoring pass: `vigil model monitor --run`)");
            continue;
        }
        println!("{HEADER}");
        for week in &series {
            println!("{}", line(week));
        }
        if let Some(newest) = series.last().filter(|_| args.features) {
            println!("drift per feature, week of {}:", newest.week);
            for (name, psi) in &newest.figures.psi_features {
                println!("  {name:<32} {psi:>6.3}  {}", drift::level(*psi));
            }
        }
        for f in stored::findings(conn, entry.id)? {
            println!("finding, week of {}: {}: {}", f.week, f.kind, f.detail);
        }
    }
    Ok(ExitCode::SUCCESS)
}
