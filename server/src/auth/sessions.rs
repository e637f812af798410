//! Portal sessions, server-side: the cookie carries a random secret, the database its SHA-256,
//! the user, a CSRF token, the idle and absolute limits, and the stage of sign-in: a session
//! awaiting its second factor, or one that may only enrol one, is no sign-in yet.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use sha2::{Digest, Sha256};
use vigil_store::schema::sessions;

pub const COOKIE: &str = "__Host-vigil-session";

#[derive(Debug, Clone)]
pub struct SessionLimits {
    pub idle: Duration,
    pub absolute: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: i64,
    pub user_id: i64,
    pub csrf_token: String,
    pub stage: Stage,
}

/// How far sign-in has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Signed in: every factor given.
    Full,
    /// The password was right; the second factor is awaited.
    AwaitingCode,
    /// The password was right; the user's role requires a second factor they have not enrolled,
    /// and enrolling is all they may do.
    MustEnrol,
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::AwaitingCode => "mfa",
            Self::MustEnrol => "enroll",
        }
    }

    fn parse(raw: &str) -> Self {
        match raw {
            "full" => Self::Full,
            "mfa" => Self::AwaitingCode,
            // The column admits only the three; anything else signs nobody in.
            _ => Self::MustEnrol,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("the operating system gave no random bytes: {0}")]
    Random(#[from] getrandom::Error),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

impl crate::http::fault::Fault for SessionError {
    fn out_of_reach(&self) -> bool {
        matches!(self, Self::Database(e) if e.out_of_reach())
    }
}

/// A fresh random token: 32 bytes from the OS, URL-safe base64.
pub fn random_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0_u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Starts a session; returns the cookie secret and the session.
pub fn start(
    conn: &mut PgConnection,
    user_id: i64,
    limits: &SessionLimits,
    stage: Stage,
) -> Result<(String, Session), SessionError> {
    let secret = random_token()?;
    let csrf_token = random_token()?;
    let expires = Utc::now() + chrono::Duration::from_std(limits.absolute).unwrap_or(chrono::Duration::hours(12));
    let id = diesel::insert_into(sessions::table)
        .values((
            sessions::secret_hash.eq(digest(&secret)),
            sessions::user_id.eq(user_id),
            sessions::csrf_token.eq(&csrf_token),
            sessions::expires_at.eq(expires),
            sessions::stage.eq(stage.as_str()),
        ))
        .returning(sessions::id)
        .get_result(conn)?;
    Ok((secret, Session { id, user_id, csrf_token, stage }))
}

/// How stale a session's last-seen time may get before a request renews it.
const TOUCH_EVERY: chrono::Duration = chrono::Duration::seconds(60);

/// id, user id, CSRF token, last seen, absolute expiry, stage.
type SessionRow = (i64, i64, String, DateTime<Utc>, DateTime<Utc>, String);

/// The live session for a cookie secret, touched; None when unknown, ended, idle too long or
/// past its absolute limit.
pub fn resume(conn: &mut PgConnection, secret: &str, limits: &SessionLimits) -> QueryResult<Option<Session>> {
    let now = Utc::now();
    let idle_since = now - chrono::Duration::from_std(limits.idle).unwrap_or(chrono::Duration::MAX);
    let row: Option<SessionRow> = sessions::table
        .filter(sessions::secret_hash.eq(digest(secret)).and(sessions::ended_at.is_null()))
        .select((
            sessions::id,
            sessions::user_id,
            sessions::csrf_token,
            sessions::last_seen_at,
            sessions::expires_at,
            sessions::stage,
        ))
        .first(conn)
        .optional()?;
    let Some((id, user_id, csrf_token, last_seen, expires, stage)) = row else { return Ok(None) };
    if last_seen < idle_since || expires <= now {
        diesel::update(sessions::table.find(id)).set(sessions::ended_at.eq(now)).execute(conn)?;
        return Ok(None);
    }
    // A write per request would double what a page costs the database (a commit besides its audit
    // row's); a session seen in the last minute is not touched again, so the idle limit holds to
    // within a minute.
    if now - last_seen >= TOUCH_EVERY {
        diesel::update(sessions::table.find(id)).set(sessions::last_seen_at.eq(now)).execute(conn)?;
    }
    Ok(Some(Session { id, user_id, csrf_token, stage: Stage::parse(&stage) }))
}

pub fn end(conn: &mut PgConnection, id: i64) -> QueryResult<()> {
    diesel::update(sessions::table.find(id)).set(sessions::ended_at.eq(diesel::dsl::now)).execute(conn)?;
    Ok(())
}
