//! `make bench` (scoring): a scoring run from features to stored scores for `VIGIL_BENCH_SCORE_PATIENTS`
//! patients (default 1,000,000), beside the limit measured in the same run: Postgres `COPY` reading the
//! same feature rows and writing the same score rows.
//!
//! The model is trained on a real synthetic population; its feature vectors are then repeated over
//! the patients (placeholder rows), since what is measured here is the path from features to stored
//! scores: reading the features, the model's probability and the factors in words, and the writes
//! of the run (scores with `COPY`, the run's cursor in the same transaction).

#![allow(clippy::print_stdout, clippy::expect_used)]

use std::time::Instant;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Double};
use vigil_scoring::explain;
use vigil_scoring::features::{Features, names};
use vigil_scoring::model::Algorithm;
use vigil_scoring::training::{self, Settings, Target, default_cutoff};
use vigil_store::models::{JsonText, NewScore};
use vigil_store::schema::{patients, scores, scoring_runs};
use vigil_store::testing::TestDb;

mod support;
use support::{SavedScores, admission_examples, copy_out, io, peak_rss_mib};

#[derive(QueryableByName)]
struct FeatureRow {
    #[diesel(sql_type = BigInt)]
    patient_id: i64,
    #[diesel(sql_type = Array<Double>)]
    features: Vec<f64>,
}

const CHUNK: i64 = 10_000;

diesel::table! {
    bench_features (patient_id) {
        patient_id -> Int8,
        features -> Array<Float8>,
    }
}

fn main() {
    let patients: i64 =
        std::env::var("VIGIL_BENCH_SCORE_PATIENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let db = TestDb::migrated();
    let mut conn = db.connect();

    // A model trained on 2,000 synthetic patients loaded through ingestion.
    let (data_end, examples) = admission_examples(&mut conn, 2000, 5);
    let settings = Settings {
        target: Target::Admission,
        learners: vec![Algorithm::LogisticRegression],
        cutoff: default_cutoff(data_end, 180),
        threshold: 0.05,
        threads: None,
    };
    let (model, report) = training::train(&examples, &settings).expect("train");
    let version = vigil_scoring::registry::register(&mut conn, &model, &report, "service:bench").expect("register");
    let model_id: i64 = {
        use vigil_store::schema::models;
        models::table.filter(models::version.eq(&version)).select(models::id).first(&mut conn).expect("model")
    };
    let vectors: Vec<Vec<f64>> = examples.iter().map(|e| e.features.clone()).collect();

    // The patients and their feature rows (not timed).
    conn.batch_execute(
        "CREATE TABLE bench_features (patient_id BIGINT PRIMARY KEY, features DOUBLE PRECISION[] NOT NULL)",
    )
    .expect("table");
    diesel::copy_from(patients::table)
        .from_raw_data((patients::source_system, patients::fhir_id), |w| {
            for i in 0..patients {
                writeln!(w, "urn:bench:scoring\tbench-{i}").map_err(io)?;
            }
            Ok::<_, diesel::result::Error>(())
        })
        .execute(&mut conn)
        .expect("patients");
    let ids: Vec<i64> = patients::table
        .filter(patients::source_system.eq("urn:bench:scoring"))
        .order(patients::id)
        .select(patients::id)
        .load(&mut conn)
        .expect("ids");
    diesel::copy_from(bench_features::table)
        .from_raw_data(bench_features::table, |w| {
            for (i, id) in ids.iter().enumerate() {
                let values: Vec<String> = vectors[i % vectors.len()].iter().map(|v| v.to_string()).collect();
                writeln!(w, "{id}\t{{{}}}", values.join(",")).map_err(io)?;
            }
            Ok::<_, diesel::result::Error>(())
        })
        .execute(&mut conn)
        .expect("features");
    conn.batch_execute("ANALYZE bench_features, patients").expect("analyze");
    let run_id: i64 = diesel::insert_into(scoring_runs::table)
        .values((scoring_runs::kind.eq("all"), scoring_runs::as_of.eq(data_end), scoring_runs::started_by.eq("bench")))
        .returning(scoring_runs::id)
        .get_result(&mut conn)
        .expect("run");

    // Ours: features read in chunks, probabilities and factors, scores and the cursor committed
    // together, as `vigil score` does.
    let names = names();
    let started = Instant::now();
    let mut cursor = 0_i64;
    let mut written = 0_u64;
    loop {
        let rows: Vec<FeatureRow> = diesel::sql_query(
            "SELECT patient_id, features FROM bench_features WHERE patient_id > $1 ORDER BY patient_id LIMIT $2",
        )
        .bind::<BigInt, _>(cursor)
        .bind::<BigInt, _>(CHUNK)
        .load(&mut conn)
        .expect("features");
        let Some(last) = rows.last().map(|r| r.patient_id) else { break };
        let values: Vec<Vec<f64>> = rows.iter().map(|r| r.features.clone()).collect();
        let probabilities = model.probabilities(&values);
        let scores: Vec<NewScore> = rows
            .into_iter()
            .zip(probabilities)
            .map(|(row, probability)| {
                let features = Features { names: names.clone(), values: row.features };
                let factors = explain::factors(&model, &features);
                NewScore {
                    run_id,
                    model_id,
                    patient_id: row.patient_id,
                    encounter_fhir_id: None,
                    as_of: data_end,
                    probability: Some(probability),
                    points: None,
                    features: features.values,
                    factors: JsonText(serde_json::to_string(&factors).expect("factors")),
                }
            })
            .collect();
        written += scores.len() as u64;
        vigil_store::partitions::ensure_scores_month(&mut conn, data_end).expect("the month's partition");
        conn.transaction(|conn| {
            diesel::copy_from(scores::table).from_insertable(&scores).execute(conn)?;
            diesel::update(scoring_runs::table.find(run_id)).set(scoring_runs::cursor.eq(last)).execute(conn)
        })
        .expect("store");
        cursor = last;
    }
    let ours = started.elapsed().as_secs_f64();
    let peak = peak_rss_mib();

    // The limit: COPY out of the same feature rows, COPY in of the same score rows.
    let saved = SavedScores::take(&db, &mut conn);
    let started = Instant::now();
    {
        // Reading the feature rows, as fast as Postgres hands them out.
        let mut export = db.connect();
        let out = diesel::copy_to(bench_features::table).load_raw(&mut export).expect("copy to");
        copy_out(out, std::io::sink());
    }
    saved.copy_back(&mut conn);
    let limit = started.elapsed().as_secs_f64();
    println!("scoring {patients} patients, features to stored scores (model {version}, {} features)", names.len());
    println!("  vigil                   {written:>9} scores in {ours:>7.1} s  {:>9.0} scores/s", written as f64 / ours);
    println!("  COPY, same rows (limit) {written:>9} rows in {limit:>9.1} s  {:>9.0} rows/s", written as f64 / limit);
    println!("  ratio                   {:>9.2} of COPY's rate", limit / ours);
    println!("  peak memory             {peak:>9.0} MiB (whole bench process)");
}
