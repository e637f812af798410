//! A risk as a CDS Hooks card: what the clinician reads in the EHR. Pure.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::alerts::lifecycle::DismissReason;
use crate::alerts::tier::Tier;

/// The system of the override reasons Vigil offers (the feedback reasons' fixed list).
pub const REASON_SYSTEM: &str = "urn:vigil:feedback-reason";

/// At most this many factors are named in a card.
const FACTORS: usize = 5;

/// A patient's current risk, as the card tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct Risk {
    pub target: String,
    pub probability: f64,
    pub version: String,
    pub algorithm: String,
    pub as_of: DateTime<Utc>,
    /// The factors that raise it most, in words, strongest first.
    pub factors: Vec<String>,
    /// The tier the rule holding for the patient puts it at; None below every threshold.
    pub tier: Option<Tier>,
    /// The thresholds of that rule, lowest first.
    pub thresholds: Vec<(Tier, f64)>,
}

/// What Vigil knows of the EHR's recent encounters for the patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recent {
    /// Neither prefetched nor fetched (the client gave no FHIR server).
    Unknown,
    /// Checked: how many of them Vigil has not received yet.
    Checked { unseen: usize },
    /// The client's FHIR server could not be read.
    Unreadable,
}

fn percent(p: f64) -> String {
    format!("{:.0}%", p * 100.0)
}

fn what(target: &str) -> &'static str {
    match target {
        "admission" => "unplanned admission within 30 days",
        _ => "readmission within 30 days of discharge",
    }
}

/// The card's one line (the specification allows 140 characters).
pub fn summary(risk: &Risk) -> String {
    let tier = risk.tier.map(|t| format!(" ({t})")).unwrap_or_default();
    let line = format!("Vigil: {} risk of {}{tier}", percent(risk.probability), what(&risk.target));
    line.chars().take(140).collect()
}

/// The card's detail, in GitHub-flavoured Markdown.
pub fn detail(risk: &Risk, recent: &Recent) -> String {
    let mut text = format!(
        "**{}** risk of {}, from Vigil model `{}` ({}), scored at {} UTC.",
        percent(risk.probability),
        what(&risk.target),
        risk.version,
        risk.algorithm.replace(['_', '-'], " "),
        risk.as_of.format("%Y-%m-%d %H:%M"),
    );
    if !risk.factors.is_empty() {
        text.push_str("\n\nWhat raises it most:\n");
        for factor in risk.factors.iter().take(FACTORS) {
            text.push_str(&format!("\n- {factor}"));
        }
    }
    if !risk.thresholds.is_empty() {
        let limits: Vec<String> = risk.thresholds.iter().map(|(t, v)| format!("{t} {}", percent(*v))).collect();
        text.push_str(&format!("\n\nAlert thresholds for this patient: {}.", limits.join(", ")));
    }
    match recent {
        Recent::Checked { unseen: 0 } | Recent::Unknown => {}
        Recent::Checked { unseen: 1 } => text.push_str(
            "\n\nThe EHR lists 1 recent encounter Vigil has not received yet: this risk does not reflect it.",
        ),
        Recent::Checked { unseen } => text.push_str(&format!(
            "\n\nThe EHR lists {unseen} recent encounters Vigil has not received yet: this risk does not reflect them."
        )),
        Recent::Unreadable => {
            text.push_str("\n\nVigil could not read the EHR's recent encounters to check that this risk is current.")
        }
    }
    text
}

fn indicator(tier: Option<Tier>) -> &'static str {
    match tier {
        Some(Tier::Critical) => "critical",
        Some(Tier::Warning) => "warning",
        Some(Tier::Info) | None => "info",
    }
}

/// The override reasons a clinician may give: the feedback reasons, as codings.
pub fn override_reasons() -> Vec<Value> {
    DismissReason::ALL
        .into_iter()
        .map(|r| json!({ "code": r.as_str(), "system": REASON_SYSTEM, "display": r.label() }))
        .collect()
}

/// The card for `risk` of the patient `patient` (their FHIR id), whose page is under `public_url`.
pub fn card(uuid: uuid::Uuid, risk: &Risk, recent: &Recent, public_url: &str, patient: &str) -> Value {
    json!({
        "uuid": uuid.to_string(),
        "summary": summary(risk),
        "detail": detail(risk, recent),
        "indicator": indicator(risk.tier),
        "source": {
            "label": "Vigil",
            "url": format!("{public_url}/models/{}", risk.version),
            "topic": { "system": "urn:vigil:target", "code": risk.target, "display": what(&risk.target) },
        },
        "overrideReasons": override_reasons(),
        "links": [{
            "label": "Open the patient in Vigil",
            "url": format!("{public_url}/patients/{patient}"),
            "type": "absolute",
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn risk(tier: Option<Tier>) -> Risk {
        Risk {
            target: "readmission".into(),
            probability: 0.342,
            version: "readmission-gb-3".into(),
            algorithm: "gradient-boosting".into(),
            as_of: DateTime::parse_from_rfc3339("2026-12-01T08:30:00Z").expect("time").with_timezone(&Utc),
            factors: (1..=7).map(|i| format!("factor {i}")).collect(),
            tier,
            thresholds: vec![(Tier::Warning, 0.3), (Tier::Critical, 0.5)],
        }
    }

    #[test]
    fn a_card_says_the_risk_its_tier_model_and_factors_and_links_the_patient() {
        let uuid = uuid::Uuid::nil();
        let card = card(uuid, &risk(Some(Tier::Warning)), &Recent::Checked { unseen: 2 }, "https://v.example", "p1");
        assert_eq!(card["summary"], "Vigil: 34% risk of readmission within 30 days of discharge (warning)");
        assert_eq!(card["indicator"], "warning");
        assert_eq!(card["links"][0]["url"], "https://v.example/patients/p1");
        assert_eq!(card["links"][0]["type"], "absolute");
        let detail = card["detail"].as_str().expect("detail");
        assert!(detail.contains("`readmission-gb-3` (gradient boosting)"), "{detail}");
        assert!(detail.contains("2026-12-01 08:30 UTC"), "{detail}");
        assert!(detail.contains("- factor 5") && !detail.contains("factor 6"), "at most five factors: {detail}");
        assert!(detail.contains("warning 30%, critical 50%"), "{detail}");
        assert!(detail.contains("2 recent encounters Vigil has not received"), "{detail}");
        let reasons = card["overrideReasons"].as_array().expect("reasons");
        assert_eq!(reasons.len(), DismissReason::ALL.len());
        assert_eq!(reasons[1]["code"], "planned-admission");
    }

    #[test]
    fn below_every_threshold_the_card_is_information() {
        let card = card(uuid::Uuid::nil(), &risk(None), &Recent::Unknown, "https://v.example", "p1");
        assert_eq!(card["indicator"], "info");
        assert!(!card["summary"].as_str().expect("summary").contains('('));
        assert!(!card["detail"].as_str().expect("detail").contains("not received"));
    }
}
