//! The email a message of notices becomes: a plain-text and an HTML part from askama templates,
//! with no patient data at all (no name, record number, birth date or diagnosis): what happened,
//! tier, target, unit, counts, and links to the portal. Headers are lettre's typed headers; the
//! Message-ID is derived from the message's outbox id, so a resend after a crash is recognisable
//! as the same message.

use askama::Template;
use lettre::Message;
use lettre::message::{Mailbox, MultiPart};

use super::outbox::Notice;
use super::tier::Tier;

/// At most this many alerts are listed; the rest are counted.
const LISTED: usize = 20;

#[derive(Debug)]
pub struct Line {
    pub what: &'static str,
    pub tier: String,
    pub target: String,
    pub unit: String,
    pub link: String,
}

/// What both parts of the email say.
struct Body<'a> {
    headline: &'a str,
    lines: &'a [Line],
    more: usize,
    by_tier: &'a str,
    /// Where the reader works on what the message is about: the worklist, or the models.
    home: &'a str,
    home_label: &'a str,
    settings: &'a str,
}

#[derive(Template)]
#[template(path = "email_alerts.txt")]
struct Text<'a> {
    body: &'a Body<'a>,
}

#[derive(Template)]
#[template(path = "email_alerts.html")]
struct Html<'a> {
    subject: &'a str,
    body: &'a Body<'a>,
}

#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("the recipient address {0:?} is not valid")]
    Recipient(String),
    #[error("email.from {0:?} is not a valid sender")]
    Sender(String),
    #[error("rendering the message: {0}")]
    Template(#[from] askama::Error),
    #[error("building the message: {0}")]
    Build(#[from] lettre::error::Error),
}

fn what(kind: &str) -> &'static str {
    match kind {
        "tier-raised" => "risen",
        "reopened" => "reopened",
        "escalation" => "not acknowledged",
        "drift" => "drift",
        "performance" => "AUROC fell",
        _ => "new",
    }
}

/// The Message-ID of outbox message `id` from sender `from`.
pub fn message_id(id: i64, from: &Mailbox) -> String {
    format!("<vigil-outbox-{id}@{}>", from.email.domain())
}

