//! A clinician's own notification preferences, as the JSON API and the portal's settings page
//! read and change them (audited as their own settings, not a patient's data).

use crate::alerts::preferences::{self, Preferences};
use crate::http::access::Guard;
use crate::http::surface::{Rejection, Surface};

/// The kind of settings the audit trail names.
const SETTINGS: &str = "NotificationPreferences";

/// The caller's notification preferences (audited as a read of their own settings).
pub async fn my_preferences<S: Surface>(guard: &Guard<S>) -> Result<Preferences, Rejection<S>> {
    guard.own_settings(SETTINGS, false, |conn, user| preferences::get(conn, user).map(Some)).await
}

/// Stores the caller's notification preferences; what they are now, or why not.
pub async fn set_my_preferences<S: Surface>(
    guard: &Guard<S>,
    wanted: Preferences,
) -> Result<Result<Preferences, String>, Rejection<S>> {
    if let Err(e) = wanted.check() {
        return Ok(Err(e.to_string()));
    }
    guard
        .own_settings(SETTINGS, true, move |conn, user| match preferences::set(conn, user, &wanted)? {
            Ok(()) => preferences::get(conn, user).map(|p| Some(Ok(p))),
            Err(refused) => Ok(Some(Err(refused.to_string()))),
        })
        .await
}
