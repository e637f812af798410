//! `vigil alert rule add|list|set|enable|disable|history`.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use diesel::PgConnection;
use vigil_scoring::training::Target;

use super::{audit_cli, cli_actor};
use crate::alerts::rules::{self, Rule};
use crate::alerts::{Thresholds, Tier};
use crate::auth::users::UnitCode;

#[derive(Debug, Subcommand)]
pub enum AlertCommand {
    /// Threshold rules: which probabilities open an alert of which tier
    #[command(subcommand)]
    Rule(RuleCommand),
    /// What clinicians answered: the useful rate per model version, unit and tier
    Feedback {
        /// Only this model version
        #[arg(long)]
        model: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RuleCommand {
    /// Add the rule of a target for every unit, or for one unit (which then wins there)
    Add {
        /// admission or readmission
        #[arg(long)]
        target: String,
        /// A care unit's code; without it, the rule holds for every unit
        #[arg(long)]
        unit: Option<String>,
        #[command(flatten)]
        tiers: TierArgs,
        /// Why (kept in the rule's history)
        #[arg(long)]
        reason: String,
    },
    /// List the rules
    List,
    /// Change a rule's thresholds: those given replace the current ones ("off" removes a tier)
    Set {
        id: i64,
        #[command(flatten)]
        tiers: TierArgs,
        #[arg(long)]
        reason: String,
    },
    /// Stop a rule opening alerts (open ones stay)
    Disable {
        id: i64,
        #[arg(long)]
        reason: String,
    },
    /// Let a disabled rule open alerts again
    Enable {
        id: i64,
        #[arg(long)]
        reason: String,
    },
    /// Every version of a rule: who changed what, when and why
    History { id: i64 },
    /// Candidate thresholds weighed on the latest backtest of the target (`vigil backtest`): the
    /// probabilities at which the highest 1 to 30 % of its events alert, and the current rule's,
    /// with alerts per 100 patient-days, PPV and sensitivity at each
    Suggest {
        /// admission or readmission
        #[arg(long)]
        target: String,
    },
}

/// A threshold as given: a probability, `topN%` (the probability above which the highest N % of
/// the active model's latest scores lie), or "off".
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Given {
    Off,
    Probability(f64),
    TopShare(f64),
}

fn given(raw: &str) -> Result<Given, String> {
    if raw == "off" {
        return Ok(Given::Off);
    }
    if let Some(percent) = raw.strip_prefix("top").and_then(|r| r.strip_suffix('%')) {
        return match percent.parse::<f64>() {
            Ok(p) if p > 0.0 && p < 100.0 => Ok(Given::TopShare(p / 100.0)),
            _ => Err(format!("{raw:?}: the share is a percentage above 0 and below 100, like top5%")),
        };
    }
    raw.parse::<f64>().map(Given::Probability).map_err(|_| format!("{raw:?} is neither a probability, topN% nor off"))
}

#[derive(Debug, Args)]
pub struct TierArgs {
    /// Probability at which an alert is info: a number, topN% of the latest scores, or "off"
    #[arg(long, value_parser = given)]
    info: Option<Given>,
    /// Probability at which an alert is warning: a number, topN% of the latest scores, or "off"
    #[arg(long, value_parser = given)]
    warning: Option<Given>,
    /// Probability at which an alert is critical: a number, topN% of the latest scores, or "off"
    #[arg(long, value_parser = given)]
    critical: Option<Given>,
    /// How far below a tier's threshold a score must fall to leave it (default for a new rule: a
    /// tenth of its lowest threshold)
    #[arg(long)]
    hysteresis: Option<f64>,
}

impl TierArgs {
    /// The thresholds these arguments make, over `current` (a rule being changed).
    fn over(
        &self,
        conn: &mut PgConnection,
        target: Target,
        current: Option<&Thresholds>,
    ) -> anyhow::Result<Thresholds> {
        let mut pick = |given: Option<Given>, tier| -> anyhow::Result<Option<f64>> {
            Ok(match given {
                None => current.and_then(|c| c.get(tier)),
                Some(Given::Off) => None,
                Some(Given::Probability(p)) => Some(p),
                Some(Given::TopShare(share)) => Some(rules::probability_at_share(conn, target, share)?),
            })
        };
        let tiers =
            (pick(self.info, Tier::Info)?, pick(self.warning, Tier::Warning)?, pick(self.critical, Tier::Critical)?);
        // A new rule's hysteresis is a tenth of its lowest threshold: risks of rare events are small
        // numbers, and an absolute margin would swallow them.
        let lowest = tiers.0.or(tiers.1).or(tiers.2).unwrap_or(0.0);
        let hysteresis = self.hysteresis.or(current.map(Thresholds::hysteresis)).unwrap_or(lowest / 10.0);
        Ok(Thresholds::new(tiers.0, tiers.1, tiers.2, hysteresis)?)
    }
}

fn show(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"))
}

#[allow(clippy::print_stdout)] // the command's output for its user
fn print_rule(rule: &Rule) {
    let t = &rule.thresholds;
    println!(
        "{:>4}  {:<11}  {:<12}  info {:>5}  warning {:>5}  critical {:>5}  hysteresis {:.3}  {}  v{} by {} at {}: {}",
        rule.id,
        rule.target.as_str(),
        rule.unit.as_deref().unwrap_or("every unit"),
        show(t.get(Tier::Info)),
        show(t.get(Tier::Warning)),
        show(t.get(Tier::Critical)),
        t.hysteresis(),
        if rule.enabled { "enabled" } else { "DISABLED" },
        rule.version,
        rule.changed_by,
        rule.changed_at.format("%Y-%m-%d %H:%M"),
        rule.reason
    );
}

#[allow(clippy::print_stdout)] // the command's output for its user
fn feedback_report(conn: &mut PgConnection, model: Option<&str>) -> anyhow::Result<ExitCode> {
    let rates = crate::alerts::feedback::useful_rates(conn, model)?;
    audit_cli(conn, "feedback-report", "AlertFeedback", model, None)?;
    if rates.is_empty() {
        println!("no feedback yet");
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:<16} {:<16} {:<9} {:>8} {:>7} {:>7}", "model", "unit", "tier", "answers", "useful", "rate");
    for r in &rates {
        println!(
            "{:<16} {:<16} {:<9} {:>8} {:>7} {:>6.0}%",
            r.model,
            r.unit.as_deref().unwrap_or("-"),
            r.tier,
            r.answers,
            r.useful,
            r.rate() * 100.0
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[allow(clippy::print_stdout)] // the command's output for its user
pub fn run(conn: &mut PgConnection, command: AlertCommand) -> anyhow::Result<ExitCode> {
    let command = match command {
        AlertCommand::Rule(command) => command,
        AlertCommand::Feedback { model } => return feedback_report(conn, model.as_deref()),
    };
    let by = cli_actor();
    let changed = match command {
        RuleCommand::Add { target, unit, tiers, reason } => {
            let target = Target::parse(&target)
                .with_context(|| format!("--target {target:?}: expected admission or readmission"))?;
            let unit = unit.as_deref().map(UnitCode::parse).transpose()?;
            let thresholds = tiers.over(conn, target, None)?;
            rules::add(conn, target, unit.as_ref(), thresholds, &by, &reason)?
        }
        RuleCommand::Set { id, tiers, reason } => {
            let current = rules::get(conn, id)?;
            let thresholds = tiers.over(conn, current.target, Some(&current.thresholds))?;
            rules::set(conn, id, thresholds, &by, &reason)?
        }
        RuleCommand::Disable { id, reason } => rules::set_enabled(conn, id, false, &by, &reason)?,
        RuleCommand::Enable { id, reason } => rules::set_enabled(conn, id, true, &by, &reason)?,
        RuleCommand::List => {
            for rule in rules::list(conn)? {
                print_rule(&rule);
            }
            return Ok(ExitCode::SUCCESS);
        }
        RuleCommand::Suggest { target } => {
            let target = Target::parse(&target)
                .with_context(|| format!("--target {target:?}: expected admission or readmission"))?;
            suggest(conn, target)?;
            return Ok(ExitCode::SUCCESS);
        }
        RuleCommand::History { id } => {
            for v in rules::history(conn, id)? {
                println!(
                    "v{:<3} {}  info {:>5}  warning {:>5}  critical {:>5}  hysteresis {:.3}  {}  by {}: {}",
                    v.version,
                    v.changed_at.format("%Y-%m-%d %H:%M:%S"),
                    show(v.info),
                    show(v.warning),
                    show(v.critical),
                    v.hysteresis,
                    if v.enabled { "enabled" } else { "disabled" },
                    v.changed_by,
                    v.reason
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
    };
    audit_cli(conn, "alert-rule-change", "AlertRule", Some(&changed.id.to_string()), None)?;
    print_rule(&changed);
    Ok(ExitCode::SUCCESS)
}

/// Shares of the events alerted on that a rule is usually drawn from.
const SHARES: [f64; 6] = [0.01, 0.02, 0.05, 0.10, 0.20, 0.30];

#[allow(clippy::print_stdout)] // the command's output for its user
fn suggest(conn: &mut PgConnection, target: Target) -> anyhow::Result<()> {
    let backtest = vigil_scoring::backtests::latest(conn, target)?.with_context(|| {
        format!(
            "no backtest of a {} model yet: run `vigil backtest --target {}` first",
            target.as_str(),
            target.as_str()
        )
    })?;
    println!(
        "backtest {} of {}: {} events from {} to {}, {} positive",
        backtest.id,
        backtest.model_version,
        backtest.labels.len(),
        backtest.period_from.format("%Y-%m-%d"),
        backtest.period_to.format("%Y-%m-%d"),
        backtest.labels.iter().filter(|l| **l).count()
    );
    // Burden weighed against what clinicians said of this model's alerts so far.
    let judged = crate::alerts::feedback::useful_rates(conn, Some(&backtest.model_version))?;
    let (answers, useful) = judged.iter().fold((0, 0), |(a, u), r| (a + r.answers, u + r.useful));
    let useful_rate = (answers > 0).then(|| useful as f64 / answers as f64);
    match useful_rate {
        None => println!(
            "no clinician feedback on {}'s alerts yet: the burden below is not weighed against usefulness",
            backtest.model_version
        ),
        Some(rate) => println!(
            "clinicians found {useful} of {answers} answered alerts of {} useful ({:.0} %): the last column is the \
             alerts per 100 patient-days they would find useful at that rate",
            backtest.model_version,
            rate * 100.0
        ),
    }
    println!(
        "{:<28} {:>9} {:>8} {:>22} {:>7} {:>11} {:>14}",
        "candidate", "threshold", "alerts", "per 100 patient-days", "PPV", "sensitivity", "useful per 100"
    );
    let mut candidates: Vec<(String, f64)> = SHARES
        .iter()
        .filter_map(|s| backtest.probability_at_share(*s).map(|p| (format!("top {:.0}%", s * 100.0), p)))
        .collect();
    for rule in rules::list(conn)?.into_iter().filter(|r| r.target == target) {
        let scope = rule.unit.clone().unwrap_or_else(|| "every unit".to_owned());
        for tier in Tier::ALL {
            if let Some(p) = rule.thresholds.get(tier) {
                candidates.push((format!("rule {} {tier} ({scope})", rule.id), p));
            }
        }
    }
    for (name, threshold) in candidates {
        let at = backtest.at(threshold);
        let useful =
            useful_rate.map_or_else(|| "-".to_owned(), |r| format!("{:.2}", at.alerts_per_100_patient_days * r));
        println!(
            "{name:<28} {threshold:>9.4} {:>8} {:>22.2} {:>7.3} {:>11.3} {useful:>14}",
            at.alerts, at.alerts_per_100_patient_days, at.ppv, at.sensitivity
        );
    }
    Ok(())
}
