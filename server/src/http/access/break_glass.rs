//! Break-glass: a clinician opens a patient outside their units by giving a reason. The grant
//! expires (4 hours by default); every access under it is flagged in the audit; admins review
//! the grants.
//!
//! `POST /api/patients/{id}/break-glass` `{"reason": "..."}` grants; `GET /api/admin/break-glass`
//! lists grants not yet reviewed; `POST /api/admin/break-glass/{grant}/review` `{"note": "..."}`
//! records the review.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::json;
use vigil_store::schema::{break_glass_grants, patients, users};

use super::{Access, AuthState, Guard};
use crate::auth::policy::Action;
use crate::http::surface::{Api, Rejection};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(grant_break_glass).service(unreviewed).service(review);
}

#[derive(Deserialize)]
struct GrantRequest {
    reason: String,
}

const MIN_REASON_CHARS: usize = 10;

#[post("/api/patients/{id}/break-glass")]
async fn grant_break_glass(
    guard: Guard<Api>,
    id: web::Path<String>,
    body: web::Json<GrantRequest>,
    state: web::Data<AuthState>,
) -> Result<HttpResponse, Rejection<Api>> {
    let reason = body.into_inner().reason.trim().to_owned();
    if reason.chars().count() < MIN_REASON_CHARS {
        return Err(Rejection::new(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            "reason_required",
            format!("give the reason for opening this record ({MIN_REASON_CHARS} characters or more)"),
        ));
    }
    let user_id = guard.principal().user_id().ok_or_else(|| Rejection::forbidden("only people can break the glass"))?;
    let expires = Utc::now() + chrono::Duration::from_std(state.break_glass).unwrap_or_default();
    let access = Access { action: Action::BreakGlass, resource_type: "Patient", data_category: "access" };
    let (grant_id, expires_at) = guard
        .patient(access, id.into_inner(), move |conn, patient| {
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
    Ok(HttpResponse::Created().json(json!({ "grant": grant_id, "expires_at": expires_at })))
}

const REVIEW: Access =
    Access { action: Action::ReviewAccess, resource_type: "BreakGlassGrant", data_category: "access" };

#[get("/api/admin/break-glass")]
async fn unreviewed(guard: Guard<Api>) -> Result<HttpResponse, Rejection<Api>> {
    let rows = guard
        .system(REVIEW, None, |conn| {
            break_glass_grants::table
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
                .load::<(i64, String, String, String, DateTime<Utc>, DateTime<Utc>)>(conn)
                .map(Some)
        })
        .await?;
    let grants: Vec<_> = rows
        .into_iter()
        .map(|(id, user, patient, reason, granted, expires)| {
            json!({ "grant": id, "user": user, "patient": patient, "reason": reason, "granted_at": granted, "expires_at": expires })
        })
        .collect();
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
    let grant_id = grant_id.into_inner();
    let note = body.into_inner().note;
    guard
        .system(REVIEW, Some(grant_id.to_string()), move |conn| {
            let updated = diesel::update(
                break_glass_grants::table.find(grant_id).filter(break_glass_grants::reviewed_at.is_null()),
            )
            .set((
                break_glass_grants::reviewed_at.eq(diesel::dsl::now),
                break_glass_grants::reviewed_by.eq(reviewer),
                break_glass_grants::review_note.eq(note),
            ))
            .execute(conn)?;
            Ok((updated == 1).then_some(()))
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
