//! Prometheus metrics: the recorder each process installs (`metrics` with
//! `metrics-exporter-prometheus`), the names and labels Vigil records, and the scrape.
//!
//! Labels are route patterns (`/fhir/{type}/{id}`, never a concrete path), methods, status codes,
//! resource types from a fixed list, tiers, states and outcomes: nothing a client or a record
//! chooses freely, so no patient datum can reach a label, and their number stays bounded.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use vigil_ehr_adapter::ingest::Summary;

pub const HTTP_REQUESTS: &str = "vigil_http_requests_total";
pub const HTTP_DURATION: &str = "vigil_http_request_duration_seconds";
pub const INGESTED: &str = "vigil_ingested_resources_total";
pub const SCORING_RUN_DURATION: &str = "vigil_scoring_run_duration_seconds";
pub const SCORES: &str = "vigil_scores_total";
pub const SCORING_RATE: &str = "vigil_scoring_scores_per_second";
pub const RELAY_SEND: &str = "vigil_relay_send_duration_seconds";
pub const AUDIT_APPEND: &str = "vigil_audit_append_duration_seconds";
pub const POOL: &str = "vigil_db_pool_connections";
pub const DATABASE_UP: &str = "vigil_database_up";
pub const AUDIT_SPOOL: &str = "vigil_audit_spool_rows";
pub const OUTBOX_NOTICES: &str = "vigil_outbox_notices_waiting";
pub const OUTBOX_PENDING: &str = "vigil_outbox_messages_pending";
pub const OUTBOX_OLDEST: &str = "vigil_outbox_oldest_unsent_seconds";
pub const DEAD_LETTERS: &str = "vigil_outbox_dead_letters";
pub const FEED_LAG: &str = "vigil_change_feed_lag";
pub const FEED_LAG_SECONDS: &str = "vigil_change_feed_lag_seconds";
pub const ALERTS: &str = "vigil_alerts_live";
pub const ALERT_LISTS: &str = "vigil_alert_lists_read_total";

/// Request and send latencies, in seconds: from a cached read to a slow SMTP server.
const LATENCY_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Scoring runs, in seconds: one patient's rescoring to a whole population.
const RUN_BUCKETS: &[f64] = &[0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs this process's recorder (once) and returns the handle a scrape renders.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets(LATENCY_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(SCORING_RUN_DURATION.into()), RUN_BUCKETS)?
        .install_recorder()?;
    describe();
    // Histograms are drained into their buckets by upkeep: keep it running between scrapes.
    let upkept = handle.clone();
    std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || {
        loop {
            std::thread::sleep(Duration::from_secs(5));
            upkept.run_upkeep();
        }
    })?;
    Ok(HANDLE.get_or_init(|| handle).clone())
}

fn describe() {
    describe_counter!(HTTP_REQUESTS, "HTTP requests answered, by route pattern, method and status");
    describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "HTTP request latency, by route pattern, method and status"
    );
    describe_counter!(INGESTED, "FHIR resources received, by type and what became of them");
    describe_histogram!(SCORING_RUN_DURATION, metrics::Unit::Seconds, "Scoring runs, by kind (all, changes)");
    describe_counter!(SCORES, "Scores stored, by kind of run");
    describe_gauge!(SCORING_RATE, "Scores per second of the last scoring run, by kind");
    describe_histogram!(RELAY_SEND, metrics::Unit::Seconds, "Email sends by the relay, by outcome");
    describe_histogram!(AUDIT_APPEND, metrics::Unit::Seconds, "Appending a read's audit row, waiting included");
    describe_gauge!(POOL, "Request pool connections, by state (idle, in_use, max)");
    describe_gauge!(DATABASE_UP, "1 when the last scrape could read the database");
    describe_gauge!(AUDIT_SPOOL, "Audit rows kept on this server's disk until the primary database answers");
    describe_gauge!(OUTBOX_NOTICES, "Alert notices not yet grouped into an email");
    describe_gauge!(OUTBOX_PENDING, "Emails waiting to be sent or retried");
    describe_gauge!(OUTBOX_OLDEST, "Age of the oldest notice or email not sent yet");
    describe_gauge!(DEAD_LETTERS, "Emails given up on (vigil outbox list)");
    describe_gauge!(FEED_LAG, "Entries a change-feed consumer is behind (scoring: patient changes; alerts: scores)");
    describe_gauge!(FEED_LAG_SECONDS, "Age of the oldest patient change not scored yet");
    describe_gauge!(ALERTS, "Alerts not ended, by tier and state");
    describe_counter!(ALERT_LISTS, "Alert lists served, by where their rows came from (memory, database)");
}

