//! The audit trail for reviewers (admins): rows found by who, which patient, what, how it ended and
//! when, newest first; the same as CSV; and whether the hash chain holds. Reading the trail is
//! itself audited. Shared by the JSON API (`/api/admin/audit`) and the portal's audit viewer.

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::json;
use vigil_store::audit::search::{self, Filter, Found};
use vigil_store::audit::{self, Verification};

use super::refusal;
use crate::audit_csv;
use crate::auth::policy::Action;
use crate::http::access::{Access, Guard};
use crate::http::surface::{Api, Rejection, Surface};

const REVIEW: Access = Access { action: Action::ReviewAccess, resource_type: "AuditLog", data_category: "audit" };

/// Rows a page shows.
pub const PAGE: i64 = 50;
/// The most rows one CSV export holds; a longer period is exported in parts (or with
/// `vigil audit export`).
pub const EXPORT_LIMIT: i64 = 100_000;

/// A reviewer's question as a query string or form sends it.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Asked {
    pub user: Option<String>,
    pub patient: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    /// A day (`YYYY-MM-DD`, from its start) or an instant (RFC 3339).
    pub from: Option<String>,
    /// A day (to its end) or an instant.
    pub to: Option<String>,
    pub break_glass: Option<String>,
    /// The sequence number the previous page ended above.
    pub before: Option<String>,
}

fn instant(raw: &str, field: &str, end_of_day: bool) -> Result<DateTime<Utc>, String> {
    if let Ok(day) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        let start = day.and_hms_opt(0, 0, 0).map(|t| t.and_utc()).ok_or_else(|| format!("{field}: no such day"))?;
        return Ok(if end_of_day { start + Duration::days(1) } else { start });
    }
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("{field} {raw:?}: expected a day (YYYY-MM-DD) or an instant (RFC 3339)"))
}

impl Asked {
    /// The filter and the page's start, or what is wrong with the question.
    pub fn parse(&self) -> Result<(Filter, Option<i64>), String> {
        let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
        let outcome = given(&self.outcome);
        if let Some(o) = &outcome
            && !["success", "denied", "failure"].contains(&o.as_str())
        {
            return Err(format!("outcome {o:?}: expected success, denied or failure"));
        }
        let from = given(&self.from).map(|f| instant(&f, "from", false)).transpose()?;
        let to = given(&self.to).map(|t| instant(&t, "to", true)).transpose()?;
        if let (Some(from), Some(to)) = (from, to)
            && from >= to
        {
            return Err("the period ends before it starts".into());
        }
        let before = given(&self.before)
            .map(|b| b.parse::<i64>().map_err(|_| format!("before {b:?} is not a position we gave")))
            .transpose()?;
        let filter = Filter {
            actor: given(&self.user).map(|u| u.to_lowercase()),
            patient: given(&self.patient),
            action: given(&self.action),
            outcome,
            from,
            to,
            break_glass_only: self.break_glass.is_some(),
        };
        Ok((filter, before))
    }
}

fn described(filter: &Filter) -> String {
    let parts = [
        filter.actor.as_ref().map(|a| format!("actor={a}")),
        filter.patient.as_ref().map(|_| "patient=given".to_owned()),
        filter.action.as_ref().map(|a| format!("action={a}")),
        filter.outcome.as_ref().map(|o| format!("outcome={o}")),
        filter.from.map(|f| format!("from={}", f.to_rfc3339())),
        filter.to.map(|t| format!("to={}", t.to_rfc3339())),
        filter.break_glass_only.then(|| "break-glass".to_owned()),
    ];
    let shown: Vec<String> = parts.into_iter().flatten().collect();
    if shown.is_empty() { "all".into() } else { shown.join(" ") }
}

/// A page of rows matching `filter` below `before`, newest first, and whether there are more.
pub async fn find<S: Surface>(
    guard: &Guard<S>,
    filter: Filter,
    before: Option<i64>,
) -> Result<(Vec<Found>, bool), Rejection<S>> {
    // The note says what was looked for (never which patient: the row's own patient column would
    // name them, and a search for one is not an access to their data).
    let note = Some(format!("search {}", described(&filter)));
    guard
        .system_noted(REVIEW, None, note, move |conn| {
            let mut rows = search::search(conn, &filter, before, PAGE + 1).map_err(store)?;
            let more = rows.len() as i64 > PAGE;
            rows.truncate(PAGE as usize);
            Ok(Some((rows, more)))
        })
        .await
}

