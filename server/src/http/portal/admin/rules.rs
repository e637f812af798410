//! Alert rules (`/rules`, for admins and informatics): each rule's thresholds by tier with its
//! versions (who, when, why), and a form that makes the rule of a target and unit say something
//! new. Thresholds are typed as percentages. Through `http::alert_rules`, like `/api/alert-rules`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use askama::Template;
use serde::Deserialize;

use super::{Done, done, said};
use crate::alerts::Tier;
use crate::alerts::rules::Rule;
use crate::http::access::Guard;
use crate::http::alert_rules::{self, Wanted};
use crate::http::portal::format::instant;
use crate::http::portal::{Chrome, check_form, html};
use crate::http::surface::{Portal, Rejection};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list).service(put);
}

struct Version {
    version: i32,
    thresholds: String,
    enabled: bool,
    by: String,
    at: String,
    reason: String,
}

struct Listed {
    target: &'static str,
    unit: String,
    info: String,
    warning: String,
    critical: String,
    hysteresis: String,
    enabled: bool,
    version: i32,
    history: Vec<Version>,
}

/// What the form held, shown again when it is refused.
struct Draft {
    target: String,
    unit: String,
    info: String,
    warning: String,
    critical: String,
    hysteresis: String,
    enabled: bool,
    reason: String,
}

impl Default for Draft {
    fn default() -> Self {
        Self {
            target: "admission".into(),
            unit: String::new(),
            info: String::new(),
            warning: String::new(),
            critical: String::new(),
            hysteresis: String::new(),
            enabled: true,
            reason: String::new(),
        }
    }
}

#[derive(Template)]
#[template(path = "rules.html")]
struct Page {
    chrome: Chrome,
    rules: Vec<Listed>,
    units: Vec<String>,
    draft: Draft,
    done: Option<&'static str>,
    problem: Option<String>,
}

/// A threshold as typed: a percentage with a decimal only where it has one (12.5 %, 30 %).
fn pct(p: f64) -> String {
    let tenths = (p * 1000.0).round();
    if tenths % 10.0 == 0.0 { format!("{:.0} %", tenths / 10.0) } else { format!("{:.1} %", tenths / 10.0) }
}

fn shown(value: Option<f64>) -> String {
    value.map(pct).unwrap_or_else(|| "off".into())
}

fn listed(rule: Rule, history: Vec<crate::alerts::rules::RuleVersion>) -> Listed {
    let t = rule.thresholds;
    Listed {
        target: rule.target.as_str(),
        unit: rule.unit.unwrap_or_else(|| "every unit".into()),
        info: shown(t.get(Tier::Info)),
        warning: shown(t.get(Tier::Warning)),
        critical: shown(t.get(Tier::Critical)),
        hysteresis: pct(t.hysteresis()),
        enabled: rule.enabled,
        version: rule.version,
        history: history
            .into_iter()
            .rev()
            .map(|v| Version {
                version: v.version,
                thresholds: format!("{} / {} / {}", shown(v.info), shown(v.warning), shown(v.critical)),
                enabled: v.enabled,
                by: v.changed_by,
                at: instant(v.changed_at),
                reason: v.reason,
            })
            .collect(),
    }
}

async fn page(
    guard: &Guard<Portal>,
    draft: Draft,
    done: Option<&str>,
    problem: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, Rejection<Portal>> {
    let chrome = Chrome::of(guard)?;
    let rules = alert_rules::listed(guard).await?.into_iter().map(|(r, h)| listed(r, h)).collect();
    let units = alert_rules::unit_codes(guard).await?;
    let page = Page { chrome, rules, units, draft, done: said(done, &[("saved", "Rule saved.")]), problem };
    html(status, &page)
}

#[get("/rules")]
async fn list(guard: Guard<Portal>, query: web::Query<Done>) -> Result<HttpResponse, Rejection<Portal>> {
    page(&guard, Draft::default(), query.done.as_deref(), None, StatusCode::OK).await
}

#[derive(Debug, Deserialize)]
struct Form {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    info: String,
    #[serde(default)]
    warning: String,
    #[serde(default)]
    critical: String,
    #[serde(default)]
    hysteresis: String,
    enabled: Option<String>,
    #[serde(default)]
    reason: String,
}

/// A percentage as typed ("7.5", "7.5 %"), as a probability; blank is none.
fn probability(raw: &str, field: &str) -> Result<Option<f64>, String> {
    let raw = raw.trim().trim_end_matches('%').trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse::<f64>()
        .ok()
        .filter(|p| p.is_finite())
        .map(|p| Some(p / 100.0))
        .ok_or_else(|| format!("{field} {raw:?}: a percentage such as 12.5"))
}

#[post("/rules")]
async fn put(guard: Guard<Portal>, form: web::Form<Form>) -> Result<HttpResponse, Rejection<Portal>> {
    let f = form.into_inner();
    check_form(&guard, &f.csrf_token)?;
    let draft = Draft {
        target: f.target.clone(),
        unit: f.unit.clone(),
        info: f.info.clone(),
        warning: f.warning.clone(),
        critical: f.critical.clone(),
        hysteresis: f.hysteresis.clone(),
        enabled: f.enabled.is_some(),
        reason: f.reason.clone(),
    };
    let wanted = (|| {
        Ok::<_, String>(Wanted {
            target: f.target,
            unit: Some(f.unit),
            info: probability(&f.info, "info")?,
            warning: probability(&f.warning, "warning")?,
            critical: probability(&f.critical, "critical")?,
            hysteresis: probability(&f.hysteresis, "hysteresis")?,
            enabled: f.enabled.is_some(),
            reason: f.reason,
        })
    })();
    let outcome = match wanted {
        Ok(wanted) => alert_rules::put(&guard, wanted).await?.map(|_| ()),
        Err(problem) => Err(problem),
    };
    match outcome {
        Ok(()) => Ok(done("/rules", "saved")),
        Err(problem) => page(&guard, draft, None, Some(problem), StatusCode::UNPROCESSABLE_ENTITY).await,
    }
}