/// One answered request. `route` is the matched pattern, never the path.
pub fn http_request(route: &str, method: &actix_web::http::Method, status: u16, elapsed: Duration) {
    let method = match method.as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS") => m,
        _ => "other",
    };
    let labels = [("route", route.to_owned()), ("method", method.to_owned()), ("status", status.to_string())];
    counter!(HTTP_REQUESTS, &labels).increment(1);
    histogram!(HTTP_DURATION, &labels).record(elapsed.as_secs_f64());
}

/// What one load did, per type. Types outside the mapped ones are counted as `other`: a sender
/// chooses `resourceType`, and a label must not carry what a sender typed.
pub fn ingested(summary: &Summary) {
    for (ty, counts) in &summary.by_type {
        let ty = crate::http::fhir::TYPES.iter().find(|d| d.resource_type == ty).map_or("other", |d| d.resource_type);
        for (outcome, n) in [
            ("stored", counts.stored),
            ("updated", counts.updated),
            ("unchanged", counts.unchanged),
            ("outdated", counts.outdated),
            ("rejected", counts.rejected),
        ] {
            if n > 0 {
                counter!(INGESTED, "type" => ty, "outcome" => outcome).increment(n);
            }
        }
    }
}

/// A finished scoring run of `kind` ("all" or "changes").
pub fn scoring_run(kind: &'static str, scores: u64, elapsed: Duration) {
    histogram!(SCORING_RUN_DURATION, "kind" => kind).record(elapsed.as_secs_f64());
    counter!(SCORES, "kind" => kind).increment(scores);
    if scores > 0 && !elapsed.is_zero() {
        gauge!(SCORING_RATE, "kind" => kind).set(scores as f64 / elapsed.as_secs_f64());
    }
}

/// One email send attempt by the relay.
pub fn relay_send(sent: bool, elapsed: Duration) {
    histogram!(RELAY_SEND, "outcome" => if sent { "sent" } else { "failed" }).record(elapsed.as_secs_f64());
}

/// An alert list served from memory or read from the database.
pub fn alert_list(remembered: bool) {
    counter!(ALERT_LISTS, "source" => if remembered { "memory" } else { "database" }).increment(1);
}

pub fn audit_append(elapsed: Duration) {
    histogram!(AUDIT_APPEND).record(elapsed.as_secs_f64());
}

/// The tiers and live states an alert can be in: each combination is set on every scrape, so
/// one that empties reads 0 rather than its last count.
const TIERS: [&str; 3] = ["info", "warning", "critical"];
const LIVE_STATES: [&str; 3] = ["open", "acknowledged", "snoozed"];

/// Sets the gauges read from the database at scrape time.
pub fn operations(backlog: &vigil_store::operations::Backlog, alerts: &[vigil_store::operations::LiveAlerts]) {
    gauge!(OUTBOX_NOTICES).set(backlog.notices_waiting as f64);
    gauge!(OUTBOX_PENDING).set(backlog.messages_pending as f64);
    gauge!(DEAD_LETTERS).set(backlog.dead_letters as f64);
    gauge!(OUTBOX_OLDEST).set(backlog.oldest_unsent_secs.unwrap_or(0.0));
    gauge!(FEED_LAG, "consumer" => "scoring").set(backlog.changes_unscored as f64);
    gauge!(FEED_LAG, "consumer" => "alerts").set(backlog.scores_unevaluated as f64);
    gauge!(FEED_LAG_SECONDS, "consumer" => "scoring").set(backlog.oldest_unscored_secs.unwrap_or(0.0));
    for tier in TIERS {
        for state in LIVE_STATES {
            let count = alerts.iter().find(|a| a.tier == tier && a.status == state).map_or(0, |a| a.count);
            gauge!(ALERTS, "tier" => tier, "state" => state).set(count as f64);
        }
    }
}

/// The request pool's connections.
pub fn pool(connections: u32, idle: u32, max: u32) {
    gauge!(POOL, "state" => "idle").set(f64::from(idle));
    gauge!(POOL, "state" => "in_use").set(f64::from(connections.saturating_sub(idle)));
    gauge!(POOL, "state" => "max").set(f64::from(max));
}

pub fn audit_spool(rows: usize) {
    gauge!(AUDIT_SPOOL).set(rows as f64);
}

pub fn database_up(up: bool) {
    gauge!(DATABASE_UP).set(if up { 1.0 } else { 0.0 });
}