fn store(e: vigil_store::StoreError) -> diesel::result::Error {
    match e {
        vigil_store::StoreError::Query(e) => e,
        other => crate::http::fault::unexpected(&other),
    }
}

/// The rows matching `filter` as CSV (at most [`EXPORT_LIMIT`], newest first).
pub async fn export<S: Surface>(guard: &Guard<S>, filter: Filter) -> Result<Vec<u8>, Rejection<S>> {
    let note = Some(format!("export {}", described(&filter)));
    guard
        .system_noted(REVIEW, None, note, move |conn| {
            let mut csv = csv::Writer::from_writer(Vec::new());
            let written = (|| {
                csv.write_record(audit_csv::HEADER)?;
                let (mut before, mut rows) = (None, 0_i64);
                while rows < EXPORT_LIMIT {
                    let page = search::search(conn, &filter, before, 5_000.min(EXPORT_LIMIT - rows))
                        .map_err(|e| csv::Error::from(std::io::Error::other(e.to_string())))?;
                    let Some(last) = page.last() else { break };
                    before = Some(last.seq);
                    for r in &page {
                        audit_csv::write_row(&mut csv, r)?;
                    }
                    rows += page.len() as i64;
                }
                csv.into_inner().map_err(|e| csv::Error::from(e.into_error()))
            })();
            written.map(Some).map_err(|e| crate::http::fault::unexpected(&e))
        })
        .await
}

/// Whether the audit trail's hash chain holds, as a reviewer reads it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChainStatus {
    pub intact: bool,
    pub sealed: u64,
    pub head: Option<String>,
    pub unsealed: i64,
    pub problem: Option<String>,
}

/// Seals what is waiting, then walks the whole chain.
pub async fn chain<S: Surface>(guard: &Guard<S>) -> Result<ChainStatus, Rejection<S>> {
    guard
        .system_noted(REVIEW, None, Some("verify".into()), |conn| {
            audit::chain::seal_all(conn).map_err(store)?;
            Ok(Some(match audit::verify(conn).map_err(store)? {
                Verification::Intact { sealed, head, unsealed } => ChainStatus {
                    intact: true,
                    sealed,
                    head: head.map(|h| format!("{}:{}", h.position, hex::encode(h.hash))),
                    unsealed: unsealed.rows,
                    problem: None,
                },
                Verification::Broken { position, seq, problem } => ChainStatus {
                    intact: false,
                    sealed: 0,
                    head: None,
                    unsealed: 0,
                    problem: Some(format!("row {seq} (chain position {position}): {problem}")),
                },
            }))
        })
        .await
}

/// An audit row as the API shows it.
pub fn shown(r: &Found) -> serde_json::Value {
    json!({
        "seq": r.seq, "at": r.at, "actor": r.actor, "role": r.actor_role, "action": r.action,
        "resource_type": r.resource_type, "resource_id": r.resource_id, "patient": r.patient,
        "data_category": r.data_category, "outcome": r.outcome, "source_address": r.source_address,
        "request_id": r.request_id, "break_glass": r.break_glass, "detail": r.detail,
    })
}

#[get("/api/admin/audit")]
async fn api_find(guard: Guard<Api>, query: web::Query<Asked>) -> Result<HttpResponse, Rejection<Api>> {
    let (filter, before) = query.parse().map_err(refusal)?;
    let (rows, more) = find(&guard, filter, before).await?;
    let next = more.then(|| rows.last().map(|r| r.seq.to_string())).flatten();
    Ok(HttpResponse::Ok().json(json!({ "rows": rows.iter().map(shown).collect::<Vec<_>>(), "next_before": next })))
}

#[get("/api/admin/audit/export.csv")]
async fn api_export(guard: Guard<Api>, query: web::Query<Asked>) -> Result<HttpResponse, Rejection<Api>> {
    let (filter, _) = query.parse().map_err(refusal)?;
    Ok(csv_response(export(&guard, filter).await?))
}

/// A CSV download named for the day it was made.
pub fn csv_response(body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"vigil-audit-{}.csv\"", Utc::now().format("%Y-%m-%d")),
        ))
        .body(body)
}

#[get("/api/admin/audit/chain")]
async fn api_chain(guard: Guard<Api>) -> Result<HttpResponse, Rejection<Api>> {
    Ok(HttpResponse::Ok().json(chain(&guard).await?))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(api_export).service(api_chain).service(api_find);
}
