//! Multi-factor sign-in: TOTP (RFC 6238: SHA-1, 6 digits, 30 s steps, one step of skew) with
//! totp-rs, and single-use recovery codes.
//!
//! Enrolment offers a fresh secret (kept as `totp_pending`) as an `otpauth://` URL, its QR code
//! (an SVG rendered here, shown as a `data:` image, so the strict CSP holds) and its base32 text; a
//! code from the authenticator confirms it, which makes it the user's secret and issues ten recovery
//! codes, shown once and stored as SHA-256. A code is accepted once: its time step must be later
//! than the last accepted one, which one conditional UPDATE decides.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use diesel::prelude::*;
use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, Builder, Totp};
use vigil_store::schema::{user_recovery_codes, users};

use super::users::User;

const ISSUER: &str = "Vigil";
const RECOVERY_CODES: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    #[error("no enrolment is under way: start it again")]
    NotStarted,
    #[error("the code does not match")]
    WrongCode,
    #[error("could not make a secret: {0}")]
    Random(String),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

fn totp(secret: &[u8], account: &str) -> Result<Totp, MfaError> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_skew(1)
        .with_secret(secret.to_vec())
        .with_account_name(account)
        .with_issuer(Some(ISSUER))
        .build()
        .map_err(|e| MfaError::Random(e.to_string()))
}

fn random(bytes: usize) -> Result<Vec<u8>, MfaError> {
    let mut out = vec![0_u8; bytes];
    getrandom::fill(&mut out).map_err(|e| MfaError::Random(e.to_string()))?;
    Ok(out)
}

/// What the enrolment page shows.
#[derive(Debug)]
pub struct Enrolment {
    /// The secret as base32, for typing into an authenticator.
    pub secret: String,
    /// The `otpauth://` URL, and its QR code as a `data:image/svg+xml` URI.
    pub url: String,
    pub qr: String,
}

/// Offers a fresh secret for `user` to enrol with (replacing any offered before).
pub fn begin(conn: &mut PgConnection, user: &User) -> Result<Enrolment, MfaError> {
    let secret = random(20)?;
    diesel::update(users::table.find(user.id)).set(users::totp_pending.eq(&secret)).execute(conn)?;
    let totp = totp(&secret, &user.username)?;
    let url = totp.to_url().map_err(|e| MfaError::Random(e.to_string()))?;
    let svg = qrcode::QrCode::new(url.as_bytes())
        .map_err(|e| MfaError::Random(e.to_string()))?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(220, 220)
        .build();
    Ok(Enrolment {
        secret: totp.secret().to_base32(),
        url,
        qr: format!("data:image/svg+xml;base64,{}", STANDARD.encode(svg)),
    })
}

/// Confirms the offered secret with a code from the authenticator; returns the recovery codes,
/// which are shown once.
pub fn confirm(conn: &mut PgConnection, user: &User, code: &str) -> Result<Vec<String>, MfaError> {
    conn.transaction(|conn| {
        let pending: Option<Vec<u8>> = users::table.find(user.id).select(users::totp_pending).first(conn)?;
        let secret = pending.ok_or(MfaError::NotStarted)?;
        let step = totp(&secret, &user.username)?.check_current(code.trim()).ok_or(MfaError::WrongCode)?;
        diesel::update(users::table.find(user.id))
            .set((
                users::totp_secret.eq(Some(&secret)),
                users::totp_pending.eq(None::<Vec<u8>>),
                users::totp_last_step.eq(Some(step as i64)),
            ))
            .execute(conn)?;
        diesel::delete(user_recovery_codes::table.filter(user_recovery_codes::user_id.eq(user.id))).execute(conn)?;
        let mut codes = Vec::with_capacity(RECOVERY_CODES);
        for _ in 0..RECOVERY_CODES {
            let code = recovery_code()?;
            diesel::insert_into(user_recovery_codes::table)
                .values((
                    user_recovery_codes::user_id.eq(user.id),
                    user_recovery_codes::code_hash.eq(recovery_hash(&code)),
                ))
                .execute(conn)?;
            codes.push(code);
        }
        Ok(codes)
    })
}

