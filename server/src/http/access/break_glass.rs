//! Break-glass: a clinician opens a patient outside their units by giving a reason. The grant
//! expires (4 hours by default); every access under it is flagged in the audit; admins review
//! the grants.
//!
//! `POST /api/patients/{id}/break-glass` `{"reason": "..."}` grants; `GET /api/admin/break-glass`
//! lists grants not yet reviewed; `POST /api/admin/break-glass/{grant}/review` `{"note": "..."}`
//! records the review. The portal's `/admin/break-glass` page does the same for admins in a browser.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::json;
use vigil_store::schema::{break_glass_grants, patients, users};

use super::{Access, AuthState, Guard};
use crate::auth::policy::Action;
use actix_web::http::StatusCode;

use crate::http::portal::{check_form, html};
use crate::http::surface::{Api, Portal, Rejection, Surface};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(grant_break_glass).service(unreviewed).service(review).service(review_page).service(review_form);
}

#[derive(Deserialize)]
struct GrantRequest {
    reason: String,
}

const MIN_REASON_CHARS: usize = 10;

/// Grants the caller break-glass access to patient `fhir_id` for `lasts`, with `reason` kept in
/// the grant and in the audit chain; the grant and its end, or why the reason is refused.
pub async fn grant<S: Surface>(
    guard: &Guard<S>,
    fhir_id: String,
    reason: &str,
    lasts: std::time::Duration,
) -> Result<Result<(i64, DateTime<Utc>), String>, Rejection<S>> {
    let reason = reason.trim().to_owned();
    if reason.chars().count() < MIN_REASON_CHARS || reason.chars().any(|c| c.is_control() && c != '\n') {
        return Ok(Err(format!("give the reason for opening this record ({MIN_REASON_CHARS} characters or more)")));
    }
    let user_id = guard.principal().user_id().ok_or_else(|| Rejection::forbidden("only people can break the glass"))?;
    let expires = Utc::now() + chrono::Duration::from_std(lasts).unwrap_or_default();
    let access = Access { action: Action::BreakGlass, resource_type: "Patient", data_category: "access" };
    // The reason is kept with the grant and, so that it can never be changed unnoticed, in the
    // audit row inside the chain.
    let note = format!("reason: {reason}");
    let granted = guard
        .patient_noted(access, fhir_id, note, move |conn, patient| {
            diesel::insert_into(break_glass_grants::table)
                .values((
                    break_glass_grants::user_id.eq(user_id),
                    break_glass_grants::patient_id.eq(patient.id),
                    break_glass_grants::reason.eq(&reason),
                    break_glass_grants::expires_at.eq(expires),
                ))
                .returning((break_glass_grants::id, break_glass_grants::expires_at))
                .get_result::<(i64, DateTime<Utc>)>(conn)
                .map(Some)
        })
        .await?;
    Ok(Ok(granted))
}

#[post("/api/patients/{id}/break-glass")]
async fn grant_break_glass(
    guard: Guard<Api>,
    id: web::Path<String>,
    body: web::Json<GrantRequest>,
    state: web::Data<AuthState>,
) -> Result<HttpResponse, Rejection<Api>> {
    let granted = grant(&guard, id.into_inner(), &body.reason, state.break_glass)
        .await?
        .map_err(|message| Rejection::new(StatusCode::UNPROCESSABLE_ENTITY, "reason_required", message))?;
    let (grant_id, expires_at) = granted;
    Ok(HttpResponse::Created().json(json!({ "grant": grant_id, "expires_at": expires_at })))
}

const REVIEW: Access =
    Access { action: Action::ReviewAccess, resource_type: "BreakGlassGrant", data_category: "access" };

