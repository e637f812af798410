//! Throwaway databases for tests: each test gets its own database, created from a migrated
//! template and dropped when the [`TestDb`] is dropped, which also happens when the test panics.
//!
//! The server to use comes from `VIGIL_TEST_ADMIN_URL`, else `DATABASE_URL`, else the local
//! server on 127.0.0.1:5432; the URL must name a role allowed to create databases.
//! Databases are named `vigil_test_<pid>_<n>`; those left behind by a killed test process (whose
//! pid is gone) are dropped by the next run.
//!
//! Like a deployment, a test database has two roles: the URL's own (the owner, who migrates) and
//! [`RUNTIME_LOGIN`], a member of `vigil_runtime` with only the grants the migrations give it, which
//! [`TestDb::runtime_url`] names and the end-to-end tests serve with.

use std::sync::atomic::{AtomicU32, Ordering};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::migrate;

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// The login role tests run the application as: a member of `vigil_runtime`.
pub const RUNTIME_LOGIN: &str = "vigil_test_app";
/// Serialises template creation and database creation across concurrent test processes.
const CREATE_LOCK: i64 = 0x0056_4947_494C_7465;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A database of its own for one test.
#[derive(Debug)]
pub struct TestDb {
    name: String,
    url: String,
    admin_url: String,
}

impl TestDb {
    /// A new database with every migration applied.
    pub fn migrated() -> Self {
        Self::create(true, admin_url())
    }

    /// A new database with every migration applied on the server `admin_url` names (a role that
    /// may create databases), rather than the one the environment names.
    pub fn migrated_on(admin_url: &str) -> Self {
        Self::create(true, admin_url.to_owned())
    }

    /// A new, empty database (no migrations applied).
    pub fn empty() -> Self {
        Self::create(false, admin_url())
    }

    /// The database as the application's runtime role sees it.
    pub fn runtime_url(&self) -> String {
        runtime_url(&self.url)
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn connect(&self) -> PgConnection {
        PgConnection::establish(&self.url).expect("connect to test database")
    }

    fn create(migrated: bool, admin_url: String) -> Self {
        let mut admin = PgConnection::establish(&admin_url).unwrap_or_else(|e| {
            panic!("tests need a Postgres server they may create databases on ({e}); set VIGIL_TEST_ADMIN_URL")
        });
        let name = fresh_name();
        admin.batch_execute(&format!("SELECT pg_advisory_lock({CREATE_LOCK})")).expect("lock");
        drop_orphans(&mut admin);
        ensure_roles(&mut admin);
        let template = if migrated { Some(ensure_template(&mut admin, &admin_url)) } else { None };
        let create = match &template {
            Some(t) => format!("CREATE DATABASE \"{name}\" TEMPLATE \"{t}\""),
            None => format!("CREATE DATABASE \"{name}\""),
        };
        let created = admin.batch_execute(&create);
        admin.batch_execute(&format!("SELECT pg_advisory_unlock({CREATE_LOCK})")).expect("unlock");
        created.expect("create test database");
        let url = with_database(&admin_url, &name);
        Self { name, url, admin_url }
    }

    /// A new database copied from the one [`TestDb::keep_as`] left on the server as `kept` for the
    /// present migrations; None when there is none. Benches keep what is slow to make (a
    /// population of a million) this way.
    pub fn copy_of(kept: &str) -> Option<Self> {
        let admin_url = admin_url();
        let mut admin = PgConnection::establish(&admin_url).expect("connect to the test server");
        let kept = kept_name(kept);
        if !database_exists(&mut admin, &kept) {
            return None;
        }
        let name = fresh_name();
        // A file copy: the default strategy writes every page of a large database to the WAL.
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\" TEMPLATE \"{kept}\" STRATEGY = FILE_COPY"))
            .expect("copy the kept database");
        let url = with_database(&admin_url, &name);
        Some(Self { name, url, admin_url })
    }

    /// Leaves a copy of this database on the server as `kept` (replacing one of that name and
    /// these migrations), for [`TestDb::copy_of`]. Connections to this database are closed first.
    pub fn keep_as(&self, kept: &str) {
        let kept = kept_name(kept);
        let mut admin = PgConnection::establish(&self.admin_url).expect("connect to the test server");
        // One statement each: CREATE and DROP DATABASE refuse to run in a (multi-statement) block.
        for statement in [
            format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}' AND pid <> pg_backend_pid()",
                self.name
            ),
            format!("DROP DATABASE IF EXISTS \"{kept}\" WITH (FORCE)"),
            format!("CREATE DATABASE \"{kept}\" TEMPLATE \"{}\" STRATEGY = FILE_COPY", self.name),
        ] {
            admin.batch_execute(&statement).expect("keep a copy of the database");
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&self.admin_url) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name));
        }
    }
}

