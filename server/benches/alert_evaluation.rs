//! `make bench` (alert_evaluation): what evaluating alerts adds to scoring runs that store
//! 1,000,000 scores (`VIGIL_BENCH_ALERT_SCORES`). A synthetic population of
//! `VIGIL_BENCH_ALERT_PATIENTS` (default 50,000) loaded through ingestion, a learned model of each
//! target and the three baselines; the rules `make run` installs (warning at the top 5 %, critical at
//! the top 1 % of each target's scores) and a nurse of every ward to be told. Runs of everyone as of
//! successive days (as the nightly run does) until the scores reach the count, timed without alert
//! evaluation; then the alert engine evaluates every one of those scores as the worker would after
//! each run (opening, updating and ending alerts, their history and outbox notices), timed. The
//! limit is the runs themselves: the figure is the time evaluation adds, as a share of theirs.

#![allow(clippy::print_stdout, clippy::expect_used)]

use std::time::Instant;

use chrono::Duration;
use diesel::connection::SimpleConnection;
use vigil::alerts::engine::{self, Timing};
use vigil_scoring::run::{DEFAULT_CHUNK, Runner, Scope};
use vigil_store::testing::TestDb;

mod support;
use support::population;
use support::vigil;

const WARDS: [&str; 5] = ["ward-4W", "ward-5E", "ward-6N", "ward-3S", "ward-2P"];

fn env_or(name: &str, default: i64) -> i64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let patients = env_or("VIGIL_BENCH_ALERT_PATIENTS", 50_000);
    let wanted = env_or("VIGIL_BENCH_ALERT_SCORES", 1_000_000);
    let db = TestDb::migrated();
    let mut conn = db.connect();

    // The population, the models, the ward and its nurse (not timed).
    let data_end = population(&mut conn, u64::try_from(patients).expect("patients"), 3);
    support::active_models(&mut conn, data_end);
    let mut nurse = vec!["user", "add", "nurse", "--role", "clinician", "--email", "nurse@hospital.example"];
    for ward in WARDS {
        vigil(&db, &["unit", "add", ward, "--name", ward], "");
        nurse.extend(["--unit", ward]);
    }
    nurse.push("--password-stdin");
    vigil(&db, &nurse, "a long and unusual bench passphrase\n");
    conn.batch_execute("VACUUM ANALYZE").expect("analyze");

    // The runs, without alerts, one day after another up to the newest data.
    let mut readers = vigil_scoring::run::open_readers(db.url()).expect("readers");
    let mut runner = Runner { conn: &mut conn, readers: &mut readers, by: "service:bench", chunk: DEFAULT_CHUNK };
    let first_as_of = data_end - Duration::days(30);
    let started = Instant::now();
    let first = runner.run(Scope::All, first_as_of, |_| {}).expect("run");
    let mut runs_secs = started.elapsed().as_secs_f64();
    // The rules take their thresholds from the first run's scores, as `make run` does.
    for target in ["admission", "readmission"] {
        vigil(
            &db,
            &[
                "alert",
                "rule",
                "add",
                "--target",
                target,
                "--warning",
                "top5%",
                "--critical",
                "top1%",
                "--reason",
                "bench",
            ],
            "",
        );
    }
    let per_run = first.scores.max(1);
    let runs = (wanted + per_run - 1) / per_run;
    let mut scores = first.scores;
    for day in 1..runs {
        let started = Instant::now();
        scores += runner.run(Scope::All, first_as_of + Duration::days(day), |_| {}).expect("run").scores;
        runs_secs += started.elapsed().as_secs_f64();
    }

    // The alerts of every one of those scores, as the worker evaluates them after each run.
    let started = Instant::now();
    let evaluated = engine::evaluate_all(&mut conn, Timing::default()).expect("evaluate");
    let evaluation_secs = started.elapsed().as_secs_f64();
    assert_eq!(i64::try_from(evaluated.scores).expect("count"), scores, "every score evaluated");

    println!(
        "alert evaluation over {scores} scores: {runs} runs of {patients} patients (two learned models, three baselines), \
         rules at the top 5 % and 1 %"
    );
    println!("  runs without alerts (limit) {runs_secs:>8.1} s  {:>9.0} scores/s", scores as f64 / runs_secs);
    println!(
        "  alert evaluation            {evaluation_secs:>8.1} s  {:>9.0} scores/s: {} opened, {} updated, {} ended, {} notices",
        scores as f64 / evaluation_secs,
        evaluated.opened,
        evaluated.updated,
        evaluated.ended,
        evaluated.notices
    );
    println!("  added time                  {:>8.1} % of the runs' time", 100.0 * evaluation_secs / runs_secs);
}
