//! What clinicians answer about an alert beyond acting on it: useful or not, and why not (the
//! dismissal reasons' fixed list). Kept with the score, model, tier and unit the alert stood at,
//! so that the useful rate can be reported per model version, unit and tier; reasons that mean
//! "this index event should not count" are what training may exclude.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use vigil_store::schema::{alert_feedback, alerts, cds_cards};

use super::lifecycle::DismissReason;

/// What the answer says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Useful,
    NotUseful,
    /// CDS Hooks: the card's suggestion was taken.
    Accepted,
    /// CDS Hooks: the card was overridden.
    Overridden,
}

impl Outcome {
    pub const ALL: [Self; 4] = [Self::Useful, Self::NotUseful, Self::Accepted, Self::Overridden];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Useful => "useful",
            Self::NotUseful => "not-useful",
            Self::Accepted => "accepted",
            Self::Overridden => "overridden",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == raw)
    }
}

/// Where the answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Portal,
    Api,
    CdsHooks,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Self::Portal => "portal",
            Self::Api => "api",
            Self::CdsHooks => "cds-hooks",
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FeedbackError {
    #[error("outcome {0:?}: expected one of useful, not-useful, accepted, overridden")]
    Outcome(String),
    #[error("reason {0:?}: expected one of {1}")]
    Reason(String, String),
    #[error("a reason of \"other\" needs a note saying what")]
    OtherWithoutNote,
    #[error("the note is longer than 1000 characters")]
    NoteTooLong,
}

/// An answer, parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feedback {
    pub outcome: Outcome,
    pub reason: Option<DismissReason>,
    pub note: Option<String>,
}

impl Feedback {
    pub fn parse(outcome: &str, reason: Option<&str>, note: Option<&str>) -> Result<Self, FeedbackError> {
        let outcome = Outcome::parse(outcome.trim()).ok_or_else(|| FeedbackError::Outcome(outcome.to_owned()))?;
        let reason = match reason.map(str::trim).filter(|r| !r.is_empty()) {
            None => None,
            Some(raw) => Some(DismissReason::parse(raw).ok_or_else(|| {
                FeedbackError::Reason(raw.to_owned(), DismissReason::ALL.map(DismissReason::as_str).join(", "))
            })?),
        };
        let note = note.map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned);
        if note.as_ref().is_some_and(|n| n.chars().count() > 1000) {
            return Err(FeedbackError::NoteTooLong);
        }
        if reason == Some(DismissReason::Other) && note.is_none() {
            return Err(FeedbackError::OtherWithoutNote);
        }
        Ok(Self { outcome, reason, note })
    }
}

/// A stored answer.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = alert_feedback, check_for_backend(diesel::pg::Pg))]
pub struct Given {
    pub id: i64,
    #[serde(rename = "by")]
    pub given_by: String,
    #[serde(rename = "at")]
    pub given_at: DateTime<Utc>,
    pub source: String,
    pub outcome: String,
    pub reason: Option<String>,
    pub note: Option<String>,
    pub tier: String,
}

/// Stores an answer about alert `alert` at the score, model, tier and unit it stands at now; None
/// when there is no such alert.
pub fn record(
    conn: &mut PgConnection,
    alert: i64,
    by: &str,
    source: Source,
    feedback: &Feedback,
) -> QueryResult<Option<Given>> {
    let Some((score, model, tier, unit)) = alerts::table
        .find(alert)
        .select((alerts::score_id, alerts::model_id, alerts::tier, alerts::unit))
        .first::<(i64, i64, String, Option<String>)>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    diesel::insert_into(alert_feedback::table)
        .values((
            alert_feedback::alert_id.eq(alert),
            alert_feedback::score_id.eq(score),
            alert_feedback::model_id.eq(model),
            alert_feedback::tier.eq(tier),
            alert_feedback::unit.eq(unit),
            alert_feedback::given_by.eq(by),
            alert_feedback::source.eq(source.as_str()),
            alert_feedback::outcome.eq(feedback.outcome.as_str()),
            alert_feedback::reason.eq(feedback.reason.map(DismissReason::as_str)),
            alert_feedback::note.eq(feedback.note.as_deref()),
        ))
        .returning(Given::as_returning())
        .get_result(conn)
        .map(Some)
}

