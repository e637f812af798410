//! `make bench` (scoring_run): a whole scoring run from patients' records to stored scores, by
//! `vigil score` itself, on `VIGIL_BENCH_RUN_PATIENTS` synthetic patients (default 50,000, with
//! `VIGIL_BENCH_RUN_YEARS` of history, default 3) loaded through ingestion, with a learned model of
//! each target and the three baselines. Beside it, the limit measured in the same run: Postgres
//! `COPY` reading the same record rows (the columns the run reads, the rows its filters keep) and
//! writing the same score rows. Then the resident memory of the processes a deployment runs with
//! that population loaded: `vigil score` during its run, `vigil worker` while it scores everyone
//! the change feed names and evaluates their alerts, `vigil serve` answering reads and searches.
//!
//! A million patients take a quarter of an hour to load: `VIGIL_BENCH_KEEP=1` keeps the loaded
//! population for the next run (see `support/kept.rs`).
//!
//! The limit is a little generous to Postgres: it reads the labs of one window for everyone, where
//! a chunk holding a long stay reads from that stay's admission.

#![allow(clippy::print_stdout, clippy::expect_used)]

use std::time::Instant;

use chrono::Duration;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use vigil_scoring::features::{LABS, LOOKBACK_DAYS};
use vigil_scoring::labels::HORIZON_DAYS;
use vigil_scoring::load;
use vigil_store::schema::{encounters, medication_requests, observations, procedures};
use vigil_store::testing::TestDb;

mod support;
use support::processes::{self, Peak};
use support::{SavedScores, copy_out, count, kept};

