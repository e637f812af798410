use std::process::ExitCode;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use vigil_ehr_adapter::synth::{self, Format, Options};

use crate::cli::{SynthArgs, SynthFormat};

#[allow(clippy::print_stdout)] // the command's output for its user
pub fn run(args: &SynthArgs) -> anyhow::Result<ExitCode> {
    let options = Options {
        patients: args.patients,
        seed: args.seed,
        years: args.years,
        end: args.end,
        format: match args.format {
            SynthFormat::Ndjson => Format::Ndjson,
            SynthFormat::Bundle => Format::Bundle,
        },
        drift_from: args.drift_from,
    };
    let started = Instant::now();
    let bar = ProgressBar::new(args.patients);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {human_pos}/{human_len} patients, {per_sec}, eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let written = synth::generate(&options, &args.out, |done| bar.set_position(done))?;
    bar.finish_and_clear();
    for (ty, n) in &written {
        println!("{ty:<20} {n:>10}");
    }
    println!(
        "{} patients, {} resources in {} ({:.1} s)",
        args.patients,
        written.values().sum::<u64>(),
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
