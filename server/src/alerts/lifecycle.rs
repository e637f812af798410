//! What people do to an alert: acknowledge, snooze (until a time within a bound, with a reason),
//! dismiss (a reason from a fixed list, free text besides), reopen. Each is allowed only from
//! certain states (the database's `alerts_lifecycle` trigger holds the same table); anything else
//! is a conflict naming the current state. Each change is an event with who, when and why.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde::Serialize;
use vigil_store::schema::{alert_events, alerts};

use super::episode::Status;

/// Why an alert is dismissed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DismissReason {
    AlreadyKnown,
    PlannedAdmission,
    PalliativeOrHospice,
    Transfer,
    DataError,
    RiskOverstated,
    Other,
}

impl DismissReason {
    pub const ALL: [Self; 7] = [
        Self::AlreadyKnown,
        Self::PlannedAdmission,
        Self::PalliativeOrHospice,
        Self::Transfer,
        Self::DataError,
        Self::RiskOverstated,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AlreadyKnown => "already-known",
            Self::PlannedAdmission => "planned-admission",
            Self::PalliativeOrHospice => "palliative-or-hospice",
            Self::Transfer => "transfer",
            Self::DataError => "data-error",
            Self::RiskOverstated => "risk-overstated",
            Self::Other => "other",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == raw)
    }

    /// The reason in words, as clinicians pick it.
    pub fn label(self) -> &'static str {
        match self {
            Self::AlreadyKnown => "Already known to the team",
            Self::PlannedAdmission => "Planned admission",
            Self::PalliativeOrHospice => "Palliative or hospice care",
            Self::Transfer => "Transferred",
            Self::DataError => "Data error",
            Self::RiskOverstated => "Risk overstated",
            Self::Other => "Other (say why in the note)",
        }
    }
}

/// An action, parsed and checked against everything but the alert's state.
#[derive(Debug, Clone, PartialEq)]
pub enum Act {
    Acknowledge { note: Option<String> },
    Snooze { until: DateTime<Utc>, reason: String },
    Dismiss { reason: DismissReason, note: Option<String> },
    Reopen { note: Option<String> },
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ActError {
    #[error("a snooze needs `until`, a time in the future")]
    SnoozePast,
    #[error("a snooze lasts at most {0} hours")]
    SnoozeTooLong(i64),
    #[error("a snooze needs a reason (1 to 500 characters)")]
    SnoozeReason,
    #[error("unknown dismissal reason {0:?}: one of {1}")]
    UnknownReason(String, String),
    #[error("a dismissal for another reason says which, in `note`")]
    OtherNeedsNote,
    #[error("a note is at most 2000 characters")]
    NoteTooLong,
}

fn note(raw: Option<&str>) -> Result<Option<String>, ActError> {
    match raw.map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) if n.chars().count() > 2000 => Err(ActError::NoteTooLong),
        other => Ok(other.map(str::to_owned)),
    }
}

impl Act {
    pub fn acknowledge(raw_note: Option<&str>) -> Result<Self, ActError> {
        Ok(Self::Acknowledge { note: note(raw_note)? })
    }

    pub fn reopen(raw_note: Option<&str>) -> Result<Self, ActError> {
        Ok(Self::Reopen { note: note(raw_note)? })
    }

    /// A snooze until `until`, at most `bound` from `now`.
    pub fn snooze(until: DateTime<Utc>, reason: &str, now: DateTime<Utc>, bound: Duration) -> Result<Self, ActError> {
        if until <= now {
            return Err(ActError::SnoozePast);
        }
        if until > now + bound {
            return Err(ActError::SnoozeTooLong(bound.num_hours()));
        }
        let reason = reason.trim();
        if !(1..=500).contains(&reason.chars().count()) {
            return Err(ActError::SnoozeReason);
        }
        Ok(Self::Snooze { until, reason: reason.to_owned() })
    }

    pub fn dismiss(reason: &str, raw_note: Option<&str>) -> Result<Self, ActError> {
        let known = || DismissReason::ALL.map(DismissReason::as_str).join(", ");
        let reason = DismissReason::parse(reason).ok_or_else(|| ActError::UnknownReason(reason.to_owned(), known()))?;
        let note = note(raw_note)?;
        if reason == DismissReason::Other && note.is_none() {
            return Err(ActError::OtherNeedsNote);
        }
        Ok(Self::Dismiss { reason, note })
    }

