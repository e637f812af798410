//! SMART Backend Services clients and their signed assertions.
//!
//! A client proves itself with a JWT it signs (RS384 or ES384) with a key from the JWKS
//! registered for it: `iss` = `sub` = its client id, `aud` = Vigil's token URL, `exp` at most five
//! minutes ahead, and a `jti` never used before (kept until the assertion expires).

use diesel::prelude::*;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::JwkSet;
use vigil_store::schema::{api_clients, client_assertion_jtis};

use super::principal::Scopes;
use super::signed::{AssertionClaims, CdsClaims, Unverified};

/// Longest an assertion may live, per the SMART Backend Services specification.
pub const MAX_ASSERTION_SECS: u64 = 5 * 60;
/// Clock skew allowed between a client and Vigil.
pub(crate) const LEEWAY_SECS: u64 = 30;
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the JWKS is not valid: {0}")]
    InvalidJwks(String),
    #[error("the client assertion is not valid: {0}")]
    InvalidAssertion(String),
    #[error("the client is unknown or disabled")]
    UnknownClient,
    #[error("the assertion's jti was used before")]
    Replay,
    /// What is stored for the client is unusable: a server-side fault, not the client's.
    #[error("stored client data is invalid: {0}")]
    Stored(String),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

/// Checks that a JWKS holds only keys a client may sign assertions with.
pub fn validate_jwks(raw: &str) -> Result<serde_json::Value, ClientError> {
    let set: JwkSet = serde_json::from_str(raw).map_err(|e| ClientError::InvalidJwks(e.to_string()))?;
    if set.keys.is_empty() {
        return Err(ClientError::InvalidJwks("it holds no key".into()));
    }
    for key in &set.keys {
        if key.common.key_id.is_none() {
            return Err(ClientError::InvalidJwks("every key needs a kid".into()));
        }
        DecodingKey::from_jwk(key).map_err(|e| ClientError::InvalidJwks(e.to_string()))?;
    }
    serde_json::from_str(raw).map_err(|e| ClientError::InvalidJwks(e.to_string()))
}

pub fn register(
    conn: &mut PgConnection,
    name: &str,
    jwks: &serde_json::Value,
    scopes: &Scopes,
) -> Result<String, ClientError> {
    let client_id = uuid::Uuid::new_v4().to_string();
    diesel::insert_into(api_clients::table)
        .values((
            api_clients::client_id.eq(&client_id),
            api_clients::name.eq(name),
            api_clients::jwks.eq(jwks),
            api_clients::scopes.eq(scopes.to_string()),
        ))
        .execute(conn)?;
    Ok(client_id)
}

