//! Passwords: argon2id with the parameters OWASP recommends (m = 19 456 KiB, t = 2, p = 1), stored
//! as PHC strings. NIST SP 800-63B rules: 12 to 128 characters, no composition rules, and not
//! one of the most common passwords (the list ships in the binary).

use std::collections::HashSet;
use std::sync::LazyLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};

pub const MIN_CHARS: usize = 12;
pub const MAX_CHARS: usize = 128;
const MEMORY_KIB: u32 = 19_456;
const ITERATIONS: u32 = 2;
const PARALLELISM: u32 = 1;

/// The 10,000 most common passwords (SecLists, MIT licence), compared case-insensitively.
static COMMON: LazyLock<HashSet<String>> =
    LazyLock::new(|| include_str!("common-passwords.txt").lines().map(str::to_lowercase).collect());

/// Verifies against this when the account does not exist, so that an unknown user and a wrong
/// password take the same time.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let candidate = SecretString::from("not a real password, only spends time");
    hash_unchecked(&candidate).unwrap_or_default()
});

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("a password needs at least {MIN_CHARS} characters")]
    TooShort,
    #[error("a password may have at most {MAX_CHARS} characters")]
    TooLong,
    #[error("this password is one of the most common ones; choose another")]
    TooCommon,
    #[error("could not hash the password")]
    Hashing,
}

/// A password that meets the rules; held as a secret so it never reaches a log.
#[derive(Debug)]
pub struct NewPassword(SecretString);

impl NewPassword {
    pub fn parse(raw: SecretString) -> Result<Self, PasswordError> {
        let chars = raw.expose_secret().chars().count();
        if chars < MIN_CHARS {
            return Err(PasswordError::TooShort);
        }
        if chars > MAX_CHARS {
            return Err(PasswordError::TooLong);
        }
        if COMMON.contains(&raw.expose_secret().to_lowercase()) {
            return Err(PasswordError::TooCommon);
        }
        Ok(Self(raw))
    }

    /// The PHC string to store.
    pub fn hash(&self) -> Result<String, PasswordError> {
        hash_unchecked(&self.0)
    }
}

fn hasher() -> Argon2<'static> {
    // The parameters are constants within argon2's bounds.
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_unchecked(password: &SecretString) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| PasswordError::Hashing)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    No,
    Yes,
    /// Correct, and the stored hash uses other parameters than today's: store a new hash.
    YesRehash,
}

/// Checks `candidate` against `stored`, or against a dummy hash when there is no account, so
/// both cases cost one argon2 computation.
pub fn verify(stored: Option<&str>, candidate: &SecretString) -> Verified {
    let phc = stored.unwrap_or(DUMMY_HASH.as_str());
    let Ok(parsed) = PasswordHash::new(phc) else { return Verified::No };
    let matches = hasher().verify_password(candidate.expose_secret().as_bytes(), &parsed).is_ok();
    match (matches, stored.is_some()) {
        (true, true) if outdated(&parsed) => Verified::YesRehash,
        (true, true) => Verified::Yes,
        _ => Verified::No,
    }
}

fn outdated(hash: &PasswordHash<'_>) -> bool {
    let current = (MEMORY_KIB, ITERATIONS, PARALLELISM);
    let params = Params::try_from(hash).map(|p| (p.m_cost(), p.t_cost(), p.p_cost()));
    hash.algorithm.as_str() != "argon2id" || params != Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s)
    }

    #[test]
    fn length_and_commonness_are_the_only_rules() {
        assert_eq!(NewPassword::parse(secret("short pass")).err(), Some(PasswordError::TooShort));
        assert_eq!(NewPassword::parse(secret(&"x".repeat(129))).err(), Some(PasswordError::TooLong));
        assert!(NewPassword::parse(secret(&"é".repeat(12))).is_ok(), "characters, not bytes, count");
        assert!(NewPassword::parse(secret("all lowercase words are fine")).is_ok(), "no composition rules");
    }

    #[test]
    fn the_most_common_passwords_are_refused_whatever_their_case() {
        // Entries of the shipped list that are long enough to pass the length rule.
        let common: Vec<&str> =
            include_str!("common-passwords.txt").lines().filter(|p| p.chars().count() >= 12).collect();
        assert!(!common.is_empty(), "the list has passwords of 12 or more characters");
        for password in common.iter().take(20) {
            assert_eq!(NewPassword::parse(secret(password)).err(), Some(PasswordError::TooCommon), "{password}");
            let upper = password.to_uppercase();
            assert_eq!(NewPassword::parse(secret(&upper)).err(), Some(PasswordError::TooCommon), "{upper}");
        }
    }

    #[test]
    fn hashes_are_argon2id_phc_strings_that_verify() {
        let password = NewPassword::parse(secret("correct horse battery")).expect("valid");
        let phc = password.hash().expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert_eq!(verify(Some(&phc), &secret("correct horse battery")), Verified::Yes);
        assert_eq!(verify(Some(&phc), &secret("wrong horse battery")), Verified::No);
        assert_eq!(verify(None, &secret("correct horse battery")), Verified::No);
    }

    #[test]
    fn a_hash_with_older_parameters_asks_for_a_rehash() {
        let weak = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8192, 1, 1, None).expect("params"));
        let salt = SaltString::generate(&mut OsRng);
        let phc = weak.hash_password(b"correct horse battery", &salt).expect("hash").to_string();
        assert_eq!(verify(Some(&phc), &secret("correct horse battery")), Verified::YesRehash);
    }
}
