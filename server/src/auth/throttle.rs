//! Sign-in throttling: a timed back-off, never a lock. After a few failures in a row, each further
//! attempt must wait longer (30 seconds, doubling up to 15 minutes) per key:
//! - the pair of account name and address (5 free): one source guessing at one account, without
//!   slowing that account's owner anywhere else;
//! - the account name (50 free): guessing spread over many addresses;
//! - the address (100 free): one source trying many accounts.
//!
//! Account names count whether or not the account exists, so throttling reveals nothing about which
//! exist. An attempt is checked and counted in one statement (`attempt`), so that parallel guesses
//! cannot all pass the check before any is counted; the delay is the database's `sign_in_delay`.

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{Array, Bool, Double, Text};
use vigil_store::schema::sign_in_failures;

/// Failures forgiven before the back-off starts, per kind of key.
const FREE_PAIR: i32 = 5;
const FREE_ACCOUNT: i32 = 50;
const FREE_ADDRESS: i32 = 100;

fn keys(account: &str, address: &str) -> [String; 3] {
    let account = account.to_lowercase();
    [format!("pair:{account}|{address}"), format!("account:{account}"), format!("address:{address}")]
}

#[derive(QueryableByName)]
struct Counted {
    #[diesel(sql_type = Bool)]
    counted: bool,
    #[diesel(sql_type = Double)]
    wait_secs: f64,
}

/// Checks and counts an attempt in one statement: each key's failure count goes up by one if its
/// back-off allows an attempt now. None when every key allowed it (the attempt is counted as a
/// failure until [`succeeded`] takes it back); else how long to wait.
pub fn attempt(conn: &mut PgConnection, account: &str, address: &str) -> QueryResult<Option<Duration>> {
    // The decision is taken once per key, after its row lock is held, against the clock at that
    // moment (not the transaction's start, which may precede a rival's that committed first).
    let rows: Vec<Counted> = diesel::sql_query(
        "WITH attempt(key) AS (SELECT unnest($1::text[])) \
         INSERT INTO sign_in_failures AS f (key, failures, last_failure_at) \
         SELECT key, 1, clock_timestamp() FROM attempt \
         ON CONFLICT (key) DO UPDATE SET (last_attempt_counted, failures, last_failure_at) = ( \
           SELECT d.allowed, \
                  CASE WHEN d.allowed THEN f.failures + 1 ELSE f.failures END, \
                  CASE WHEN d.allowed THEN d.at ELSE f.last_failure_at END \
             FROM (SELECT clock_timestamp() AS at) c, \
                  LATERAL (SELECT c.at, c.at >= f.last_failure_at + sign_in_delay(f.failures, \
                             CASE WHEN f.key LIKE 'pair:%' THEN $2 WHEN f.key LIKE 'account:%' THEN $3 ELSE $4 END) \
                           AS allowed) d) \
         RETURNING f.last_attempt_counted AS counted, \
           greatest(0, extract(epoch FROM f.last_failure_at + sign_in_delay(f.failures, \
                       CASE WHEN f.key LIKE 'pair:%' THEN $2 WHEN f.key LIKE 'account:%' THEN $3 ELSE $4 END) \
                       - clock_timestamp()))::float8 AS wait_secs",
    )
    .bind::<Array<Text>, _>(keys(account, address).to_vec())
    .bind::<diesel::sql_types::Integer, _>(FREE_PAIR)
    .bind::<diesel::sql_types::Integer, _>(FREE_ACCOUNT)
    .bind::<diesel::sql_types::Integer, _>(FREE_ADDRESS)
    .load(conn)?;
    if rows.iter().all(|r| r.counted) {
        return Ok(None);
    }
    let wait = rows.iter().filter(|r| !r.counted).map(|r| r.wait_secs).fold(0.0, f64::max);
    Ok(Some(Duration::from_secs_f64(wait.max(1.0))))
}

/// A success clears the pair's and the account's counts and takes back the attempt counted
/// against the address (one account's success must not wipe the failures others made from there).
pub fn succeeded(conn: &mut PgConnection, account: &str, address: &str) -> QueryResult<()> {
    let [pair, account, address] = keys(account, address);
    diesel::delete(sign_in_failures::table.filter(sign_in_failures::key.eq_any([pair, account]))).execute(conn)?;
    diesel::update(sign_in_failures::table.find(&address).filter(sign_in_failures::failures.gt(1)))
        .set(sign_in_failures::failures.eq(sign_in_failures::failures - 1))
        .execute(conn)?;
    diesel::delete(sign_in_failures::table.find(&address).filter(sign_in_failures::failures.le(1))).execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_store::testing::TestDb;

    #[test]
    fn attempts_are_checked_and_counted_at_once_even_in_parallel() {
        let db = TestDb::migrated();
        let threads: Vec<_> = (0..12)
            .map(|_| {
                let url = db.url().to_owned();
                std::thread::spawn(move || {
                    let mut conn = PgConnection::establish(&url).expect("connect");
                    attempt(&mut conn, "Nurse", "10.0.0.1").expect("attempt")
                })
            })
            .collect();
        let outcomes: Vec<Option<Duration>> = threads.into_iter().map(|t| t.join().expect("thread")).collect();
        let allowed = outcomes.iter().filter(|o| o.is_none()).count();
        assert_eq!(allowed, FREE_PAIR as usize, "exactly the free attempts pass, however many race: {outcomes:?}");
        let waits: Vec<u64> = outcomes.iter().flatten().map(Duration::as_secs).collect();
        assert!(waits.iter().all(|w| (1..=30).contains(w)), "{waits:?}");

        // The owner elsewhere is not slowed by one address's guessing, and a success clears the pair.
        let mut conn = db.connect();
        assert_eq!(attempt(&mut conn, "nurse", "10.0.0.2").expect("attempt"), None);
        succeeded(&mut conn, "nurse", "10.0.0.2").expect("success");
        assert!(attempt(&mut conn, "nurse", "10.0.0.1").expect("attempt").is_some(), "still waiting there");
    }

    #[test]
    fn guessing_from_many_addresses_is_slowed_per_account_without_a_lock() {
        let db = TestDb::migrated();
        let mut conn = db.connect();
        for i in 0..FREE_ACCOUNT {
            assert_eq!(attempt(&mut conn, "admin", &format!("10.1.{}.{}", i / 200, i % 200)).expect("attempt"), None);
        }
        let wait = attempt(&mut conn, "admin", "10.9.9.9").expect("attempt").expect("slowed");
        assert!(wait <= Duration::from_secs(30), "a back-off, not a lock: {wait:?}");
        // Pretend the back-off has passed: the account may be tried again.
        diesel::sql_query("UPDATE sign_in_failures SET last_failure_at = now() - interval '31 seconds'")
            .execute(&mut conn)
            .expect("age");
        assert_eq!(attempt(&mut conn, "admin", "10.9.9.9").expect("attempt"), None);
    }
}
