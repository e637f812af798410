//! The migrations in the workspace's `migrations/` folder, embedded in the binary.
//!
//! Several processes may start at once (servers and workers of one deployment), so applying
//! migrations takes a Postgres advisory lock: one process applies them, the others wait and then
//! find nothing pending. Each migration runs in its own transaction.

use diesel::PgConnection;
use diesel::connection::SimpleConnection;
use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::StoreError;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations");

/// Advisory lock key shared by every Vigil process that applies migrations ("VIGIL" in ASCII).
const MIGRATION_LOCK: i64 = 0x0056_4947_494C;

/// Applies every pending migration and returns the versions applied, oldest first.
pub fn run_pending(conn: &mut PgConnection) -> Result<Vec<String>, StoreError> {
    with_lock(conn, |conn| {
        let applied = conn.run_pending_migrations(MIGRATIONS).map_err(migration_error)?;
        Ok(applied.iter().map(ToString::to_string).collect())
    })
}

/// The versions of the embedded migrations not yet applied to this database.
pub fn pending(conn: &mut PgConnection) -> Result<Vec<String>, StoreError> {
    let pending = conn.pending_migrations(MIGRATIONS).map_err(migration_error)?;
    Ok(pending.iter().map(|m| m.name().version().to_string()).collect())
}

/// The versions of every embedded migration, oldest first.
pub fn known() -> Result<Vec<String>, StoreError> {
    let mut all: Vec<String> = MigrationSource::<Pg>::migrations(&MIGRATIONS)
        .map_err(migration_error)?
        .iter()
        .map(|m| m.name().version().to_string())
        .collect();
    all.sort();
    Ok(all)
}

/// Reverts every applied migration, newest first (used to prove each `down.sql` undoes its
/// `up.sql`).
pub fn revert_all(conn: &mut PgConnection) -> Result<Vec<String>, StoreError> {
    with_lock(conn, |conn| {
        let reverted = conn.revert_all_migrations(MIGRATIONS).map_err(migration_error)?;
        Ok(reverted.iter().map(ToString::to_string).collect())
    })
}

fn with_lock<T>(
    conn: &mut PgConnection,
    work: impl FnOnce(&mut PgConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
    let result = work(conn);
    let unlocked = conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"));
    let value = result?;
    unlocked?;
    Ok(value)
}

fn migration_error(error: Box<dyn std::error::Error + Send + Sync>) -> StoreError {
    StoreError::Migration(error.to_string())
}