fn main() {
    let setting = |name: &str, default: u64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let patients = setting("VIGIL_BENCH_RUN_PATIENTS", 50_000);
    let years = u32::try_from(setting("VIGIL_BENCH_RUN_YEARS", 3)).expect("years");
    // The population and the models (not timed).
    let (db, data_end) = kept::population(patients, 3, years, |conn, data_end| {
        support::active_models(conn, data_end);
        conn.batch_execute("VACUUM ANALYZE").expect("analyze");
    });
    let mut conn = db.connect();
    // The load's audit rows join the chain now, as `vigil ingest` seals what it wrote before it
    // exits; else the first command to exit (the one timed) would seal them all.
    vigil_store::audit::chain::seal_all(&mut conn).expect("seal");

    // Ours: the run as an operator starts it.
    let as_of = data_end.to_rfc3339();
    let started = Instant::now();
    let run = processes::peak_of(&db, &["score", "--as-of", &as_of], |_| false);
    let whole = started.elapsed().as_secs_f64();
    // The run itself, from its row (records to stored scores); `vigil score` then evaluates the
    // alerts of its scores, which the alert benches measure.
    let run_ms = count(
        &db,
        "SELECT (extract(epoch FROM finished_at - started_at) * 1000)::INT8 AS n FROM scoring_runs \
         WHERE status = 'done' ORDER BY id DESC LIMIT 1",
    );
    let ours = run_ms as f64 / 1000.0;
    let (n, scored) = (
        count(&db, "SELECT count(*) AS n FROM patients WHERE version > 0"),
        count(&db, "SELECT count(*) AS n FROM scores"),
    );

    // The limit. Only the rows the run reads stay in the record tables (not timed): the labs and
    // prescriptions of its window, the encounters and procedures its filters keep.
    let since = data_end - Duration::days(HORIZON_DAYS + LOOKBACK_DAYS);
    let labs: Vec<&str> = LABS.iter().map(|l| l.loinc).collect();
    diesel::delete(
        observations::table.filter(
            observations::effective_at
                .lt(since)
                .or(observations::effective_at.is_null())
                .or(observations::status.eq_any(load::OBSERVATIONS_LEFT_OUT))
                .or(observations::loinc_code.ne_all(labs.iter().copied().chain([load::BP_PANEL]).collect::<Vec<_>>()))
                .or(observations::loinc_code.eq_any(&labs).and(observations::value_quantity.is_null())),
        ),
    )
    .execute(&mut conn)
    .expect("observations");
    diesel::delete(
        medication_requests::table
            .filter(medication_requests::authored_at.lt(since).or(medication_requests::authored_at.is_null())),
    )
    .execute(&mut conn)
    .expect("prescriptions");
    diesel::delete(encounters::table.filter(encounters::status.eq_any(load::ENCOUNTERS_LEFT_OUT)))
        .execute(&mut conn)
        .expect("encounters");
    diesel::delete(procedures::table.filter(procedures::status.eq_any(load::PROCEDURES_LEFT_OUT)))
        .execute(&mut conn)
        .expect("procedures");
    let saved = SavedScores::take(&db, &mut conn);
    conn.batch_execute("VACUUM ANALYZE").expect("vacuum");
    // diesel's COPY TO reader leaves its connection mid-command once drained, so each table is
    // read on a connection of its own, opened beforehand.
    let mut readers: Vec<PgConnection> = (0..6).map(|_| db.connect()).collect();
    let mut readers = readers.iter_mut();
    let mut next = || readers.next().expect("a connection per table");
    let started = Instant::now();
    let sink = std::io::sink;
    let mut bytes = copy_out(diesel::copy_to(load::PATIENT_COLUMNS).load_raw(next()).expect("patients"), sink());
    bytes += copy_out(diesel::copy_to(load::ENCOUNTER_COLUMNS).load_raw(next()).expect("encounters"), sink());
    bytes += copy_out(diesel::copy_to(load::CONDITION_COLUMNS).load_raw(next()).expect("conditions"), sink());
    // The run reads values and panels' components apart; both come from these columns.
    let observation_columns = (
        observations::patient_id,
        observations::loinc_code,
        observations::effective_at,
        observations::value_quantity,
        observations::components,
    );
    bytes += copy_out(diesel::copy_to(observation_columns).load_raw(next()).expect("observations"), sink());
    bytes += copy_out(diesel::copy_to(load::PRESCRIPTION_COLUMNS).load_raw(next()).expect("prescriptions"), sink());
    bytes += copy_out(diesel::copy_to(load::PROCEDURE_COLUMNS).load_raw(next()).expect("procedures"), sink());
    saved.copy_back(&mut conn);
    let limit = started.elapsed().as_secs_f64();
    let rows: i64 = ["patients", "encounters", "conditions", "observations", "medication_requests", "procedures"]
        .iter()
        .map(|t| count(&db, &format!("SELECT count(*) AS n FROM {t}")))
        .sum();
    // Memory, on the records a run reads (the limit left only those).
    let (worker, server) = (measure_worker(&db, n), processes::serve_peak(&db));

    println!(
        "scoring run from records, {n} patients as of {} (two learned models, three baselines)",
        data_end.date_naive()
    );
    println!(
        "  vigil score's run       {n:>9} patients, {scored} scores in {ours:>6.1} s  {:>8.0} patients/s",
        n as f64 / ours
    );
    println!(
        "  vigil score, whole      {whole:>9.1} s from start to exit: the run, then evaluating the alerts of its scores"
    );
    println!(
        "  COPY, same rows (limit) {rows:>9} record rows read ({:.0} MiB) and {scored} score rows written in {limit:>6.1} s",
        bytes as f64 / 1048576.0
    );
    println!("  ratio                   {:>9.2} of COPY's rate", limit / ours);
    let history = if years == 1 { "a year".to_owned() } else { format!("{years} years") };
    println!("resident memory (peak) with {n} patients loaded ({history} of history each)");
    println!("  vigil score             {:>9.0} MiB during the run", run.mib);
    println!(
        "  vigil worker            {:>9.0} MiB scoring everyone again (the change feed) and evaluating alerts",
        worker.mib
    );
    println!("  vigil serve             {:>9.0} MiB after {} reads and searches", server.mib, server.requests);
}

/// The worker's peak while it scores everyone the change feed names (the whole population: nobody
/// was scored through the feed yet; it takes them 100,000 at a time) and evaluates the alerts of
/// every score.
fn measure_worker(db: &TestDb, patients: i64) -> Peak {
    let passes = "SELECT count(*) AS n FROM scoring_runs WHERE started_by = 'service:worker' AND status = 'done'";
    let scored = "SELECT coalesce(sum(scored), 0)::INT8 AS n FROM scoring_runs WHERE started_by = 'service:worker' AND status = 'done'";
    processes::peak_of(db, &["worker"], |log| {
        let evaluated = log.matches("alerts evaluated").count() as i64;
        evaluated > 0 && count(db, scored) >= patients && evaluated >= count(db, passes)
    })
}