/// Stores a CDS client's answer about card `card`, given at `at`, at the score, model, tier and
/// unit the card showed; None when service `service` gave no such card to client `client`.
pub fn record_card(
    conn: &mut PgConnection,
    card: uuid::Uuid,
    service: &str,
    client: &str,
    at: DateTime<Utc>,
    feedback: &Feedback,
) -> QueryResult<Option<Given>> {
    let Some((score, model, tier, unit)) = cds_cards::table
        .find(card)
        .filter(cds_cards::service.eq(service).and(cds_cards::client_id.eq(client)))
        .select((cds_cards::score_id, cds_cards::model_id, cds_cards::tier, cds_cards::unit))
        .first::<(Option<i64>, Option<i64>, Option<String>, Option<String>)>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    // Only cards about a score are stored with one; an answer needs it.
    let (Some(score), Some(model)) = (score, model) else { return Ok(None) };
    diesel::insert_into(alert_feedback::table)
        .values((
            alert_feedback::card_uuid.eq(card),
            alert_feedback::score_id.eq(score),
            alert_feedback::model_id.eq(model),
            alert_feedback::tier.eq(tier.unwrap_or_else(|| "none".into())),
            alert_feedback::unit.eq(unit),
            alert_feedback::given_by.eq(format!("client:{client}")),
            alert_feedback::given_at.eq(at),
            alert_feedback::source.eq(Source::CdsHooks.as_str()),
            alert_feedback::outcome.eq(feedback.outcome.as_str()),
            alert_feedback::reason.eq(feedback.reason.map(DismissReason::as_str)),
            alert_feedback::note.eq(feedback.note.as_deref()),
        ))
        .returning(Given::as_returning())
        .get_result(conn)
        .map(Some)
}

/// Every answer about an alert, oldest first.
pub fn of_alert(conn: &mut PgConnection, alert: i64) -> QueryResult<Vec<Given>> {
    alert_feedback::table
        .filter(alert_feedback::alert_id.eq(alert))
        .order(alert_feedback::id)
        .select(Given::as_select())
        .load(conn)
}

/// How clinicians judged a model's alerts in one unit at one tier.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName, Serialize)]
pub struct UsefulRate {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub model: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub unit: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub tier: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub answers: i64,
    /// Useful (or, from CDS Hooks, accepted).
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub useful: i64,
}

impl UsefulRate {
    pub fn rate(&self) -> f64 {
        if self.answers == 0 { 0.0 } else { self.useful as f64 / self.answers as f64 }
    }
}

/// The useful rate per model version, unit and tier (of one model when `model` is given), from
/// every answer given.
pub fn useful_rates(conn: &mut PgConnection, model: Option<&str>) -> QueryResult<Vec<UsefulRate>> {
    diesel::sql_query(
        "SELECT m.version AS model, f.unit, f.tier, count(*) AS answers,
                count(*) FILTER (WHERE f.outcome IN ('useful', 'accepted')) AS useful
           FROM alert_feedback f JOIN models m ON m.id = f.model_id
          WHERE $1::text IS NULL OR m.version = $1
          GROUP BY m.version, f.unit, f.tier
          ORDER BY m.version, f.unit NULLS LAST, CASE f.tier WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END",
    )
    .bind::<diesel::sql_types::Nullable<diesel::sql_types::Text>, _>(model)
    .load(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_parsed_into_an_outcome_and_a_reason_from_the_list() {
        assert_eq!(
            Feedback::parse("not-useful", Some("planned-admission"), Some("  ")),
            Ok(Feedback { outcome: Outcome::NotUseful, reason: Some(DismissReason::PlannedAdmission), note: None })
        );
        assert_eq!(
            Feedback::parse("useful", Some(""), Some("called the GP")),
            Ok(Feedback { outcome: Outcome::Useful, reason: None, note: Some("called the GP".into()) })
        );
        assert_eq!(Feedback::parse("great", None, None), Err(FeedbackError::Outcome("great".into())));
        assert!(matches!(Feedback::parse("not-useful", Some("bored"), None), Err(FeedbackError::Reason(..))));
        assert_eq!(Feedback::parse("not-useful", Some("other"), None), Err(FeedbackError::OtherWithoutNote));
        assert_eq!(Feedback::parse("useful", None, Some(&"x".repeat(1001))), Err(FeedbackError::NoteTooLong));
    }
}
