//! My settings: the signed-in person's email notification preferences (the page each alert email
//! links to), read and saved through the same code as `GET/PUT /api/me/notifications`.

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpResponse, get, post, web};
use askama::Template;
use chrono::NaiveTime;
use serde::Deserialize;

use super::{Chrome, check_form, html};
use crate::alerts::Tier;
use crate::alerts::preferences::Preferences;
use crate::http::access::Guard;
use crate::http::alerts::own_preferences;
use crate::http::surface::{Portal, Rejection};

struct TierChoice {
    name: &'static str,
    checked: bool,
}

#[derive(Template)]
#[template(path = "settings_notifications.html")]
struct Page {
    chrome: Chrome,
    tiers: Vec<TierChoice>,
    digest: bool,
    quiet_start: String,
    quiet_end: String,
    time_zone: String,
    problem: Option<String>,
    saved: bool,
}

fn page(chrome: Chrome, shown: &Preferences, problem: Option<String>, saved: bool) -> Page {
    let time = |t: Option<NaiveTime>| t.map(|t| t.format("%H:%M").to_string()).unwrap_or_default();
    Page {
        chrome,
        tiers: Tier::ALL
            .into_iter()
            .rev()
            .map(|t| TierChoice { name: t.as_str(), checked: shown.email_tiers.contains(&t) })
            .collect(),
        digest: shown.delivery == "digest",
        quiet_start: time(shown.quiet_start),
        quiet_end: time(shown.quiet_end),
        time_zone: shown.time_zone.clone(),
        problem,
        saved,
    }
}

#[derive(Debug, Deserialize)]
pub struct Shown {
    saved: Option<String>,
}

#[get("/settings/notifications")]
pub async fn notifications(guard: Guard<Portal>, query: web::Query<Shown>) -> Result<HttpResponse, Rejection<Portal>> {
    let chrome = Chrome::of(&guard)?;
    let current = own_preferences::my_preferences(&guard).await?;
    html(StatusCode::OK, &page(chrome, &current, None, query.saved.is_some()))
}

#[derive(Debug, Deserialize)]
pub struct Form {
    #[serde(default)]
    csrf_token: String,
    tier_info: Option<String>,
    tier_warning: Option<String>,
    tier_critical: Option<String>,
    delivery: Option<String>,
    #[serde(default)]
    quiet_start: String,
    #[serde(default)]
    quiet_end: String,
    #[serde(default)]
    time_zone: String,
}

/// A time as a browser's time field sends it (`HH:MM`, or with seconds); blank is none.
fn time(raw: &str, field: &str) -> Result<Option<NaiveTime>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    NaiveTime::parse_from_str(raw, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(raw, "%H:%M:%S"))
        .map(Some)
        .map_err(|_| format!("{field} {raw:?} is not a time of day (HH:MM)"))
}

#[post("/settings/notifications")]
pub async fn save_notifications(
    guard: Guard<Portal>,
    form: web::Form<Form>,
) -> Result<HttpResponse, Rejection<Portal>> {
    let form = form.into_inner();
    check_form(&guard, &form.csrf_token)?;
    let chrome = Chrome::of(&guard)?;
    let tiers =
        [(Tier::Info, &form.tier_info), (Tier::Warning, &form.tier_warning), (Tier::Critical, &form.tier_critical)]
            .into_iter()
            .filter(|(_, on)| on.is_some())
            .map(|(tier, _)| tier)
            .collect();
    let wanted = (|| {
        Ok::<_, String>(Preferences {
            email_tiers: tiers,
            delivery: form.delivery.clone().unwrap_or_else(|| "immediate".into()),
            quiet_start: time(&form.quiet_start, "quiet hours from")?,
            quiet_end: time(&form.quiet_end, "quiet hours to")?,
            time_zone: if form.time_zone.trim().is_empty() { "UTC".into() } else { form.time_zone.trim().to_owned() },
        })
    })();
    let outcome = match wanted {
        Ok(wanted) => {
            own_preferences::set_my_preferences(&guard, wanted.clone()).await?.map_err(|problem| (wanted, problem))
        }
        Err(problem) => Err((own_preferences::my_preferences(&guard).await?, problem)),
    };
    match outcome {
        Ok(_) => Ok(HttpResponse::SeeOther().insert_header((LOCATION, "/settings/notifications?saved=1")).finish()),
        // What the person asked for stays in the form, with what is wrong with it.
        Err((asked, problem)) => html(StatusCode::UNPROCESSABLE_ENTITY, &page(chrome, &asked, Some(problem), false)),
    }
}
