//! `POST /cds-services/{id}/feedback`: what the clinician did with a card (accepted, or overridden
//! with a reason from Vigil's list), each answer checked and stored as feedback on the score the
//! card showed, through the guard on that card's patient.

use actix_web::{HttpResponse, post, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::{ANSWER_CARD, card, client_of, service_of};
use crate::alerts::feedback::{self, Feedback};
use crate::http::access::Guard;
use crate::http::surface::{Cds, Rejection};

/// The feedback body (CDS Hooks 2.0, "Feedback").
#[derive(Debug, Deserialize)]
struct FeedbackBody {
    feedback: Vec<CardFeedback>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CardFeedback {
    card: String,
    outcome: String,
    override_reason: Option<OverrideReason>,
    outcome_timestamp: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OverrideReason {
    reason: Option<Coding>,
    user_comment: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Coding {
    code: String,
    system: Option<String>,
}

/// One answer, checked: the card, when, and what.
fn parse_answer(i: usize, answer: CardFeedback) -> Result<(uuid::Uuid, DateTime<Utc>, Feedback), String> {
    let at = |m: String| format!("feedback[{i}]: {m}");
    let card = uuid::Uuid::parse_str(&answer.card).map_err(|_| at("card must be the uuid of a card".into()))?;
    let when = DateTime::parse_from_rfc3339(&answer.outcome_timestamp)
        .map_err(|_| at("outcomeTimestamp must be an ISO 8601 instant".into()))?
        .with_timezone(&Utc);
    let (reason, note) = match answer.override_reason {
        Some(o) => {
            if o.reason.as_ref().and_then(|r| r.system.as_deref()).is_some_and(|s| s != card::REASON_SYSTEM) {
                return Err(at(format!("overrideReason.reason.system must be {}", card::REASON_SYSTEM)));
            }
            (o.reason.map(|r| r.code), o.user_comment)
        }
        None => (None, None),
    };
    if answer.outcome != "overridden" && reason.is_some() {
        return Err(at("only an overridden card has an override reason".into()));
    }
    let feedback =
        Feedback::parse(&answer.outcome, reason.as_deref(), note.as_deref()).map_err(|e| at(e.to_string()))?;
    if !matches!(feedback.outcome, feedback::Outcome::Accepted | feedback::Outcome::Overridden) {
        return Err(at("outcome must be accepted or overridden".into()));
    }
    Ok((card, when, feedback))
}

#[post("/cds-services/{id}/feedback")]
pub(super) async fn give_feedback(
    guard: Guard<Cds>,
    id: web::Path<String>,
    body: web::Json<FeedbackBody>,
) -> Result<HttpResponse, Rejection<Cds>> {
    let service = service_of(&id)?;
    let client = client_of(guard.principal())?;
    let answers = body
        .into_inner()
        .feedback
        .into_iter()
        .enumerate()
        .map(|(i, a)| parse_answer(i, a))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Rejection::bad_request)?;
    if answers.is_empty() {
        return Err(Rejection::bad_request("feedback holds no answer"));
    }
    for (card, at, answer) in answers {
        let client = client.clone();
        guard
            .resource(ANSWER_CARD, card.to_string(), move |conn, _| {
                feedback::record_card(conn, card, service.id(), &client, at, &answer)
            })
            .await?;
    }
    Ok(HttpResponse::Ok().json(json!({})))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn answer(body: Value) -> Result<(uuid::Uuid, DateTime<Utc>, Feedback), String> {
        parse_answer(0, serde_json::from_value(body).expect("an answer"))
    }

    #[test]
    fn answers_are_accepted_or_overridden_with_a_reason_from_the_list() {
        let card = "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea";
        let accepted =
            answer(json!({ "card": card, "outcome": "accepted", "outcomeTimestamp": "2026-12-03T10:00:00Z" }));
        assert!(matches!(accepted, Ok((_, _, Feedback { outcome: feedback::Outcome::Accepted, reason: None, .. }))));
        let overridden = answer(json!({
            "card": card, "outcome": "overridden", "outcomeTimestamp": "2026-12-03T10:00:00Z",
            "overrideReason": { "reason": { "code": "planned-admission", "system": card::REASON_SYSTEM }, "userComment": "booked" },
        }))
        .expect("overridden");
        assert_eq!(overridden.2.reason, Some(crate::alerts::lifecycle::DismissReason::PlannedAdmission));
        assert_eq!(overridden.2.note.as_deref(), Some("booked"));
        for (bad, says) in [
            (json!({ "card": "x", "outcome": "accepted", "outcomeTimestamp": "2026-12-03T10:00:00Z" }), "uuid"),
            (
                json!({ "card": card, "outcome": "useful", "outcomeTimestamp": "2026-12-03T10:00:00Z" }),
                "accepted or overridden",
            ),
            (json!({ "card": card, "outcome": "accepted", "outcomeTimestamp": "yesterday" }), "outcomeTimestamp"),
            (
                json!({ "card": card, "outcome": "overridden", "outcomeTimestamp": "2026-12-03T10:00:00Z",
                         "overrideReason": { "reason": { "code": "bored" } } }),
                "reason",
            ),
        ] {
            let refused = answer(bad).expect_err("refused");
            assert!(refused.starts_with("feedback[0]: ") && refused.contains(says), "{refused}");
        }
    }
}