/// The subject and the email of outbox message `id` to `recipient`.
pub fn build(
    id: i64,
    recipient: &str,
    from: &str,
    public_url: &str,
    notices: &[Notice],
) -> Result<Message, MessageError> {
    let to: Mailbox = recipient.parse().map_err(|_| MessageError::Recipient(recipient.to_owned()))?;
    let from: Mailbox = from.parse().map_err(|_| MessageError::Sender(from.to_owned()))?;
    let (alerts, models): (Vec<&Notice>, Vec<&Notice>) = notices.iter().partition(|n| n.alert_id.is_some());
    let mut counts: Vec<(Tier, usize)> = Tier::ALL.iter().rev().map(|t| (*t, 0)).collect();
    for notice in &alerts {
        if let Some((_, n)) = counts.iter_mut().find(|(t, _)| t.as_str() == notice.tier) {
            *n += 1;
        }
    }
    let by_tier: Vec<String> = counts.iter().filter(|(_, n)| *n > 0).map(|(t, n)| format!("{n} {t}")).collect();
    let by_tier = by_tier.join(", ");
    let escalated = alerts.iter().any(|n| n.kind == "escalation");
    let critical = counts.first().map_or(0, |(_, n)| *n);
    let subject = match (alerts.len(), models.len(), escalated) {
        (_, _, true) => format!("Vigil: critical alert not acknowledged ({by_tier})"),
        (0, 1, false) => "Vigil: a model in use needs review".to_owned(),
        (0, n, false) => format!("Vigil: {n} findings about models in use"),
        (1, _, false) => format!("Vigil: {} alert", alerts.first().map_or("an", |n| n.tier.as_str())),
        (n, _, false) if critical > 0 => format!("Vigil: {n} alerts, {critical} critical"),
        (n, _, false) => format!("Vigil: {n} alerts"),
    };
    let headline = match (alerts.len(), models.len()) {
        (0, 1) => "Vigil's monitoring found something about a model in use.".to_owned(),
        (0, n) => format!("Vigil's monitoring found {n} things about models in use."),
        (1, _) => "Vigil has an alert for you.".to_owned(),
        (n, _) => format!("Vigil has {n} alerts for you."),
    };
    // The most urgent first: the list is cut after LISTED.
    let mut ordered = alerts;
    ordered.sort_by_key(|n| (std::cmp::Reverse(Tier::parse(&n.tier)), n.alert_id));
    let lines: Vec<Line> = ordered
        .into_iter()
        .chain(models)
        .take(LISTED)
        .map(|n| match (n.alert_id, &n.model) {
            (None, Some(model)) => Line {
                what: what(&n.kind),
                tier: "review".to_owned(),
                target: format!("model {model} ({})", n.target),
                unit: n.unit.clone().unwrap_or_else(|| "all units".to_owned()),
                link: format!("{public_url}/models/{model}"),
            },
            (alert, _) => Line {
                what: what(&n.kind),
                tier: n.tier.clone(),
                target: n.target.clone(),
                unit: n.unit.clone().unwrap_or_else(|| "no unit".to_owned()),
                link: format!("{public_url}/alerts/{}", alert.unwrap_or_default()),
            },
        })
        .collect();
    let more = notices.len().saturating_sub(LISTED);
    let only_models = lines.iter().all(|l| l.tier == "review");
    let (home, home_label) = if only_models {
        (format!("{public_url}/models"), "the models")
    } else {
        (format!("{public_url}/worklist"), "your worklist")
    };
    let settings = format!("{public_url}/settings/notifications");
    let body = Body {
        headline: &headline,
        lines: &lines,
        more,
        by_tier: &by_tier,
        home: &home,
        home_label,
        settings: &settings,
    };
    let text = Text { body: &body }.render()?;
    let html = Html { subject: &subject, body: &body }.render()?;
    Ok(Message::builder()
        .message_id(Some(message_id(id, &from)))
        .from(from)
        .to(to)
        .subject(subject)
        .multipart(MultiPart::alternative_plain_html(text, html))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(alert_id: i64, tier: &str, kind: &str) -> Notice {
        Notice {
            alert_id: Some(alert_id),
            model: None,
            kind: kind.into(),
            tier: tier.into(),
            unit: Some("ward-4W".into()),
            target: "admission".into(),
        }
    }

    #[test]
    fn a_storm_is_one_message_with_counts_and_the_first_alerts_listed() {
        let notices: Vec<Notice> =
            (1..=25).map(|i| notice(i, if i % 5 == 0 { "critical" } else { "warning" }, "alert")).collect();
        let message =
            build(42, "nurse@hospital.example", "Vigil <vigil@hospital.example>", "https://vigil.example", &notices)
                .expect("message");
        let raw = String::from_utf8(message.formatted()).expect("utf-8");
        assert!(raw.contains("Message-ID: <vigil-outbox-42@hospital.example>"), "{raw}");
        assert!(raw.contains("Subject: Vigil: 25 alerts, 5 critical"), "{raw}");
        assert!(raw.contains("5 critical, 20 warning"), "{raw}");
        // The five critical ones first, then warnings in order, cut after twenty.
        assert!(
            raw.contains("https://vigil.example/alerts/25\r\n") && raw.contains("https://vigil.example/alerts/18\r\n")
        );
        assert!(!raw.contains("https://vigil.example/alerts/19\r\n"));
        assert!(raw.contains("and 5 more"), "{raw}");
    }

    #[test]
    fn a_monitoring_finding_names_the_model_and_links_to_its_page() {
        let finding = Notice {
            alert_id: None,
            model: Some("readmission-4".into()),
            kind: "drift".into(),
            tier: "warning".into(),
            unit: None,
            target: "readmission".into(),
        };
        let message =
            build(7, "analyst@hospital.example", "Vigil <vigil@hospital.example>", "https://v.example", &[finding])
                .expect("message");
        let raw = String::from_utf8(message.formatted()).expect("utf-8");
        assert!(raw.contains("Subject: Vigil: a model in use needs review"), "{raw}");
        assert!(
            raw.contains("model readmission-4 (readmission)") && raw.contains("https://v.example/models/readmission-4")
        );
        assert!(raw.contains("Open the models: https://v.example/models") && !raw.contains("By tier"), "{raw}");
    }

    #[test]
    fn a_bad_recipient_or_sender_is_named() {
        let notices = [notice(1, "warning", "alert")];
        let bad = build(1, "not an address", "Vigil <vigil@hospital.example>", "https://v.example", &notices);
        assert!(matches!(bad, Err(MessageError::Recipient(_))));
        let bad = build(1, "nurse@hospital.example", "Vigil", "https://v.example", &notices);
        assert!(matches!(bad, Err(MessageError::Sender(_))));
    }
}
