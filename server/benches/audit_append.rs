//! `make bench` (audit_append): how fast the audit trail takes rows while others read it, beside
//! the limit measured in the same run: single-row inserts of the same rows into a table of the same
//! shape (its columns and indexes, `LIKE audit_log INCLUDING ALL`) with no append-only triggers and
//! no chain. Sixteen writers, four readers paging the trail as a privacy officer's viewer does, and
//! the sealer linking rows every 250 ms as servers and workers do:
//! - the unchained table, one row per commit (first: the trail the readers page only grows);
//! - rows appended one per commit (`audit::append`, what a write's transaction does);
//! - rows appended through the `GroupAppender` (what reads do: concurrent rows share a commit).

#![allow(clippy::print_stdout, clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use vigil_store::audit::{self, AuditEvent, GroupAppender, Outcome};
use vigil_store::testing::TestDb;

diesel::table! {
    /// audit_log's shape without its triggers or chain.
    bench_unchained (seq) {
        seq -> Int8,
        at -> Timestamptz,
        actor -> Text,
        actor_role -> Text,
        action -> Text,
        resource_type -> Nullable<Text>,
        resource_id -> Nullable<Text>,
        patient_id -> Nullable<Int8>,
        data_category -> Nullable<Text>,
        outcome -> Text,
        source_address -> Nullable<Text>,
        request_id -> Nullable<Text>,
        break_glass -> Bool,
    }
}

const WRITERS: usize = 16;
const READERS: usize = 4;
const SECONDS: u64 = 10;

fn event(n: u64) -> AuditEvent {
    AuditEvent {
        resource_type: Some("Patient".into()),
        resource_id: Some(format!("p{}", n % 5000)),
        patient_id: Some((n % 5000) as i64 + 1),
        data_category: Some("demographics".into()),
        source_address: Some("10.1.2.3".into()),
        request_id: Some(format!("bench-{n}")),
        ..AuditEvent::new(format!("user:nurse{}", n % 40), "clinician", "read", Outcome::Success)
    }
}

/// Runs `write` from [`WRITERS`] threads for [`SECONDS`] while readers page the trail and the
/// sealer seals; rows per second.
/// What a writer does with row `n`.
type Write = Arc<dyn Fn(&mut PgConnection, u64) + Send + Sync>;

fn phase(db: &TestDb, write: Write) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for w in 0..WRITERS {
        let (url, stop, written, write) = (db.url().to_owned(), stop.clone(), written.clone(), write.clone());
        threads.push(std::thread::spawn(move || {
            let mut conn = PgConnection::establish(&url).expect("connect");
            let mut n = w as u64 * 1_000_000_000;
            while !stop.load(Ordering::Relaxed) {
                write(&mut conn, n);
                n += 1;
                written.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for r in 0..READERS {
        let (url, stop) = (db.url().to_owned(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut conn = PgConnection::establish(&url).expect("connect");
            let filter = audit::search::Filter { actor: Some(format!("user:nurse{r}")), ..Default::default() };
            while !stop.load(Ordering::Relaxed) {
                audit::search::search(&mut conn, &filter, None, 50).expect("search");
            }
        }));
    }
    {
        let (url, stop) = (db.url().to_owned(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut conn = PgConnection::establish(&url).expect("connect");
            while !stop.load(Ordering::Relaxed) {
                audit::seal(&mut conn).expect("seal");
                std::thread::sleep(Duration::from_millis(250));
            }
        }));
    }
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(SECONDS));
    stop.store(true, Ordering::Relaxed);
    let rows = written.load(Ordering::Relaxed);
    let elapsed = start.elapsed();
    for t in threads {
        t.join().expect("thread");
    }
    rows as f64 / elapsed.as_secs_f64()
}

fn main() {
    let db = TestDb::migrated();
    db.connect()
        .batch_execute("CREATE TABLE bench_unchained (LIKE audit_log INCLUDING ALL)")
        .expect("the unchained table");
    println!(
        "audit appends from {WRITERS} writers while {READERS} readers page the trail and the sealer seals, {SECONDS} s each"
    );
    // The limit first: the trail the readers page only grows, so later phases meet costlier reads.
    let unchained = phase(
        &db,
        Arc::new(|conn, n| {
            let e = event(n);
            // A statement of fixed shape, prepared once per connection, as audit::append's is.
            diesel::insert_into(bench_unchained::table)
                .values((
                    bench_unchained::at.eq(chrono::Utc::now()),
                    bench_unchained::actor.eq(&e.actor),
                    bench_unchained::actor_role.eq(&e.actor_role),
                    bench_unchained::action.eq(&e.action),
                    bench_unchained::resource_type.eq(&e.resource_type),
                    bench_unchained::resource_id.eq(&e.resource_id),
                    bench_unchained::patient_id.eq(e.patient_id),
                    bench_unchained::data_category.eq(&e.data_category),
                    bench_unchained::outcome.eq(e.outcome.as_str()),
                    bench_unchained::source_address.eq(&e.source_address),
                    bench_unchained::request_id.eq(&e.request_id),
                    bench_unchained::break_glass.eq(false),
                ))
                .execute(conn)
                .expect("insert");
        }),
    );
    let alone = phase(
        &db,
        Arc::new(|conn, n| {
            audit::append(conn, &event(n)).expect("append");
        }),
    );
    let pool = vigil_store::pool::build_pool(db.url(), &vigil_store::PoolOptions::default());
    let appender = GroupAppender::spawn(pool, 2, None).expect("writers");
    let grouped = phase(
        &db,
        Arc::new(move |_, n| {
            appender.append(&event(n)).expect("append");
        }),
    );
    println!("  audit::append, a commit per row     {alone:>9.0} rows/s  ratio {:.2}", alone / unchained);
    println!("  GroupAppender, commits shared       {grouped:>9.0} rows/s  ratio {:.2}", grouped / unchained);
    println!("  limit: unchained table, a commit per row {unchained:>9.0} rows/s");
    let mut conn = db.connect();
    audit::chain::seal_all(&mut conn).expect("seal");
    match audit::verify(&mut conn).expect("verify") {
        audit::Verification::Intact { sealed, .. } => println!("  chain intact: {sealed} rows sealed"),
        broken => panic!("{broken:?}"),
    }
}