/// A recovery code: ten letters and digits (base32, 50 bits) in two groups of five.
fn recovery_code() -> Result<String, MfaError> {
    const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let bytes = random(10)?;
    let chars: String = bytes.iter().map(|b| ALPHABET[usize::from(b % 32)] as char).collect();
    Ok(format!("{}-{}", &chars[..5], &chars[5..]))
}

fn recovery_hash(code: &str) -> Vec<u8> {
    let normal: String = code.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_lowercase();
    Sha256::digest(normal.as_bytes()).to_vec()
}

/// Checks a second factor: a current TOTP code not used before, or an unused recovery code (used
/// up by this). Anything else is false.
pub fn verify(conn: &mut PgConnection, user: &User, code: &str) -> Result<bool, MfaError> {
    let code = code.trim();
    let secret: Option<Vec<u8>> = users::table.find(user.id).select(users::totp_secret).first(conn)?;
    let Some(secret) = secret else { return Ok(false) };
    if code.len() == 6 && code.chars().all(|c| c.is_ascii_digit()) {
        let Some(step) = totp(&secret, &user.username)?.check_current(code) else { return Ok(false) };
        let step = step as i64;
        // Accepted once: only a step later than the last accepted one moves it.
        let moved = diesel::update(
            users::table.find(user.id).filter(users::totp_last_step.is_null().or(users::totp_last_step.lt(step))),
        )
        .set(users::totp_last_step.eq(step))
        .execute(conn)?;
        return Ok(moved == 1);
    }
    let used = diesel::update(
        user_recovery_codes::table
            .filter(user_recovery_codes::user_id.eq(user.id))
            .filter(user_recovery_codes::code_hash.eq(recovery_hash(code)))
            .filter(user_recovery_codes::used_at.is_null()),
    )
    .set(user_recovery_codes::used_at.eq(diesel::dsl::now))
    .execute(conn)?;
    Ok(used == 1)
}

/// Removes a user's second factor and recovery codes (`vigil user reset-mfa`).
pub fn reset(conn: &mut PgConnection, user_id: i64) -> QueryResult<()> {
    conn.transaction(|conn| {
        diesel::update(users::table.find(user_id))
            .set((
                users::totp_secret.eq(None::<Vec<u8>>),
                users::totp_pending.eq(None::<Vec<u8>>),
                users::totp_last_step.eq(None::<i64>),
            ))
            .execute(conn)?;
        diesel::delete(user_recovery_codes::table.filter(user_recovery_codes::user_id.eq(user_id))).execute(conn)?;
        Ok(())
    })
}

/// The code an authenticator shows now for a secret given as base32 (for tests and for checking
/// an enrolment by hand).
pub fn current_code(secret_base32: &str, account: &str) -> Option<String> {
    let secret = totp_rs::Secret::try_from_base32(secret_base32).ok()?;
    Some(totp(&secret, account).ok()?.generate_current().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_random_and_compared_loosely() {
        let (a, b) = (recovery_code().expect("code"), recovery_code().expect("code"));
        assert_ne!(a, b);
        assert_eq!(a.len(), 11);
        assert_eq!(recovery_hash(&a), recovery_hash(&a.to_uppercase().replace('-', " ")));
    }

    #[test]
    fn codes_are_those_of_rfc_6238_parameters() {
        let secret = [7_u8; 20];
        let totp = totp(&secret, "nurse").expect("totp");
        let now = totp.generate_current().to_string();
        assert_eq!(now.len(), 6);
        assert!(totp.check_current(&now).is_some());
        assert!(totp.to_url().expect("url").starts_with("otpauth://totp/Vigil:nurse?"));
        assert_eq!(current_code(&totp.secret().to_base32(), "nurse").as_deref(), Some(now.as_str()));
    }
}
