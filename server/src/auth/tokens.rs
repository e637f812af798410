//! Vigil's own access tokens: JWTs signed with the current Ed25519 key.
//!
//! Verification pins the algorithm to EdDSA (so `alg: none` and HMAC tokens made with a public
//! key fail), requires `typ: at+jwt` (RFC 9068: an ID token or any other JWT signed with the same key
//! is not an access token), a known, still-accepted `kid`, `exp`, `iat`, `iss`, `aud` and `sub` with
//! the right types, and checks `nbf` when present.

use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};

use super::keys::SigningKeys;

/// Longest lifetime of any token Vigil issues.
pub const MAX_TTL_SECS: u64 = 15 * 60;
const LEEWAY_SECS: u64 = 30;
/// The JWT type of an access token (RFC 9068, section 2.1).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: u64,
    pub iat: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    pub jti: String,
    /// Space-separated SMART scopes, for system clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// For a user's token: when their password was last set (microseconds since the epoch). A new
    /// password makes every token carrying an older value invalid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pwd: Option<i64>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token is not an access token (typ must be at+jwt)")]
    NotAnAccessToken,
    #[error("the token has no key id")]
    NoKeyId,
    #[error("the token's key id is unknown or retired")]
    UnknownKey,
    #[error("the token is invalid: {0}")]
    Invalid(String),
    #[error("could not sign the token")]
    Signing,
}

#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub issuer: String,
    pub audience: String,
}

pub fn issue(
    keys: &SigningKeys,
    settings: &TokenSettings,
    subject: &str,
    ttl_secs: u64,
    scope: Option<String>,
    pwd: Option<i64>,
) -> Result<(String, Claims), TokenError> {
    let now = jsonwebtoken::get_current_timestamp();
    let claims = Claims {
        iss: settings.issuer.clone(),
        sub: subject.to_owned(),
        aud: settings.audience.clone(),
        exp: now + ttl_secs.min(MAX_TTL_SECS),
        iat: now,
        nbf: None,
        jti: uuid::Uuid::new_v4().to_string(),
        scope,
        pwd,
    };
    let (kid, key) = keys.current();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
    let token = jsonwebtoken::encode(&header, &claims, key).map_err(|_| TokenError::Signing)?;
    Ok((token, claims))
}

pub fn verify(keys: &SigningKeys, settings: &TokenSettings, token: &str) -> Result<Claims, TokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| TokenError::Invalid(e.to_string()))?;
    let typ = header.typ.as_deref().map(str::to_ascii_lowercase);
    if !matches!(typ.as_deref(), Some("at+jwt" | "application/at+jwt")) {
        return Err(TokenError::NotAnAccessToken);
    }
    let kid = header.kid.ok_or(TokenError::NoKeyId)?;
    let key = keys.accepted(&kid).ok_or(TokenError::UnknownKey)?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[&settings.issuer]);
    validation.set_audience(&[&settings.audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.validate_nbf = true;
    validation.leeway = LEEWAY_SECS;
    let data =
        jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|e| TokenError::Invalid(e.to_string()))?;
    if data.claims.iat > jsonwebtoken::get_current_timestamp() + LEEWAY_SECS {
        return Err(TokenError::Invalid("issued in the future".into()));
    }
    Ok(data.claims)
}

/// Tokens verified before, by the SHA-256 of their text, until they expire: a client sends the same
/// token with every request, and verifying its Ed25519 signature each time would cost more CPU than
/// the rest of a read by id. What the token stands for (the user enabled, the password unchanged,
/// the client active) is still checked against the database on every request.
#[derive(Debug, Default)]
pub struct VerifiedTokens {
    cache: std::sync::Mutex<std::collections::HashMap<[u8; 32], Claims>>,
}

/// Most tokens remembered; past it, the expired ones are forgotten, else all.
const REMEMBERED: usize = 10_000;

impl VerifiedTokens {
    pub fn verify(&self, keys: &SigningKeys, settings: &TokenSettings, token: &str) -> Result<Claims, TokenError> {
        use sha2::Digest;
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        let now = jsonwebtoken::get_current_timestamp();
        let fresh = |c: &Claims| c.exp + LEEWAY_SECS > now && c.nbf.is_none_or(|nbf| nbf <= now + LEEWAY_SECS);
        if let Ok(cache) = self.cache.lock()
            && let Some(claims) = cache.get(&digest).filter(|c| fresh(c))
        {
            return Ok(claims.clone());
        }
        let claims = verify(keys, settings, token)?;
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= REMEMBERED {
                cache.retain(|_, c| fresh(c));
                if cache.len() >= REMEMBERED {
                    cache.clear();
                }
            }
            cache.insert(digest, claims.clone());
        }
        Ok(claims)
    }
}
