//! The keys Vigil signs its own tokens with: Ed25519 (EdDSA), from PKCS#8 PEM files named in the
//! configuration, each with a key id and a state.
//!
//! Rotation: add a new key as `current` and mark the old one `previous`: tokens it signed stay
//! valid until they expire (at most 15 minutes). Then mark it `retired` (or remove it): its
//! tokens are rejected. Exactly one key is `current`.

use std::collections::HashMap;
use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningKeySetting {
    pub kid: String,
    /// Ed25519 private key, PKCS#8 PEM.
    pub file: PathBuf,
    pub state: KeyState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Signs new tokens and verifies.
    Current,
    /// Verifies tokens signed before the rotation.
    Previous,
    /// Listed so that its tokens are known to be rejected.
    Retired,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no signing key is configured: run `vigil init` or list keys under [[auth.signing_keys]]")]
    NoneConfigured,
    #[error("exactly one signing key must be current; found {0}")]
    CurrentCount(usize),
    #[error("signing key {kid}: cannot read {file}: {source}")]
    Read { kid: String, file: PathBuf, source: std::io::Error },
    #[error("signing key {kid}: {file} is not an Ed25519 private key in PKCS#8 PEM")]
    Invalid { kid: String, file: PathBuf },
    #[error("signing key id {0} is listed twice")]
    Duplicate(String),
}

pub struct SigningKeys {
    current_kid: String,
    encoding: EncodingKey,
    accepted: HashMap<String, DecodingKey>,
    jwks: Value,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys").field("current_kid", &self.current_kid).finish_non_exhaustive()
    }
}

impl SigningKeys {
    pub fn load(settings: &[SigningKeySetting]) -> Result<Self, KeyError> {
        if settings.is_empty() {
            return Err(KeyError::NoneConfigured);
        }
        let currents = settings.iter().filter(|k| k.state == KeyState::Current).count();
        if currents != 1 {
            return Err(KeyError::CurrentCount(currents));
        }
        let mut accepted = HashMap::new();
        let mut published = Vec::new();
        let mut current = None;
        for key in settings {
            if settings.iter().filter(|k| k.kid == key.kid).count() > 1 {
                return Err(KeyError::Duplicate(key.kid.clone()));
            }
            if key.state == KeyState::Retired {
                continue;
            }
            let pem = std::fs::read_to_string(&key.file).map_err(|source| KeyError::Read {
                kid: key.kid.clone(),
                file: key.file.clone(),
                source,
            })?;
            let invalid = || KeyError::Invalid { kid: key.kid.clone(), file: key.file.clone() };
            let pair = rcgen::KeyPair::from_pem(&pem).map_err(|_| invalid())?;
            if !pair.is_compatible(&rcgen::PKCS_ED25519) {
                return Err(invalid());
            }
            let x = URL_SAFE_NO_PAD.encode(pair.public_key_raw());
            accepted.insert(key.kid.clone(), DecodingKey::from_ed_components(&x).map_err(|_| invalid())?);
            published
                .push(json!({ "kty": "OKP", "crv": "Ed25519", "x": x, "kid": key.kid, "alg": "EdDSA", "use": "sig" }));
            if key.state == KeyState::Current {
                current = Some((key.kid.clone(), EncodingKey::from_ed_pem(pem.as_bytes()).map_err(|_| invalid())?));
            }
        }
        let (current_kid, encoding) = current.ok_or(KeyError::CurrentCount(0))?;
        Ok(Self { current_kid, encoding, accepted, jwks: json!({ "keys": published }) })
    }

    pub fn current(&self) -> (&str, &EncodingKey) {
        (&self.current_kid, &self.encoding)
    }

    /// The verifying key for `kid`, when tokens it signed are still accepted.
    pub fn accepted(&self, kid: &str) -> Option<&DecodingKey> {
        self.accepted.get(kid)
    }

    /// The public keys of the current and previous keys, as a JWK Set.
    pub fn jwks(&self) -> &Value {
        &self.jwks
    }
}

/// Writes a new Ed25519 private key as PKCS#8 PEM (used by `vigil init`).
pub fn generate_pem() -> Result<String, rcgen::Error> {
    Ok(rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)?.serialize_pem())
}