/// A registered client as administration sees it (its keys are public; nothing here is secret).
#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = api_clients, check_for_backend(diesel::pg::Pg))]
pub struct Registered {
    pub client_id: String,
    pub name: String,
    pub scopes: String,
    pub disabled_at: Option<chrono::DateTime<chrono::Utc>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Every registered client, newest first.
pub fn list(conn: &mut PgConnection) -> QueryResult<Vec<Registered>> {
    api_clients::table.order(api_clients::id.desc()).select(Registered::as_select()).load(conn)
}

/// Stops the client getting tokens (tokens it holds expire within their short lifetime); None when
/// there is no such client.
pub fn disable(conn: &mut PgConnection, client_id: &str) -> QueryResult<Option<Registered>> {
    diesel::update(api_clients::table.filter(api_clients::client_id.eq(client_id)))
        .set(api_clients::disabled_at.eq(diesel::dsl::now))
        .returning(Registered::as_returning())
        .get_result(conn)
        .optional()
}

/// Records a signed token's `jti` for `client` until it can expire no more; Replay if it was seen.
fn record_jti(conn: &mut PgConnection, client: &str, jti: &str, exp: u64) -> Result<(), ClientError> {
    // Kept until no clock within the leeway can accept the token any more.
    let kept_until = exp.saturating_add(2 * LEEWAY_SECS);
    let expires = chrono::DateTime::from_timestamp(i64::try_from(kept_until).unwrap_or(i64::MAX), 0)
        .ok_or_else(|| ClientError::InvalidAssertion("exp out of range".into()))?;
    let fresh = diesel::insert_into(client_assertion_jtis::table)
        .values((
            client_assertion_jtis::client_id.eq(client),
            client_assertion_jtis::jti.eq(jti),
            client_assertion_jtis::expires_at.eq(expires),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    if fresh == 0 {
        return Err(ClientError::Replay);
    }
    // Expired jtis can never be replayed (their tokens fail the exp check): forget them, a bounded
    // batch at a time and skipping rows another request is deleting, so that concurrent requests
    // never queue behind each other's deletes.
    diesel::sql_query(
        "DELETE FROM client_assertion_jtis WHERE (client_id, jti) IN (
             SELECT client_id, jti FROM client_assertion_jtis WHERE expires_at < now()
              LIMIT 100 FOR UPDATE SKIP LOCKED)",
    )
    .execute(conn)?;
    Ok(())
}

/// Verifies the JWT a CDS client signs for each request to `endpoint` (the CDS Service URL called):
/// ES384 or RS384 with a `kid` of the JWKS registered for the client whose `cds_issuer` is `iss`,
/// `sub` (if sent) its client id, `aud` the endpoint, `exp` at most five minutes after `iat`, and a `jti`
/// never used before. An unknown or disabled issuer is refused.
pub fn verify_cds_jwt(conn: &mut PgConnection, token: &str, endpoint: &str) -> Result<VerifiedClient, ClientError> {
    let unverified = Unverified::<CdsClaims>::parse(token)?;
    let row: Option<(String, serde_json::Value, String)> = api_clients::table
        .filter(api_clients::cds_issuer.eq(&unverified.claims.iss).and(api_clients::disabled_at.is_null()))
        .select((api_clients::client_id, api_clients::jwks, api_clients::scopes))
        .first(conn)
        .optional()?;
    let (client_id, jwks, scopes) = row.ok_or(ClientError::UnknownClient)?;
    let claims = unverified.verify(token, jwks, endpoint, &client_id)?;
    record_jti(conn, &format!("cds:{client_id}"), &claims.jti, claims.exp)?;
    let registered = Scopes::parse(&scopes).map_err(|e| ClientError::Stored(format!("registered scopes: {e}")))?;
    Ok(VerifiedClient { client_id, registered })
}

/// Lets client `client_id` call the CDS services, signing as `issuer`; false when there is no such
/// client.
pub fn set_cds_issuer(conn: &mut PgConnection, client_id: &str, issuer: &str) -> QueryResult<bool> {
    diesel::update(api_clients::table.filter(api_clients::client_id.eq(client_id)))
        .set(api_clients::cds_issuer.eq(issuer))
        .execute(conn)
        .map(|n| n > 0)
}

/// A verified client: its id and the scopes it is registered for.
#[derive(Debug)]
pub struct VerifiedClient {
    pub client_id: String,
    pub registered: Scopes,
}

/// Verifies a client assertion addressed to `token_url` and records its jti.
pub fn verify_assertion(
    conn: &mut PgConnection,
    assertion: &str,
    token_url: &str,
) -> Result<VerifiedClient, ClientError> {
    // The issuer names the client whose keys verify the signature; nothing else is trusted yet.
    let unverified = Unverified::<AssertionClaims>::parse(assertion)?;
    let row: Option<(serde_json::Value, String)> = api_clients::table
        .filter(api_clients::client_id.eq(&unverified.claims.iss).and(api_clients::disabled_at.is_null()))
        .select((api_clients::jwks, api_clients::scopes))
        .first(conn)
        .optional()?;
    let (jwks, scopes) = row.ok_or(ClientError::UnknownClient)?;
    let claims = unverified.verify(assertion, jwks, token_url)?;
    record_jti(conn, &claims.iss, &claims.jti, claims.exp)?;
    let registered = Scopes::parse(&scopes).map_err(|e| ClientError::Stored(format!("registered scopes: {e}")))?;
    Ok(VerifiedClient { client_id: claims.iss, registered })
}
