//! Changing a model's status from the portal (activate, shadow, retire, rollback): a page that
//! says what the change will do, then the form that makes it through the code of `/api/models`.

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpResponse, get, post, web};
use askama::Template;
use serde::Deserialize;
use vigil_scoring::registry::Entry;

use super::models_page::label;
use super::{Chrome, check_form, html};
use crate::http::access::Guard;
use crate::http::models::card::SLOPE_BAND;
use crate::http::models::view::{self, Change};
use crate::http::surface::{Portal, Rejection};

#[derive(Template)]
#[template(path = "model_confirm.html")]
struct ConfirmPage {
    chrome: Chrome,
    version: String,
    action: &'static str,
    label: &'static str,
    consequence: String,
    problem: Option<String>,
    /// The calibration slope outside the bound, when activating needs a recorded reason.
    miscalibrated: Option<String>,
}

fn consequence(change: Change, entry: &Entry, active: Option<&str>) -> String {
    let (v, target) = (&entry.version, &entry.target);
    match change {
        Change::Activate => format!(
            "{v} becomes the active {target} model: every scoring run scores with it and its scores raise alerts.{}",
            active.map(|a| format!(" {a}, active now, is retired.")).unwrap_or_default()
        ),
        Change::Shadow => {
            format!(
                "{v} scores beside the active {target} model on every run, so it is judged on the same patients; its scores alert no one."
            )
        }
        Change::Retire => format!("{v} scores no more. It stays in the registry and can be activated again."),
        Change::Rollback => {
            format!("{v} is retired and the {target} model that was active before it becomes the active model again.")
        }
    }
}

async fn confirmation(
    guard: &Guard<Portal>,
    version: String,
    change: Change,
    problem: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, Rejection<Portal>> {
    let chrome = Chrome::of(guard)?;
    let detail = view::detail(guard, version).await?;
    let page = ConfirmPage {
        chrome,
        consequence: consequence(change, &detail.entry, detail.active.as_deref()),
        version: detail.entry.version,
        action: change.as_str(),
        label: label(change),
        problem,
        miscalibrated: detail
            .report
            .as_ref()
            .map(|r| r.model.calibration_slope)
            .filter(|s| change == Change::Activate && !(SLOPE_BAND.0..=SLOPE_BAND.1).contains(s))
            .map(|s| format!("{s:.2}")),
    };
    html(status, &page)
}

fn change_of(raw: &str) -> Result<Change, Rejection<Portal>> {
    Change::parse(raw).ok_or_else(|| Rejection::not_found(format!("models have no action {raw:?}")))
}

/// Asks before changing: a model's status decides which patients alert, so it takes a second
/// step (a page, not a script's dialog, so that it works without JavaScript).
#[get("/models/{version}/{change}")]
pub async fn confirm(
    guard: Guard<Portal>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Rejection<Portal>> {
    let (version, change) = path.into_inner();
    confirmation(&guard, version, change_of(&change)?, None, StatusCode::OK).await
}

#[derive(Debug, Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    csrf_token: String,
    /// Why a model outside the calibration bound may score anyway.
    #[serde(default)]
    override_reason: String,
}

#[post("/models/{version}/{change}")]
pub async fn apply(
    guard: Guard<Portal>,
    path: web::Path<(String, String)>,
    form: web::Form<ChangeForm>,
) -> Result<HttpResponse, Rejection<Portal>> {
    check_form(&guard, &form.csrf_token)?;
    let (version, change) = path.into_inner();
    let change = change_of(&change)?;
    let override_reason = Some(form.override_reason.clone()).filter(|r| !r.trim().is_empty());
    match view::change(&guard, version.clone(), change, override_reason).await? {
        Ok(now) => Ok(HttpResponse::SeeOther()
            .insert_header((LOCATION, format!("/models/{}?done={}", now.version, change.as_str())))
            .finish()),
        Err(problem) => confirmation(&guard, version, change, Some(problem), StatusCode::CONFLICT).await,
    }
}
