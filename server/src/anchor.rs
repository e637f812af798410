//! Anchors: the audit chain's head, signed with a key that is not in the database and written to a
//! write-once file outside it (`audit.anchor_dir`, ideally storage that refuses rewrites). Whoever
//! can rewrite the database can recompute every seal after a row they removed, but cannot make an
//! anchor written earlier agree with the new chain: `vigil audit verify` checks every anchor's
//! signature and that the chain still holds the anchored hash at the anchored position.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use diesel::PgConnection;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use vigil_store::audit::{self, Head};

#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    #[error("the anchor key {0}: cannot read it ({1})")]
    ReadKey(PathBuf, std::io::Error),
    #[error("the anchor key {0} is not an Ed25519 private key in PKCS#8 PEM")]
    InvalidKey(PathBuf),
    #[error("could not write an anchor into {0}: {1}")]
    Write(PathBuf, std::io::Error),
    #[error("could not read the anchors in {0}: {1}")]
    ReadDir(PathBuf, std::io::Error),
    #[error("could not sign the anchor")]
    Sign,
    #[error(transparent)]
    Store(#[from] vigil_store::StoreError),
}

/// The key anchors are signed with; its id is a digest of its public half.
pub struct AnchorKey {
    id: String,
    signing: EncodingKey,
    verifying: DecodingKey,
}

impl std::fmt::Debug for AnchorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnchorKey").field("id", &self.id).finish_non_exhaustive()
    }
}

impl AnchorKey {
    pub fn load(path: &Path) -> Result<Self, AnchorError> {
        let pem = std::fs::read_to_string(path).map_err(|e| AnchorError::ReadKey(path.to_owned(), e))?;
        let invalid = || AnchorError::InvalidKey(path.to_owned());
        let pair = rcgen::KeyPair::from_pem(&pem).map_err(|_| invalid())?;
        if !pair.is_compatible(&rcgen::PKCS_ED25519) {
            return Err(invalid());
        }
        let public = pair.public_key_raw();
        let verifying = DecodingKey::from_ed_components(&URL_SAFE_NO_PAD.encode(public)).map_err(|_| invalid())?;
        let signing = EncodingKey::from_ed_pem(pem.as_bytes()).map_err(|_| invalid())?;
        let id = hex::encode(&Sha256::digest(public)[..8]);
        Ok(Self { id, signing, verifying })
    }
}

/// One anchor file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Anchor {
    /// The chain's length when anchored, and its hash there (hex).
    pub position: i64,
    pub hash: String,
    pub at: DateTime<Utc>,
    pub key_id: String,
    /// Ed25519 over [`Anchor::message`], base64url.
    pub signature: String,
}

impl Anchor {
    fn message(position: i64, hash: &str, at: &DateTime<Utc>) -> String {
        format!("vigil-audit-anchor:{position}:{hash}:{}", at.to_rfc3339_opts(SecondsFormat::Micros, true))
    }
}

/// Seals what is unsealed, then writes an anchor of the head into `dir` unless one of that
/// position is there already (another server anchored it, or the chain has not moved). Returns the
/// file written.
pub fn anchor(conn: &mut PgConnection, key: &AnchorKey, dir: &Path) -> Result<Option<PathBuf>, AnchorError> {
    audit::chain::seal_all(conn)?;
    let Some(Head { position, hash }) = audit::chain::head(conn)? else { return Ok(None) };
    let file = dir.join(format!("anchor-{position:020}.json"));
    if file.exists() {
        return Ok(None);
    }
    let hash = hex::encode(hash);
    let at = Utc::now();
    let message = Anchor::message(position, &hash, &at);
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key.signing, Algorithm::EdDSA)
        .map_err(|_| AnchorError::Sign)?;
    let anchor = Anchor { position, hash, at, key_id: key.id.clone(), signature };
    let json = serde_json::to_vec_pretty(&anchor).map_err(|_| AnchorError::Sign)?;
    std::fs::create_dir_all(dir).map_err(|e| AnchorError::Write(dir.to_owned(), e))?;
    // Write once: never over an existing file, and read-only once written.
    let opened = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o444).open(&file);
    let mut out = match opened {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(None),
        Err(e) => return Err(AnchorError::Write(file, e)),
    };
    out.write_all(&json).and_then(|()| out.sync_all()).map_err(|e| AnchorError::Write(file.clone(), e))?;
    Ok(Some(file))
}

/// What checking one anchor file found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnchorProblem {
    Unreadable(String),
    /// Signed by another key than the configured one, or not at all validly.
    BadSignature,
    /// The chain no longer reaches the anchored position: it was cut short.
    ChainTooShort {
        position: i64,
    },
    /// The chain holds another hash at the anchored position: it was rewritten.
    Rewritten {
        position: i64,
    },
}

impl std::fmt::Display for AnchorProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreadable(why) => write!(f, "it cannot be read: {why}"),
            Self::BadSignature => f.write_str("its signature does not verify with the anchor key"),
            Self::ChainTooShort { position } => {
                write!(f, "the chain no longer reaches position {position} (it was cut short)")
            }
            Self::Rewritten { position } => {
                write!(f, "the chain holds another hash at position {position} (it was rewritten)")
            }
        }
    }
}

/// Checks every anchor in `dir` against the chain; returns how many were checked and the
/// problems found, each with its file.
pub fn check_all(
    conn: &mut PgConnection,
    key: &AnchorKey,
    dir: &Path,
) -> Result<(usize, Vec<(PathBuf, AnchorProblem)>), AnchorError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, Vec::new())),
        Err(e) => return Err(AnchorError::ReadDir(dir.to_owned(), e)),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("anchor-") && n.ends_with(".json"))
        })
        .collect();
    files.sort();
    let mut problems = Vec::new();
    for file in &files {
        if let Some(problem) = check(conn, key, file)? {
            problems.push((file.clone(), problem));
        }
    }
    Ok((files.len(), problems))
}

fn check(conn: &mut PgConnection, key: &AnchorKey, file: &Path) -> Result<Option<AnchorProblem>, AnchorError> {
    let anchor: Anchor = match std::fs::read(file)
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
    {
        Ok(anchor) => anchor,
        Err(why) => return Ok(Some(AnchorProblem::Unreadable(why))),
    };
    let message = Anchor::message(anchor.position, &anchor.hash, &anchor.at);
    let valid = anchor.key_id == key.id
        && jsonwebtoken::crypto::verify(&anchor.signature, message.as_bytes(), &key.verifying, Algorithm::EdDSA)
            .unwrap_or(false);
    if !valid {
        return Ok(Some(AnchorProblem::BadSignature));
    }
    Ok(match audit::chain::hash_at(conn, anchor.position)? {
        None => Some(AnchorProblem::ChainTooShort { position: anchor.position }),
        Some(hash) if hex::encode(&hash) != anchor.hash => Some(AnchorProblem::Rewritten { position: anchor.position }),
        Some(_) => None,
    })
}
