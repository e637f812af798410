//! Retention as the worker runs it: after a monitoring pass, months of scores older than
//! `monitoring.score_retention_days` are dropped, keeping each week's first run of everyone.

use crate::scoring::{cli, count, population, with_active_models};

#[test]
fn the_worker_retires_old_months_of_scores_and_keeps_each_weeks_first_run() {
    let db = population(400);
    with_active_models(&db);
    // Two nightly runs in one week of June 2025 (a Monday and a Tuesday), and one now.
    cli(&db, &["score", "--as-of", "2025-06-02"]);
    cli(&db, &["score", "--as-of", "2025-06-03"]);
    cli(&db, &["score"]);
    let of_day = |day: &str| count(&db, &format!("SELECT count(*) AS n FROM scores WHERE as_of = '{day}T00:00:00Z'"));
    let (monday, tuesday) = (of_day("2025-06-02"), of_day("2025-06-03"));
    assert!(monday > 0 && tuesday > 0, "both old runs scored patients");
    let latest = count(&db, "SELECT max(id) AS n FROM scoring_runs");
    let of_latest = format!("SELECT count(*) AS n FROM scores WHERE run_id = {latest}");
    let now = count(&db, &of_latest);

    let mut worker = crate::support::vigil();
    worker
        .arg("worker")
        .env("DATABASE_URL", db.url())
        .env("VIGIL_SCORE_CRON", "all=0 0 2 1 1 *")
        .env("VIGIL_MONITORING__CRON", "* * * * * *")
        .env("VIGIL_MONITORING__SCORE_RETENTION_DAYS", "90")
        .env("VIGIL_SERVER__PUBLIC_URL", "https://vigil.test")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut worker = crate::alert_email::Killed(worker.spawn().expect("worker"));
    crate::support::poll("June 2025's partition of scores to be dropped", || {
        (count(&db, "SELECT count(*) AS n FROM pg_class WHERE relname = 'scores_recent_2025_06'") == 0).then_some(())
    });
    worker.stop();
    assert_eq!(of_day("2025-06-02"), monday, "the week's first run of everyone is kept");
    assert_eq!(of_day("2025-06-03"), 0, "the rest of the month is gone");
    assert_eq!(count(&db, &of_latest), now, "this week's run stays whole");
    assert_eq!(
        count(
            &db,
            "SELECT count(*) AS n FROM score_outcomes o WHERE NOT EXISTS (SELECT 1 FROM scores s WHERE s.id = o.score_id)"
        ),
        0,
        "no outcome of a dropped score is left"
    );
}
