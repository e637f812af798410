//! `make bench` (growth): how the largest tables grow. `VIGIL_BENCH_GROWTH_PATIENTS` synthetic
//! patients (default 10,000) with three years of history (what training needs) are loaded through
//! ingestion and scored once by a learned model of each target and the three baselines; the bench
//! prints each table's rows and bytes (heap, indexes and TOAST together), and the same per 100,000
//! patients per year: the records as a third of what was loaded, scores as 365 nightly runs of
//! everyone. The audit log holds ingestion's rows
//! only here; every view of patient data adds one more (see the reads and portal benches for rates).

#![allow(clippy::print_stdout, clippy::expect_used)]

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use vigil_store::testing::TestDb;

mod support;

/// The years of history `support::population` writes.
const YEARS: u32 = 3;

#[derive(QueryableByName)]
struct Table {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    bytes: i64,
}

#[derive(QueryableByName)]
struct Rows {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn main() {
    let patients: u64 =
        std::env::var("VIGIL_BENCH_GROWTH_PATIENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let db = TestDb::migrated();
    let mut conn = db.connect();
    let data_end = support::population(&mut conn, patients, 11);
    support::score_everyone(&db, &mut conn, data_end);

    let tables: Vec<Table> = diesel::sql_query(
        "SELECT relname::TEXT AS name, pg_total_relation_size(relid) AS bytes FROM pg_stat_user_tables
          ORDER BY pg_total_relation_size(relid) DESC LIMIT 12",
    )
    .load(&mut conn)
    .expect("sizes");
    let per_100k = 100_000.0 / patients as f64;
    let resources = diesel::sql_query("SELECT count(*) AS n FROM raw_resources").get_result::<Rows>(&mut conn);
    println!(
        "{patients} synthetic patients, {YEARS} years of history ({} resources stored), scored once",
        resources.expect("count").n
    );
    println!(
        "  {:<26} {:>12} {:>10}   per 100,000 patients per year: {:>13} {:>10}",
        "table", "rows", "MiB", "rows", "GiB"
    );
    let (mut all_rows, mut all_bytes) = (0.0, 0.0);
    for table in tables {
        let rows = diesel::sql_query(format!("SELECT count(*) AS n FROM \"{}\"", table.name))
            .get_result::<Rows>(&mut conn)
            .expect("count")
            .n;
        // Records accrue over the years of history, scores every night; patients are there once.
        let yearly = match table.name.as_str() {
            "scores" => per_100k * 365.0,
            "patients" => per_100k,
            _ => per_100k / f64::from(YEARS),
        };
        let (year_rows, year_bytes) = (rows as f64 * yearly, table.bytes as f64 * yearly);
        all_rows += year_rows;
        all_bytes += year_bytes;
        println!(
            "  {:<26} {:>12} {:>10.1}   {:>44.0} {:>10.2}",
            table.name,
            rows,
            table.bytes as f64 / 1048576.0,
            year_rows,
            year_bytes / 1073741824.0
        );
    }
    println!("  {:<26} {:>12} {:>10}   {:>44.0} {:>10.2}", "these tables", "", "", all_rows, all_bytes / 1073741824.0);
}
