//! The worklist, clinicians' home: the open alerts of the patients in their units, most urgent
//! first, with counts per tier, filters kept in the address (so a refresh or a bookmark keeps
//! them) and pages of 50. The rows come from the same query as `GET /api/alerts`, through the
//! guard, and each patient listed is audited.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

use super::format::{Identity, change, elapsed, percent};
use super::{Chrome, html};
use crate::alerts::Tier;
use crate::http::access::Guard;
use crate::http::alerts::view::{self, Filters, Order};
use crate::http::surface::{Portal, Rejection};

const PAGE: i64 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct Query {
    unit: Option<String>,
    target: Option<String>,
    tier: Option<String>,
    status: Option<String>,
    page: Option<String>,
}

struct Choice {
    value: String,
    label: String,
    selected: bool,
}

struct Select {
    name: &'static str,
    label: &'static str,
    options: Vec<Choice>,
}

struct Count {
    tier: &'static str,
    n: i64,
    href: String,
}

struct Line {
    id: i64,
    who: String,
    details: String,
    flagged: bool,
    unit: String,
    target: String,
    tier: String,
    probability: String,
    change: String,
    open_for: String,
    status: String,
}

#[derive(Template)]
#[template(path = "worklist.html")]
struct Page {
    chrome: Chrome,
    counts: Vec<Count>,
    filters: Vec<Select>,
    problem: Option<String>,
    units: String,
    caption: String,
    rows: Vec<Line>,
    previous: Option<String>,
    next: Option<String>,
}

fn select(name: &'static str, label: &'static str, current: Option<&str>, options: &[(&str, &str)]) -> Select {
    let options = options
        .iter()
        .map(|(value, text)| Choice {
            value: (*value).to_owned(),
            label: (*text).to_owned(),
            selected: current.unwrap_or_default() == *value,
        })
        .collect();
    Select { name, label, options }
}

/// The worklist's address with these filters and this page.
fn href(filters: &Filters, tier: Option<&str>, page: i64) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in [("unit", filters.unit.as_deref()), ("target", filters.target.as_deref()), ("tier", tier)] {
        if let Some(value) = value {
            query.append_pair(key, value);
        }
    }
    if filters.status != "live" {
        query.append_pair("status", &filters.status);
    }
    if page > 1 {
        query.append_pair("page", &page.to_string());
    }
    let query = query.finish();
    if query.is_empty() { "/worklist".to_owned() } else { format!("/worklist?{query}") }
}

#[get("/worklist")]
pub async fn worklist(guard: Guard<Portal>, query: web::Query<Query>) -> Result<HttpResponse, Rejection<Portal>> {
    let chrome = Chrome::of(&guard)?;
    let q = query.into_inner();
    let page = q.page.as_deref().and_then(|p| p.parse::<i64>().ok()).filter(|p| (1..=10_000).contains(p)).unwrap_or(1);
    // A filter that makes no sense is named, and the list shown without it.
    let (filters, problem) = match Filters::parse(q.unit.clone(), q.target.clone(), q.tier.clone(), q.status.clone()) {
        Ok(filters) => (filters, None),
        Err(problem) => (Filters::parse(None, None, None, None).unwrap_or_default(), Some(problem)),
    };
    let listed = view::list(&guard, filters.clone(), Order::Urgency, None, (page - 1) * PAGE, PAGE, true).await?;
    let units: Vec<String> = match guard.principal() {
        crate::auth::principal::Principal::User(user) => user.units.clone(),
        crate::auth::principal::Principal::Client { .. } => Vec::new(),
    };
    let now = Utc::now();
    let today = now.date_naive();
    let rows: Vec<Line> = listed
        .rows
        .iter()
        .map(|r| Line {
            id: r.id,
            who: Identity::of_alert(r).who(),
            details: Identity::of_alert(r).details(today),
            flagged: r.flagged,
            unit: r.unit.clone().unwrap_or_default(),
            target: r.target.clone(),
            tier: r.tier.clone(),
            probability: percent(r.probability),
            change: change(r.probability, r.previous),
            open_for: elapsed(r.opened_at, now),
            status: r.snoozed_until.map_or_else(
                || r.status.clone(),
                |until| format!("{} until {}", r.status, super::format::instant(until)),
            ),
        })
        .collect();
    let counts: Vec<Count> = Tier::ALL
        .into_iter()
        .rev()
        .map(|tier| Count {
            tier: tier.as_str(),
            n: listed.counts.iter().find(|(t, _)| t == tier.as_str()).map_or(0, |(_, n)| *n),
            href: href(&filters, Some(tier.as_str()), 1),
        })
        .collect();
    let mut unit_options: Vec<(&str, &str)> = vec![("", "All my units")];
    unit_options.extend(units.iter().map(|u| (u.as_str(), u.as_str())));
    let filter_controls = vec![
        select("unit", "Unit", filters.unit.as_deref(), &unit_options),
        select(
            "target",
            "Risk of",
            filters.target.as_deref(),
            &[("", "Any"), ("admission", "admission"), ("readmission", "readmission")],
        ),
        select(
            "tier",
            "Tier",
            filters.tier.as_deref(),
            &[("", "Any"), ("critical", "critical"), ("warning", "warning"), ("info", "info")],
        ),
        select(
            "status",
            "Status",
            Some(filters.status.as_str()),
            &[
                ("live", "Not ended"),
                ("open", "open"),
                ("acknowledged", "acknowledged"),
                ("snoozed", "snoozed"),
                ("dismissed", "dismissed"),
                ("resolved", "resolved"),
                ("all", "All"),
            ],
        ),
    ];
    let first = (page - 1) * PAGE + 1;
    let caption = format!(
        "Alerts {first} to {}, most urgent first{}",
        first + rows.len() as i64 - 1,
        filters.tier.as_deref().map(|t| format!(", {t} only")).unwrap_or_default()
    );
    let body = Page {
        chrome,
        counts,
        filters: filter_controls,
        problem,
        units: units.join(", "),
        caption,
        previous: (page > 1).then(|| href(&filters, filters.tier.as_deref(), page - 1)),
        next: listed.more.then(|| href(&filters, filters.tier.as_deref(), page + 1)),
        rows,
    };
    html(StatusCode::OK, &body)
}
