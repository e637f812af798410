//! What each person wants by email: which tiers, at once or in a digest, and quiet hours (in their
//! time zone) without email except for critical alerts. Absent: warning and critical, at once,
//! no quiet hours. `notice_due` in the database applies them when a notice is written.

use chrono::NaiveTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use vigil_store::schema::notification_preferences;

use super::Tier;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    pub email_tiers: Vec<Tier>,
    /// `immediate` or `digest`.
    pub delivery: String,
    pub quiet_start: Option<NaiveTime>,
    pub quiet_end: Option<NaiveTime>,
    pub time_zone: String,
}

impl Default for Preferences {
    fn default() -> Self {
        Self {
            email_tiers: vec![Tier::Warning, Tier::Critical],
            delivery: "immediate".into(),
            quiet_start: None,
            quiet_end: None,
            time_zone: "UTC".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PreferenceError {
    #[error("delivery {0:?}: expected immediate or digest")]
    Delivery(String),
    #[error("quiet hours need both quiet_start and quiet_end, and they differ")]
    QuietHours,
    #[error("time zone {0:?} is not one Postgres knows (an IANA name such as Europe/Paris)")]
    TimeZone(String),
}

impl Preferences {
    /// Checks what can be checked without the database.
    pub fn check(&self) -> Result<(), PreferenceError> {
        if !matches!(self.delivery.as_str(), "immediate" | "digest") {
            return Err(PreferenceError::Delivery(self.delivery.clone()));
        }
        match (self.quiet_start, self.quiet_end) {
            (None, None) => Ok(()),
            (Some(a), Some(b)) if a != b => Ok(()),
            _ => Err(PreferenceError::QuietHours),
        }
    }
}

type Row = (Vec<Option<String>>, String, Option<NaiveTime>, Option<NaiveTime>, String);

pub fn get(conn: &mut PgConnection, user: i64) -> QueryResult<Preferences> {
    let row: Option<Row> = notification_preferences::table
        .find(user)
        .select((
            notification_preferences::email_tiers,
            notification_preferences::delivery,
            notification_preferences::quiet_start,
            notification_preferences::quiet_end,
            notification_preferences::time_zone,
        ))
        .first(conn)
        .optional()?;
    Ok(match row {
        None => Preferences::default(),
        Some((tiers, delivery, quiet_start, quiet_end, time_zone)) => Preferences {
            email_tiers: tiers.iter().flatten().filter_map(|t| Tier::parse(t)).collect(),
            delivery,
            quiet_start,
            quiet_end,
            time_zone,
        },
    })
}

/// Stores `preferences` (checked) for `user`; a time zone Postgres does not know is refused.
pub fn set(conn: &mut PgConnection, user: i64, preferences: &Preferences) -> QueryResult<Result<(), PreferenceError>> {
    if let Err(e) = preferences.check() {
        return Ok(Err(e));
    }
    #[derive(QueryableByName)]
    struct Known {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        known: bool,
    }
    let known: Known = diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1) AS known")
        .bind::<diesel::sql_types::Text, _>(&preferences.time_zone)
        .get_result(conn)?;
    if !known.known {
        return Ok(Err(PreferenceError::TimeZone(preferences.time_zone.clone())));
    }
    let mut tiers: Vec<Tier> = preferences.email_tiers.clone();
    tiers.sort();
    tiers.dedup();
    let tiers: Vec<&str> = tiers.iter().map(|t| t.as_str()).collect();
    let values = (
        notification_preferences::user_id.eq(user),
        notification_preferences::email_tiers.eq(&tiers),
        notification_preferences::delivery.eq(&preferences.delivery),
        notification_preferences::quiet_start.eq(preferences.quiet_start),
        notification_preferences::quiet_end.eq(preferences.quiet_end),
        notification_preferences::time_zone.eq(&preferences.time_zone),
    );
    diesel::insert_into(notification_preferences::table)
        .values(values)
        .on_conflict(notification_preferences::user_id)
        .do_update()
        .set((values, notification_preferences::updated_at.eq(diesel::dsl::now)))
        .execute(conn)?;
    Ok(Ok(()))
}
