//! The audit viewer (`/admin/audit`, for admins): rows filtered by user, patient, action, outcome
//! and period, newest first, a page at a time; the same rows as CSV; and whether the hash chain
//! holds. Through `http::admin::audit`, like `/api/admin/audit`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use askama::Template;

use crate::http::access::Guard;
use crate::http::admin::audit::{self, Asked, ChainStatus};
use crate::http::portal::format::instant;
use crate::http::portal::{Chrome, html};
use crate::http::surface::{Portal, Rejection};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(export_csv).service(check_chain).service(viewer);
}

struct Shown {
    seq: i64,
    at: String,
    actor: String,
    role: String,
    action: String,
    resource: String,
    patient: String,
    outcome: String,
    break_glass: bool,
    detail: String,
}

/// The filter as the form shows it.
struct Form {
    user: String,
    patient: String,
    action: String,
    outcome: String,
    from: String,
    to: String,
    break_glass: bool,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct Page {
    chrome: Chrome,
    form: Form,
    rows: Vec<Shown>,
    /// The query string of the next page, and of the CSV of the whole filter.
    next: Option<String>,
    export: String,
    chain: Option<ChainStatus>,
    problem: Option<String>,
}

/// The actions a reviewer most often looks for (the field takes any).
pub const ACTIONS: [&str; 12] = [
    "read",
    "search",
    "write",
    "respond",
    "break-glass",
    "review",
    "configure",
    "models",
    "administer",
    "sign-in",
    "sign-out",
    "audit-export",
];

fn query_string(asked: &Asked, before: Option<i64>) -> String {
    let mut pairs = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in [
        ("user", &asked.user),
        ("patient", &asked.patient),
        ("action", &asked.action),
        ("outcome", &asked.outcome),
        ("from", &asked.from),
        ("to", &asked.to),
        ("break_glass", &asked.break_glass),
    ] {
        if let Some(v) = value.as_deref().filter(|v| !v.trim().is_empty()) {
            pairs.append_pair(key, v);
        }
    }
    if let Some(before) = before {
        pairs.append_pair("before", &before.to_string());
    }
    pairs.finish()
}

async fn render(
    guard: &Guard<Portal>,
    asked: Asked,
    chain: Option<ChainStatus>,
) -> Result<HttpResponse, Rejection<Portal>> {
    let chrome = Chrome::of(guard)?;
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let form = Form {
        user: text(&asked.user),
        patient: text(&asked.patient),
        action: text(&asked.action),
        outcome: text(&asked.outcome),
        from: text(&asked.from),
        to: text(&asked.to),
        break_glass: asked.break_glass.is_some(),
    };
    let export = query_string(&asked, None);
    let (rows, next, problem, status) = match asked.parse() {
        Err(problem) => (Vec::new(), None, Some(problem), StatusCode::UNPROCESSABLE_ENTITY),
        Ok((filter, before)) => {
            let (rows, more) = audit::find(guard, filter, before).await?;
            let next = more.then(|| rows.last().map(|r| query_string(&asked, Some(r.seq)))).flatten();
            let rows = rows
                .into_iter()
                .map(|r| Shown {
                    seq: r.seq,
                    at: instant(r.at),
                    actor: r.actor,
                    role: r.actor_role,
                    action: r.action,
                    resource: [r.resource_type, r.resource_id].into_iter().flatten().collect::<Vec<_>>().join(" "),
                    patient: r.patient.unwrap_or_default(),
                    outcome: r.outcome,
                    break_glass: r.break_glass,
                    detail: r.detail.unwrap_or_default(),
                })
                .collect();
            (rows, next, None, StatusCode::OK)
        }
    };
    html(status, &Page { chrome, form, rows, next, export, chain, problem })
}

#[get("/admin/audit")]
async fn viewer(guard: Guard<Portal>, query: web::Query<Asked>) -> Result<HttpResponse, Rejection<Portal>> {
    render(&guard, query.into_inner(), None).await
}

/// The page with the chain's state (a walk of the whole chain, so only when asked).
#[get("/admin/audit/chain")]
async fn check_chain(guard: Guard<Portal>, query: web::Query<Asked>) -> Result<HttpResponse, Rejection<Portal>> {
    let status = audit::chain(&guard).await?;
    render(&guard, query.into_inner(), Some(status)).await
}

#[get("/admin/audit/export.csv")]
async fn export_csv(guard: Guard<Portal>, query: web::Query<Asked>) -> Result<HttpResponse, Rejection<Portal>> {
    let (filter, _) = query.parse().map_err(Rejection::bad_request)?;
    Ok(audit::csv_response(audit::export(&guard, filter).await?))
}