    /// The states it may start from, the state it leads to, and its event's name.
    fn transition(&self) -> (&'static [Status], Status, &'static str) {
        use Status::*;
        let (name, to, event) = match self {
            Self::Acknowledge { .. } => ("acknowledge", Acknowledged, "acknowledged"),
            Self::Snooze { .. } => ("snooze", Snoozed, "snoozed"),
            Self::Dismiss { .. } => ("dismiss", Dismissed, "dismissed"),
            Self::Reopen { .. } => ("reopen", Open, "reopened"),
        };
        let from = STARTS.iter().find(|(n, _)| *n == name).map_or(&[][..], |(_, from)| *from);
        (from, to, event)
    }
}

/// Each action, by name, and the states it may start from.
const STARTS: [(&str, &[Status]); 4] = {
    use Status::*;
    [
        ("acknowledge", &[Open, Snoozed]),
        ("snooze", &[Open, Acknowledged]),
        ("dismiss", &[Open, Acknowledged, Snoozed]),
        ("reopen", &[Acknowledged, Snoozed, Dismissed]),
    ]
};

/// The actions (by name) an alert in `current` allows.
pub fn available(current: Status) -> Vec<&'static str> {
    STARTS.iter().filter(|(_, from)| from.contains(&current)).map(|(name, _)| *name).collect()
}

/// The alert is in a state the action cannot start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conflict {
    pub current: Status,
}

/// Applies `act` to alert `id` by `actor` (in the caller's transaction). None: no such alert.
pub fn apply(
    conn: &mut PgConnection,
    id: i64,
    actor: &str,
    act: &Act,
) -> QueryResult<Option<Result<Status, Conflict>>> {
    let row: Option<(String, String, f64, i64)> = alerts::table
        .find(id)
        .select((alerts::status, alerts::tier, alerts::probability, alerts::score_id))
        .for_update()
        .first(conn)
        .optional()?;
    let Some((status, tier, probability, score)) = row else { return Ok(None) };
    let current = Status::parse(&status).unwrap_or(Status::Resolved);
    let (from, to, action) = act.transition();
    if !from.contains(&current) {
        return Ok(Some(Err(Conflict { current })));
    }
    let until = match act {
        Act::Snooze { until, .. } => Some(*until),
        _ => None,
    };
    diesel::update(alerts::table.find(id))
        .set((alerts::status.eq(to.as_str()), alerts::snoozed_until.eq(until)))
        .execute(conn)?;
    let (reason, note) = match act {
        Act::Acknowledge { note } | Act::Reopen { note } => (None, note.clone()),
        Act::Snooze { reason, .. } => (Some(reason.clone()), None),
        Act::Dismiss { reason, note } => (Some(reason.as_str().to_owned()), note.clone()),
    };
    diesel::insert_into(alert_events::table)
        .values((
            alert_events::alert_id.eq(id),
            alert_events::actor.eq(actor),
            alert_events::action.eq(action),
            alert_events::from_status.eq(current.as_str()),
            alert_events::to_status.eq(to.as_str()),
            alert_events::tier.eq(tier),
            alert_events::probability.eq(probability),
            alert_events::score_id.eq(score),
            alert_events::reason.eq(reason),
            alert_events::note.eq(note),
        ))
        .execute(conn)?;
    Ok(Some(Ok(to)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_checked_before_they_touch_an_alert() {
        let now = Utc::now();
        let bound = Duration::hours(24);
        assert_eq!(Act::snooze(now - Duration::minutes(1), "x", now, bound), Err(ActError::SnoozePast));
        assert_eq!(Act::snooze(now + Duration::hours(25), "x", now, bound), Err(ActError::SnoozeTooLong(24)));
        assert_eq!(Act::snooze(now + Duration::hours(2), " ", now, bound), Err(ActError::SnoozeReason));
        assert!(Act::snooze(now + Duration::hours(2), "waiting for labs", now, bound).is_ok());
        assert!(matches!(Act::dismiss("bored", None), Err(ActError::UnknownReason(..))));
        assert_eq!(Act::dismiss("other", Some("  ")), Err(ActError::OtherNeedsNote));
        assert_eq!(
            Act::dismiss("planned-admission", None),
            Ok(Act::Dismiss { reason: DismissReason::PlannedAdmission, note: None })
        );
        assert_eq!(Act::acknowledge(Some(&"x".repeat(2001))), Err(ActError::NoteTooLong));
    }

    #[test]
    fn each_action_starts_only_from_its_states() {
        let ack = Act::Acknowledge { note: None };
        assert_eq!(ack.transition().1, Status::Acknowledged);
        assert!(!ack.transition().0.contains(&Status::Dismissed));
        let reopen = Act::Reopen { note: None };
        assert!(!reopen.transition().0.contains(&Status::Open));
        assert!(!reopen.transition().0.contains(&Status::Resolved), "an ended episode stays ended");
    }
}
