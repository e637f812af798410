//! The JWTs clients sign, read before and after their signature is checked, with no database:
//! SMART Backend Services client assertions and CDS Hooks request tokens. What needs the database
//! (the client's registered keys, the `jti` never seen before) is in [`super::clients`].

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::clients::{ClientError, LEEWAY_SECS, MAX_ASSERTION_SECS};

/// The claims of a client assertion (SMART Backend Services).
#[derive(Debug, Deserialize)]
pub struct AssertionClaims {
    pub iss: String,
    sub: String,
    pub exp: u64,
    pub jti: String,
    /// Optional in SMART Backend Services; when present, not in the future and within an
    /// assertion's lifetime of `exp`. (`nbf` is checked by jsonwebtoken when present.)
    #[serde(default)]
    iat: Option<u64>,
}

/// The claims of a CDS Hooks request's JWT (CDS Hooks 2.0, "Trusting CDS Clients").
#[derive(Debug, Deserialize)]
pub struct CdsClaims {
    pub iss: String,
    /// Optional in CDS Hooks 2.0; when sent, it must be the client's id.
    sub: Option<String>,
    pub exp: u64,
    iat: u64,
    pub jti: String,
}

/// Claims naming who signed them and the token's id: the two values looked up or recorded in the
/// database before the signature can be checked.
pub trait Named {
    fn iss(&self) -> &str;
    fn jti(&self) -> &str;
}

impl Named for AssertionClaims {
    fn iss(&self) -> &str {
        &self.iss
    }
    fn jti(&self) -> &str {
        &self.jti
    }
}

impl Named for CdsClaims {
    fn iss(&self) -> &str {
        &self.iss
    }
    fn jti(&self) -> &str {
        &self.jti
    }
}

fn invalid(message: &str) -> ClientError {
    ClientError::InvalidAssertion(message.to_owned())
}

/// A signed token read but not yet verified: nothing in it is trusted but the issuer's name, and
/// that only to find the keys that verify it.
#[derive(Debug)]
pub struct Unverified<C> {
    alg: Algorithm,
    kid: String,
    pub claims: C,
}

impl<C: DeserializeOwned + Named> Unverified<C> {
    /// Reads `token`'s header and claims: RS384 or ES384, a `kid`, and `iss` and `jti` of 1 to 255
    /// characters (a client's text reaches the database only when a plausible identifier).
    pub fn parse(token: &str) -> Result<Self, ClientError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(header.alg, Algorithm::RS384 | Algorithm::ES384) {
            return Err(invalid("the algorithm must be RS384 or ES384"));
        }
        let kid = header.kid.ok_or_else(|| invalid("no kid in the header"))?;
        let claims: C = jsonwebtoken::dangerous::insecure_decode_claims(token).map_err(|e| invalid(&e.to_string()))?;
        let plausible = |s: &str| (1..=255).contains(&s.len()) && !s.contains('\0');
        if !plausible(claims.iss()) || !plausible(claims.jti()) {
            return Err(invalid("iss and jti must be 1 to 255 characters"));
        }
        Ok(Self { alg: header.alg, kid, claims })
    }

    /// What every such token must meet: addressed to `audience`, issued by its `iss`, `nbf` honoured.
    fn validation(&self, audience: &str) -> Validation {
        let mut validation = Validation::new(self.alg);
        validation.set_audience(&[audience]);
        validation.set_issuer(&[self.claims.iss()]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        validation
    }

    /// The claims once the key of the token's `kid` in `jwks` verified its signature under
    /// `validation`.
    fn decode(&self, token: &str, jwks: serde_json::Value, validation: &Validation) -> Result<C, ClientError> {
        let set: JwkSet =
            serde_json::from_value(jwks).map_err(|e| ClientError::Stored(format!("registered JWKS: {e}")))?;
        let jwk = set.find(&self.kid).ok_or_else(|| invalid("no registered key has this kid"))?;
        let key = DecodingKey::from_jwk(jwk).map_err(|e| invalid(&e.to_string()))?;
        Ok(jsonwebtoken::decode::<C>(token, &key, validation).map_err(|e| invalid(&e.to_string()))?.claims)
    }
}

impl Unverified<AssertionClaims> {
    /// The assertion's claims once a key of `jwks` (the client's registered keys) verified it for
    /// `token_url`, within SMART's five minutes.
    pub fn verify(
        &self,
        assertion: &str,
        jwks: serde_json::Value,
        token_url: &str,
    ) -> Result<AssertionClaims, ClientError> {
        let mut validation = self.validation(token_url);
        validation.sub = Some(self.claims.iss.clone());
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = self.decode(assertion, jwks, &validation)?;
        if claims.sub != claims.iss {
            return Err(invalid("sub must equal iss"));
        }
        let now = jsonwebtoken::get_current_timestamp();
        if claims.exp > now + MAX_ASSERTION_SECS + LEEWAY_SECS {
            return Err(invalid("exp is more than five minutes ahead"));
        }
        if let Some(iat) = claims.iat {
            if iat > now + LEEWAY_SECS {
                return Err(invalid("iat is in the future"));
            }
            if claims.exp.saturating_sub(iat) > MAX_ASSERTION_SECS + LEEWAY_SECS {
                return Err(invalid("the assertion lives more than five minutes (exp - iat)"));
            }
        }
        Ok(claims)
    }
}

impl Unverified<CdsClaims> {
    /// The token's claims once a key of `jwks` (client `client_id`'s registered keys) verified it
    /// for the CDS Service at `endpoint`, within five minutes of its `iat`.
    pub fn verify(
        &self,
        token: &str,
        jwks: serde_json::Value,
        endpoint: &str,
        client_id: &str,
    ) -> Result<CdsClaims, ClientError> {
        let mut validation = self.validation(endpoint);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let claims = self.decode(token, jwks, &validation)?;
        if claims.sub.as_ref().is_some_and(|sub| sub != client_id) {
            return Err(invalid("sub, when sent, must be the client id"));
        }
        let now = jsonwebtoken::get_current_timestamp();
        if claims.iat > now + LEEWAY_SECS {
            return Err(invalid("iat is in the future"));
        }
        if claims.exp.saturating_sub(claims.iat) > MAX_ASSERTION_SECS + LEEWAY_SECS {
            return Err(invalid("the token lives more than five minutes (exp - iat)"));
        }
        Ok(claims)
    }
}
