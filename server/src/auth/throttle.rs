//! Sign-in throttling: after a few failures in a row, each further attempt must wait longer
//! (30 seconds, doubling up to 15 minutes), per account name and per source address. Account names are
//! counted whether or not the account exists, so throttling reveals nothing about which exist.
//! An existing account is locked after 100 failures in a row, until an admin sets a new password.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use vigil_store::schema::{sign_in_failures, users};

const FREE_ACCOUNT_FAILURES: i32 = 5;
const FREE_ADDRESS_FAILURES: i32 = 20;
const FIRST_DELAY: Duration = Duration::from_secs(30);
const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
pub const LOCK_AFTER: i32 = 100;

/// How long to wait after `failures` failures in a row, beyond `free` forgiven ones.
pub fn delay(failures: i32, free: i32) -> Duration {
    if failures < free {
        return Duration::ZERO;
    }
    let doublings = u32::try_from(failures - free).unwrap_or(0).min(10);
    (FIRST_DELAY * (1_u32 << doublings)).min(MAX_DELAY)
}

fn keys(account: &str, address: &str) -> [(String, i32); 2] {
    [
        (format!("account:{}", account.to_lowercase()), FREE_ACCOUNT_FAILURES),
        (format!("address:{address}"), FREE_ADDRESS_FAILURES),
    ]
}

/// Whether an attempt may be made now; if not, how long to wait.
pub fn wait_needed(conn: &mut PgConnection, account: &str, address: &str) -> QueryResult<Option<Duration>> {
    let now = Utc::now();
    let mut wait = Duration::ZERO;
    for (key, free) in keys(account, address) {
        let row: Option<(i32, DateTime<Utc>)> = sign_in_failures::table
            .find(&key)
            .select((sign_in_failures::failures, sign_in_failures::last_failure_at))
            .first(conn)
            .optional()?;
        if let Some((failures, last)) = row {
            let until = last + chrono::Duration::from_std(delay(failures, free)).unwrap_or_default();
            if until > now {
                wait = wait.max((until - now).to_std().unwrap_or_default());
            }
        }
    }
    Ok((!wait.is_zero()).then_some(wait))
}

/// Counts an attempt as a failure before the password is checked, so that parallel guesses are
/// counted as they are made; `succeeded` takes it back. Locks an existing account at the limit and
/// returns whether this attempt locked it.
pub fn failed(conn: &mut PgConnection, account: &str, address: &str) -> QueryResult<bool> {
    conn.transaction(|conn| {
        let mut locked = false;
        for (key, _) in keys(account, address) {
            let failures: i32 = diesel::insert_into(sign_in_failures::table)
                .values((
                    sign_in_failures::key.eq(&key),
                    sign_in_failures::failures.eq(1),
                    sign_in_failures::last_failure_at.eq(diesel::dsl::now),
                ))
                .on_conflict(sign_in_failures::key)
                .do_update()
                .set((
                    sign_in_failures::failures.eq(sign_in_failures::failures + excluded(sign_in_failures::failures)),
                    sign_in_failures::last_failure_at.eq(diesel::dsl::now),
                ))
                .returning(sign_in_failures::failures)
                .get_result(conn)?;
            if key.starts_with("account:") && failures >= LOCK_AFTER {
                locked = diesel::update(
                    users::table.filter(users::username.eq(account.to_lowercase()).and(users::locked_at.is_null())),
                )
                .set(users::locked_at.eq(diesel::dsl::now))
                .execute(conn)?
                    == 1;
            }
        }
        Ok(locked)
    })
}

/// A success clears the account's count and takes back the attempt counted against the address
/// (one account's success must not wipe the failures others made from the same address).
pub fn succeeded(conn: &mut PgConnection, account: &str, address: &str) -> QueryResult<()> {
    let [(account_key, _), (address_key, _)] = keys(account, address);
    diesel::delete(sign_in_failures::table.find(account_key)).execute(conn)?;
    diesel::update(sign_in_failures::table.find(&address_key).filter(sign_in_failures::failures.gt(1)))
        .set(sign_in_failures::failures.eq(sign_in_failures::failures - 1))
        .execute(conn)?;
    diesel::delete(sign_in_failures::table.find(&address_key).filter(sign_in_failures::failures.le(1)))
        .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_store::testing::TestDb;

    #[test]
    fn an_account_locks_after_a_hundred_failures_in_a_row_and_a_new_password_unlocks_it() {
        let db = TestDb::migrated();
        let mut conn = db.connect();
        let username = crate::auth::users::Username::parse("nurse").expect("name");
        let hash = crate::auth::password::NewPassword::parse(secrecy::SecretString::from("a long passphrase here"))
            .expect("password")
            .hash()
            .expect("hash");
        let new = crate::auth::users::NewUser {
            username: &username,
            display_name: "Nurse",
            role: crate::auth::Role::Clinician,
            password_hash: &hash,
            units: &[],
        };
        crate::auth::users::add(&mut conn, &new).expect("add");
        let locked =
            |conn: &mut PgConnection| crate::auth::users::find(conn, "nurse").expect("find").expect("user").0.locked;
        for _ in 0..LOCK_AFTER - 1 {
            assert!(!failed(&mut conn, "NURSE", "10.0.0.1").expect("count"));
        }
        assert!(!locked(&mut conn), "99 failures do not lock");
        assert!(failed(&mut conn, "nurse", "10.0.0.2").expect("count"), "the hundredth locks");
        assert!(locked(&mut conn), "the hundredth does");
        crate::auth::users::set_password(&mut conn, &username, &hash).expect("set password");
        assert!(!locked(&mut conn));
        assert_eq!(wait_needed(&mut conn, "nurse", "10.0.0.3").expect("wait"), None, "and its count is cleared");
    }

    #[test]
    fn delays_start_after_the_free_failures_and_double_up_to_a_cap() {
        assert_eq!(delay(4, 5), Duration::ZERO);
        assert_eq!(delay(5, 5), Duration::from_secs(30));
        assert_eq!(delay(6, 5), Duration::from_secs(60));
        assert_eq!(delay(9, 5), Duration::from_secs(480));
        assert_eq!(delay(10, 5), MAX_DELAY);
        assert_eq!(delay(99, 5), MAX_DELAY);
    }
}
