//! Every migration's down.sql truly reverts its up.sql, and schema.rs matches the migrations'
//! tables column for column.

use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_migrations::MigrationHarness;
use vigil_store::migrate::{self, MIGRATIONS};
use vigil_store::testing::TestDb;

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

/// Everything a migration can create in the database, one sorted line per object, excluding
/// diesel's own bookkeeping table.
fn schema_snapshot(conn: &mut PgConnection) -> Vec<String> {
    const SNAPSHOT: &str = r"
        SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || udt_name
               || ' nullable=' || is_nullable || ' default=' || coalesce(column_default, '')
               || ' identity=' || is_identity AS line
          FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'
        UNION ALL
        SELECT 'index ' || indexdef FROM pg_indexes
         WHERE schemaname = 'public' AND tablename <> '__diesel_schema_migrations'
        UNION ALL
        SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
          FROM pg_constraint
         WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> '__diesel_schema_migrations'
        UNION ALL
        SELECT 'function ' || pg_get_functiondef(oid) FROM pg_proc WHERE pronamespace = 'public'::regnamespace
        UNION ALL
        SELECT 'trigger ' || pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal
        UNION ALL
        SELECT 'type ' || typname || ' ' || typtype::text FROM pg_type
         WHERE typnamespace = 'public'::regnamespace AND (typtype IN ('e', 'd') OR (typtype = 'c' AND typrelid = 0))

        UNION ALL
        SELECT 'sequence ' || sequence_name FROM information_schema.sequences WHERE sequence_schema = 'public'
        UNION ALL
        SELECT 'view ' || table_name || ' ' || view_definition FROM information_schema.views WHERE table_schema = 'public'
        UNION ALL
        SELECT 'extension ' || extname FROM pg_extension WHERE extname <> 'plpgsql'
        UNION ALL
        SELECT 'grant ' || grantee || ' ' || privilege_type || ' on ' || table_name FROM information_schema.table_privileges
         WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'
        UNION ALL
        SELECT 'policy ' || tablename || ' ' || policyname FROM pg_policies WHERE schemaname = 'public'
        ORDER BY 1";
    diesel::sql_query(SNAPSHOT).load::<Line>(conn).expect("schema snapshot").into_iter().map(|l| l.line).collect()
}

#[test]
fn each_down_migration_reverts_its_up_migration() {
    let db = TestDb::empty();
    let mut conn = db.connect();
    let count = migrate::known().expect("known").len();
    assert!(count >= 2, "the clinical core and raw resources migrations exist");

    // Up one at a time, remembering the schema before each step.
    let mut before_each = Vec::new();
    for _ in 0..count {
        before_each.push(schema_snapshot(&mut conn));
        conn.run_next_migration(MIGRATIONS).expect("up");
    }
    let fully_migrated = schema_snapshot(&mut conn);
    assert!(migrate::pending(&mut conn).expect("pending").is_empty());

    // Down one at a time: each must restore exactly the schema its up started from.
    for expected in before_each.iter().rev() {
        let reverted = conn.revert_last_migration(MIGRATIONS).expect("down");
        assert_eq!(&schema_snapshot(&mut conn), expected, "down.sql of {reverted} does not revert its up.sql");
    }
    assert!(before_each[0].is_empty(), "a fresh database has no schema objects: {:?}", before_each[0]);

    // And up again gives the same schema as the first time.
    let applied = migrate::run_pending(&mut conn).expect("up again");
    assert_eq!(applied.len(), count);
    assert_eq!(schema_snapshot(&mut conn), fully_migrated);
}

#[test]
fn migrating_a_migrated_database_changes_nothing() {
    let db = TestDb::migrated();
    let mut conn = db.connect();
    let before = schema_snapshot(&mut conn);
    assert!(migrate::run_pending(&mut conn).expect("run").is_empty());
    assert_eq!(schema_snapshot(&mut conn), before);
}

#[test]
fn concurrent_migrators_apply_each_migration_once() {
    let db = TestDb::empty();
    let url = db.url().to_owned();
    let runs: Vec<_> = (0..3)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut conn = PgConnection::establish(&url).expect("connect");
                migrate::run_pending(&mut conn).expect("concurrent run succeeds")
            })
        })
        .collect();
    let applied: usize = runs.into_iter().map(|r| r.join().expect("join").len()).sum();
    assert_eq!(applied, migrate::known().expect("known").len(), "every migration applied exactly once in all");
}
