//! Portal sessions as the portal's handlers see them: starting one at a stage of sign-in, ending
//! one, finding the session of a sign-in still under way (awaiting its second factor, or allowed
//! only to enrol one), and the enrolment and second-factor steps, which need the database.

use actix_web::{HttpRequest, web};

use super::database::Database;
use super::sign_in::second_factor;
use super::{AuthState, RequestContext};
use crate::auth::mfa::{self, Enrolment, MfaError};
use crate::auth::sessions::{self, Session, Stage};
use crate::auth::users::{self, User};
use crate::http::surface::{Portal, Rejection, Surface};

/// Starts a portal session at `stage` for a user who just proved their password; returns the
/// cookie secret.
pub async fn start_session<S: Surface>(
    db: &web::Data<Database>,
    state: &AuthState,
    user_id: i64,
    stage: Stage,
) -> Result<String, Rejection<S>> {
    let (db, limits) = (db.clone().into_inner(), state.sessions.clone());
    web::block(move || {
        let mut conn = db.conn().map_err(|e| Rejection::fault(&e))?;
        sessions::start(&mut conn, user_id, &limits, stage).map(|(secret, _)| secret).map_err(|e| Rejection::fault(&e))
    })
    .await
    .map_err(|e| Rejection::internal(&e))?
}

pub async fn end_session<S: Surface>(db: &web::Data<Database>, session_id: i64) -> Result<(), Rejection<S>> {
    let db = db.clone().into_inner();
    web::block(move || {
        let mut conn = db.conn().map_err(|e| Rejection::fault(&e))?;
        sessions::end(&mut conn, session_id).map_err(|e| Rejection::fault(&e))
    })
    .await
    .map_err(|e| Rejection::internal(&e))?
}

/// The portal session of this request at whatever stage, with its user; None when there is none
/// (or its user is disabled).
pub async fn any_stage(req: &HttpRequest) -> Result<Option<(Session, User)>, Rejection<Portal>> {
    let (Some(db), Some(state)) = (req.app_data::<web::Data<Database>>(), req.app_data::<web::Data<AuthState>>())
    else {
        return Err(Rejection::internal(&"the portal is not configured"));
    };
    let Some(secret) = req.cookie(sessions::COOKIE).map(|c| c.value().to_owned()) else { return Ok(None) };
    let (db, limits) = (db.clone().into_inner(), state.sessions.clone());
    web::block(move || {
        let mut conn = db.conn().map_err(|e| Rejection::fault(&e))?;
        let Some(session) = sessions::resume(&mut conn, &secret, &limits).map_err(|e| Rejection::fault(&e))? else {
            return Ok(None);
        };
        match users::by_id(&mut conn, session.user_id).map_err(|e| Rejection::fault(&e))? {
            Some(user) if !user.disabled => Ok(Some((session, user))),
            _ => Ok(None),
        }
    })
    .await
    .map_err(|e| Rejection::internal(&e))?
}

/// Offers `user` a fresh secret to enrol.
pub async fn begin_enrolment(db: &web::Data<Database>, user: User) -> Result<Enrolment, Rejection<Portal>> {
    let db = db.clone().into_inner();
    web::block(move || {
        let mut conn = db.conn().map_err(|e| Rejection::fault(&e))?;
        mfa::begin(&mut conn, &user).map_err(|e| Rejection::fault(&e))
    })
    .await
    .map_err(|e| Rejection::internal(&e))?
}

/// Confirms an enrolment with a code; the recovery codes, or None when the code is wrong.
pub async fn confirm_enrolment(
    db: &web::Data<Database>,
    context: &RequestContext,
    user: User,
    code: String,
) -> Result<Option<Vec<String>>, Rejection<Portal>> {
    let (db, context) = (db.clone().into_inner(), context.clone());
    web::block(move || {
        let mut conn = db.conn().map_err(|e| Rejection::fault(&e))?;
        let outcome = match mfa::confirm(&mut conn, &user, &code) {
            Ok(codes) => Some(codes),
            Err(MfaError::WrongCode | MfaError::NotStarted) => None,
            Err(e) => return Err(Rejection::fault(&e)),
        };
        let (result, detail) = match &outcome {
            Some(_) => (vigil_store::audit::Outcome::Success, "second factor enrolled"),
            None => (vigil_store::audit::Outcome::Failure, "enrolment code wrong"),
        };
        let event = vigil_store::audit::AuditEvent {
            resource_type: Some("User".into()),
            resource_id: Some(user.username.clone()),
            detail: Some(detail.into()),
            ..context.event(format!("user:{}", user.username), user.role.as_str(), "mfa-enrol", result)
        };
        super::audit_or_refuse(&mut conn, &event)?;
        Ok(outcome)
    })
    .await
    .map_err(|e| Rejection::internal(&e))?
}

/// Checks the second factor of a sign-in awaiting it.
pub async fn check_second_factor(
    db: &web::Data<Database>,
    context: &RequestContext,
    user: User,
    code: String,
) -> Result<bool, Rejection<Portal>> {
    let (db, context) = (db.clone().into_inner(), context.clone());
    web::block(move || second_factor(&db, &context, &user, &code)).await.map_err(|e| Rejection::internal(&e))?
}
