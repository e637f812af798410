//! `make bench` (monitoring): the model monitoring job over `VIGIL_BENCH_MONITOR_SCORES` stored
//! scores (default 1,000,000) with matured outcomes, as the worker's cron runs it. The scores come
//! from weekly scoring runs over `VIGIL_BENCH_MONITOR_PATIENTS` synthetic patients (default
//! 20,000) loaded through ingestion, with a learned model of each target and the three
//! baselines; their outcomes are matured by the job's own first pass (timed apart). Beside it, the
//! limit measured in the same run: Postgres `COPY` reading the same score and outcome rows.

#![allow(clippy::print_stdout, clippy::expect_used)]

use std::time::Instant;

use chrono::Duration;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use vigil_scoring::monitoring::job::{self, Settings};
use vigil_scoring::outcomes;
use vigil_scoring::run::{DEFAULT_CHUNK, Runner, Scope};
use vigil_store::schema::{score_outcomes, scores};
use vigil_store::testing::TestDb;

mod support;
use support::{copy_out, copy_query_out, peak_rss_mib, population, reset_peak_rss, rss_mib};

fn env(name: &str, default: i64) -> i64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn stored(conn: &mut PgConnection) -> i64 {
    scores::table.count().get_result(conn).expect("count")
}

fn main() {
    let target = env("VIGIL_BENCH_MONITOR_SCORES", 1_000_000);
    let patients = env("VIGIL_BENCH_MONITOR_PATIENTS", 20_000) as u64;
    let db = TestDb::migrated();
    let mut conn = db.connect();

    // The population, the models, and weekly runs back from the data's end until the scores are
    // there (not timed).
    let data_end = population(&mut conn, patients, 5);
    support::active_models(&mut conn, data_end);
    conn.batch_execute("VACUUM ANALYZE").expect("analyze");
    let mut readers = vigil_scoring::run::open_readers(db.url()).expect("readers");
    let mut runs = 0;
    while stored(&mut conn) < target {
        let as_of = data_end - Duration::weeks(runs);
        Runner { conn: &mut conn, readers: &mut readers, by: "service:bench", chunk: DEFAULT_CHUNK }
            .run(Scope::All, as_of, |_| {})
            .expect("run");
        runs += 1;
    }
    let n = stored(&mut conn);
    conn.batch_execute("VACUUM ANALYZE").expect("analyze");

    // The job's first pass: every score's outcome, as far as the data tells it.
    let started = Instant::now();
    let matured = outcomes::mature(&mut conn, 1000).expect("outcomes");
    let maturing = started.elapsed().as_secs_f64();
    conn.batch_execute("VACUUM ANALYZE").expect("analyze");

    // Ours: the whole job (its outcome pass now finds nothing new), every model's weekly series.
    reset_peak_rss();
    let before = rss_mib();
    let started = Instant::now();
    let summary = job::run(&mut conn, Settings::default(), |_, _| Ok(())).expect("monitoring");
    let ours = started.elapsed().as_secs_f64();
    let peak = peak_rss_mib();

    // The limit: COPY reading the rows the job reads (each table on a connection of its own).
    let mut outcome_reader = db.connect();
    let started = Instant::now();
    let mut bytes = copy_query_out(
        db.url(),
        "SELECT id, model_id, patient_id, encounter_fhir_id, as_of, probability, points, features FROM scores",
        std::io::sink(),
    );
    let outcome_columns = (score_outcomes::score_id, score_outcomes::unit, score_outcomes::outcome);
    bytes +=
        copy_out(diesel::copy_to(outcome_columns).load_raw(&mut outcome_reader).expect("outcomes"), std::io::sink());
    let limit = started.elapsed().as_secs_f64();

    println!(
        "model monitoring, {n} stored scores of {patients} patients from {runs} weekly runs as of {} back",
        data_end.date_naive()
    );
    println!(
        "  outcome pass            {n:>9} scores, {} matured, {} open in {maturing:>6.1} s",
        matured.matured, matured.open
    );
    println!(
        "  monitoring job          {n:>9} scores, {} models, {} model-weeks in {ours:>6.1} s  {:>8.0} scores/s",
        summary.models,
        summary.weeks,
        n as f64 / ours
    );
    println!(
        "  COPY, same rows (limit) {n:>9} scores and their outcomes read ({:.0} MiB) in {limit:>6.1} s",
        bytes as f64 / 1048576.0
    );
    println!("  ratio                   {:>9.2} of COPY's rate", limit / ours);
    println!(
        "  peak memory             {peak:>9.0} MiB during the job, {:.0} MiB above the {before:.0} MiB held before it",
        peak - before
    );
}
