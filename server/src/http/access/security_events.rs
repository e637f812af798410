//! Security events that name no patient and can come in floods (bearer tokens rejected, writes
//! refused for a missing or wrong CSRF token): counted in memory per client address, kind and
//! window (`audit.security_event_window_secs`), and written as one audit row per group once its
//! window is over. A flood then costs a map update per request, not an audit row each, and the
//! audit trail still says who tried what, how often and when.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use vigil_store::audit::{self, AuditEvent, Outcome};

use super::database::Database;

/// Most groups held at once; beyond it, events count under one address-less group, so that
/// addresses without end cannot grow the map without end.
const MAX_GROUPS: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Group {
    address: Option<String>,
    kind: &'static str,
    window: i64,
}

#[derive(Debug)]
struct Tally {
    count: u64,
    last_reason: String,
}

#[derive(Debug)]
pub struct SecurityEvents {
    window_secs: i64,
    groups: Mutex<HashMap<Group, Tally>>,
    /// Rows that could not be written yet (the database was away), tried again at the next flush.
    unwritten: Mutex<Vec<AuditEvent>>,
}

impl SecurityEvents {
    pub fn new(window: Duration) -> Self {
        Self {
            window_secs: window.as_secs().max(1) as i64,
            groups: Mutex::new(HashMap::new()),
            unwritten: Mutex::new(Vec::new()),
        }
    }

    /// Counts one event of `kind` (`token-rejected`, `csrf-rejected`) from `address`.
    pub fn record(&self, address: Option<&str>, kind: &'static str, reason: &str) {
        let window = Utc::now().timestamp().div_euclid(self.window_secs);
        let Ok(mut groups) = self.groups.lock() else { return };
        let mut group = Group { address: address.map(str::to_owned), kind, window };
        if groups.len() >= MAX_GROUPS && !groups.contains_key(&group) {
            group.address = None;
        }
        let tally = groups.entry(group).or_insert_with(|| Tally { count: 0, last_reason: String::new() });
        tally.count += 1;
        reason.chars().take(200).collect::<String>().clone_into(&mut tally.last_reason);
    }

    /// The audit rows of the groups whose window ended before `now` (all of them with `all`),
    /// taken out of the map.
    fn take(&self, now: DateTime<Utc>, all: bool) -> Vec<AuditEvent> {
        let current = now.timestamp().div_euclid(self.window_secs);
        let Ok(mut groups) = self.groups.lock() else { return Vec::new() };
        let done: Vec<Group> = groups.keys().filter(|g| all || g.window < current).cloned().collect();
        done.into_iter()
            .filter_map(|group| {
                let tally = groups.remove(&group)?;
                let start = DateTime::from_timestamp(group.window * self.window_secs, 0).unwrap_or_default();
                Some(AuditEvent {
                    source_address: group.address,
                    detail: Some(format!(
                        "{} in the {} s from {}; the last because {}",
                        tally.count,
                        self.window_secs,
                        start.to_rfc3339(),
                        tally.last_reason
                    )),
                    ..AuditEvent::new("anonymous", "none", group.kind, Outcome::Denied)
                })
            })
            .collect()
    }

    /// Writes the groups whose window is over (all of them with `all`, at shutdown); what cannot
    /// be written now is tried again at the next flush.
    pub fn flush(&self, db: &Database, all: bool) {
        let mut events = self.unwritten.lock().map(|mut u| std::mem::take(&mut *u)).unwrap_or_default();
        events.extend(self.take(Utc::now(), all));
        if events.is_empty() {
            return;
        }
        let written = db
            .conn()
            .map_err(|e| e.to_string())
            .and_then(|mut conn| audit::append_many(&mut conn, &events).map_err(|e| e.to_string()));
        if let Err(error) = written {
            tracing::warn!(%error, groups = events.len(), "could not audit rejected requests yet; will retry");
            if let Ok(mut unwritten) = self.unwritten.lock() {
                events.truncate(MAX_GROUPS);
                *unwritten = events;
            }
        }
    }
}

/// Writes finished windows every second until the process ends.
pub fn spawn_flusher(events: Arc<SecurityEvents>, db: Arc<Database>) -> std::io::Result<()> {
    std::thread::Builder::new().name("security-events".into()).spawn(move || {
        loop {
            std::thread::sleep(Duration::from_secs(1));
            events.flush(&db, false);
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_counted_per_address_kind_and_window() {
        let events = SecurityEvents::new(Duration::from_secs(60));
        for _ in 0..5 {
            events.record(Some("10.0.0.1"), "token-rejected", "expired");
        }
        events.record(Some("10.0.0.2"), "token-rejected", "bad signature");
        events.record(Some("10.0.0.1"), "csrf-rejected", "missing token");
        assert!(events.take(Utc::now(), false).is_empty(), "the window is not over");
        let mut rows = events.take(Utc::now() + chrono::Duration::seconds(61), false);
        rows.sort_by(|a, b| (&a.source_address, &a.action).cmp(&(&b.source_address, &b.action)));
        let summary: Vec<(Option<&str>, &str, bool)> = rows
            .iter()
            .map(|r| {
                (r.source_address.as_deref(), r.action.as_str(), r.detail.as_deref().unwrap_or("").starts_with("5 in"))
            })
            .collect();
        assert_eq!(
            summary,
            [
                (Some("10.0.0.1"), "csrf-rejected", false),
                (Some("10.0.0.1"), "token-rejected", true),
                (Some("10.0.0.2"), "token-rejected", false)
            ]
        );
        assert!(events.take(Utc::now() + chrono::Duration::seconds(61), false).is_empty(), "taken once");
    }
}