/// The real-format FHIR files in the repository's `tests/fixtures` (see its README): the one place
/// every test and bench finds them, so that a clone with nothing beside it tests on its own.
pub fn fixtures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

/// The URL of the server tests create databases on.
pub fn admin_url() -> String {
    std::env::var("VIGIL_TEST_ADMIN_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

/// `url` with its user replaced by the runtime login role [`RUNTIME_LOGIN`] (trust authentication,
/// as on the test servers this harness uses).
pub fn runtime_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else { return url.to_owned() };
    let rest = &url[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let host = match rest[..authority_end].rfind('@') {
        Some(at) => &rest[at + 1..],
        None => rest,
    };
    format!("{}{RUNTIME_LOGIN}@{host}", &url[..scheme_end])
}

/// The roles of a deployment, cluster-wide, made once (the migrations would make `vigil_runtime`,
/// but concurrent tests migrating at once would race to).
fn ensure_roles(admin: &mut PgConnection) {
    admin
        .batch_execute(&format!(
            "DO $$ BEGIN \
               IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'vigil_runtime') THEN \
                 CREATE ROLE vigil_runtime NOLOGIN; END IF; \
               IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{RUNTIME_LOGIN}') THEN \
                 CREATE ROLE {RUNTIME_LOGIN} LOGIN IN ROLE vigil_runtime; END IF; \
             END $$"
        ))
        .expect("create the test roles");
}

/// `url` with its database name replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{database}?{q}"),
        None => format!("{base}/{database}"),
    }
}

/// The database a kept copy named `kept` is: the name and the migrations' fingerprint, so that a
/// copy from older migrations is never used (Postgres names hold at most 63 bytes).
fn kept_name(kept: &str) -> String {
    let fingerprint = format!("{:016x}", migrations_fingerprint());
    format!("{}_{}", kept.chars().take(46).collect::<String>(), &fingerprint[..12])
}

/// A name no other test database has: this process's id and a count.
fn fresh_name() -> String {
    format!("vigil_test_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The migrated template for the current migrations, created on first use. Its name carries a
/// hash of the migration files so that an edited migration gets a fresh template.
fn ensure_template(admin: &mut PgConnection, admin_url: &str) -> String {
    let name = format!("vigil_template_{:016x}", migrations_fingerprint());
    if !database_exists(admin, &name) {
        let building = format!("{name}_building");
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)")).expect("drop");
        admin.batch_execute(&format!("CREATE DATABASE \"{building}\"")).expect("create template");
        {
            let mut conn = PgConnection::establish(&with_database(admin_url, &building)).expect("connect template");
            migrate::run_pending(&mut conn).expect("migrate template");
        }
        admin.batch_execute(&format!("ALTER DATABASE \"{building}\" RENAME TO \"{name}\"")).expect("rename");
    }
    name
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    datname: String,
}

fn database_exists(admin: &mut PgConnection, name: &str) -> bool {
    diesel::sql_query("SELECT datname FROM pg_database WHERE datname = $1")
        .bind::<Text, _>(name)
        .load::<Name>(admin)
        .map(|rows| !rows.is_empty())
        .unwrap_or(false)
}

fn drop_orphans(admin: &mut PgConnection) {
    let Ok(rows) =
        diesel::sql_query("SELECT datname FROM pg_database WHERE datname LIKE 'vigil\\_test\\_%'").load::<Name>(admin)
    else {
        return;
    };
    for Name { datname } in rows {
        let pid = datname.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{datname}\" WITH (FORCE)"));
        }
    }
}

fn migrations_fingerprint() -> u64 {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let mut files: Vec<_> = walk(&dir);
    files.sort();
    let mut bytes = Vec::new();
    for file in files {
        bytes.extend(file.to_string_lossy().as_bytes());
        bytes.extend(std::fs::read(&file).expect("read migration"));
    }
    fnv1a(&bytes)
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let entries = std::fs::read_dir(dir).expect("read migrations folder");
    entries.flatten().flat_map(|e| if e.path().is_dir() { walk(&e.path()) } else { vec![e.path()] }).collect()
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn names_the_runtime_role() {
        assert_eq!(super::runtime_url("postgres://postgres@h:5432/db"), "postgres://vigil_test_app@h:5432/db");
        assert_eq!(super::runtime_url("postgres://u:pw@h/db?x=1"), "postgres://vigil_test_app@h/db?x=1");
        assert_eq!(super::runtime_url("postgres://h/db"), "postgres://vigil_test_app@h/db");
    }

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(with_database("postgres://u@h:5432/postgres", "x"), "postgres://u@h:5432/x");
        assert_eq!(with_database("postgres://u@h/db?sslmode=disable", "x"), "postgres://u@h/x?sslmode=disable");
        assert_eq!(with_database("postgresql://h", "x"), "postgresql://h/x");
    }
}