/// A grant awaiting review, as the API and the portal show it.
#[derive(Debug, serde::Serialize)]
struct Unreviewed {
    #[serde(rename = "grant")]
    id: i64,
    user: String,
    patient: String,
    reason: String,
    granted_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

fn unreviewed_grants(conn: &mut PgConnection) -> QueryResult<Option<Vec<Unreviewed>>> {
    let rows = break_glass_grants::table
        .inner_join(users::table.on(users::id.eq(break_glass_grants::user_id)))
        .inner_join(patients::table)
        .filter(break_glass_grants::reviewed_at.is_null())
        .order(break_glass_grants::granted_at)
        .select((
            break_glass_grants::id,
            users::username,
            patients::fhir_id,
            break_glass_grants::reason,
            break_glass_grants::granted_at,
            break_glass_grants::expires_at,
        ))
        .load::<(i64, String, String, String, DateTime<Utc>, DateTime<Utc>)>(conn)?;
    let grants = rows
        .into_iter()
        .map(|(id, user, patient, reason, granted_at, expires_at)| Unreviewed {
            id,
            user,
            patient,
            reason,
            granted_at,
            expires_at,
        })
        .collect();
    Ok(Some(grants))
}

/// Marks a grant reviewed; None when there is no unreviewed grant with this id.
fn mark_reviewed(conn: &mut PgConnection, grant: i64, reviewer: i64, note: Option<String>) -> QueryResult<Option<()>> {
    let updated =
        diesel::update(break_glass_grants::table.find(grant).filter(break_glass_grants::reviewed_at.is_null()))
            .set((
                break_glass_grants::reviewed_at.eq(diesel::dsl::now),
                break_glass_grants::reviewed_by.eq(reviewer),
                break_glass_grants::review_note.eq(note.filter(|n| !n.trim().is_empty())),
            ))
            .execute(conn)?;
    Ok((updated == 1).then_some(()))
}

#[get("/api/admin/break-glass")]
async fn unreviewed(guard: Guard<Api>) -> Result<HttpResponse, Rejection<Api>> {
    let grants = guard.system(REVIEW, None, unreviewed_grants).await?;
    Ok(HttpResponse::Ok().json(json!({ "grants": grants })))
}

#[derive(Deserialize)]
struct ReviewRequest {
    note: Option<String>,
}

#[post("/api/admin/break-glass/{grant}/review")]
async fn review(
    guard: Guard<Api>,
    grant_id: web::Path<i64>,
    body: web::Json<ReviewRequest>,
) -> Result<HttpResponse, Rejection<Api>> {
    let reviewer = guard.principal().user_id().ok_or_else(|| Rejection::forbidden("only people review grants"))?;
    let (grant_id, note) = (grant_id.into_inner(), body.into_inner().note);
    guard.system(REVIEW, Some(grant_id.to_string()), move |conn| mark_reviewed(conn, grant_id, reviewer, note)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(askama::Template)]
#[template(path = "break_glass_review.html")]
struct ReviewPage<'a> {
    chrome: crate::http::portal::Chrome,
    grants: &'a [Unreviewed],
}

#[get("/admin/break-glass")]
async fn review_page(guard: Guard<Portal>) -> Result<HttpResponse, Rejection<Portal>> {
    let chrome = crate::http::portal::Chrome::of(&guard)?;
    let grants = guard.system(REVIEW, None, unreviewed_grants).await?;
    html(StatusCode::OK, &ReviewPage { chrome, grants: &grants })
}

#[derive(Deserialize)]
struct ReviewForm {
    #[serde(default)]
    csrf_token: String,
    note: Option<String>,
}

#[post("/admin/break-glass/{grant}/review")]
async fn review_form(
    guard: Guard<Portal>,
    grant_id: web::Path<i64>,
    form: web::Form<ReviewForm>,
) -> Result<HttpResponse, Rejection<Portal>> {
    let form = form.into_inner();
    check_form(&guard, &form.csrf_token)?;
    let reviewer = guard.principal().user_id().ok_or_else(|| Rejection::forbidden("only people review grants"))?;
    let grant_id = grant_id.into_inner();
    guard
        .system(REVIEW, Some(grant_id.to_string()), move |conn| mark_reviewed(conn, grant_id, reviewer, form.note))
        .await?;
    Ok(HttpResponse::SeeOther().insert_header((actix_web::http::header::LOCATION, "/admin/break-glass")).finish())
}
