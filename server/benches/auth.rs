//! `make bench` (auth): the cost of signing in (argon2id verification) and of verifying an API
//! token, each beside a limit measured in the same run on the same machine:
//! - sign-in through `password::verify` against a bare `argon2` verification with the same
//!   parameters (the floor: the hash itself);
//! - `tokens::verify` against the bare Ed25519 signature check of the same token (the floor: the
//!   cryptography), single-threaded, so the figure is per core.

#![allow(clippy::print_stdout, clippy::expect_used)]

use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use secrecy::SecretString;
use vigil::auth::keys::{self, KeyState, SigningKeySetting, SigningKeys};
use vigil::auth::password::{self, NewPassword, Verified};
use vigil::auth::tokens::{self, TokenSettings};

/// Runs `op` repeatedly for at least `budget` and returns the mean time per run.
fn per_op(budget: Duration, mut op: impl FnMut()) -> Duration {
    op(); // warm up
    let start = Instant::now();
    let mut runs = 0_u32;
    while start.elapsed() < budget || runs < 5 {
        op();
        runs += 1;
    }
    start.elapsed() / runs
}

fn main() {
    let secret = SecretString::from("correct horse battery staple");
    let phc = NewPassword::parse(secret.clone()).expect("valid").hash().expect("hash");
    let ours = per_op(Duration::from_secs(3), || assert_eq!(password::verify(Some(&phc), &secret), Verified::Yes));
    let parsed = PasswordHash::new(&phc).expect("phc");
    let argon = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(19_456, 2, 1, None).expect("params"),
    );
    let floor = per_op(Duration::from_secs(3), || {
        argon.verify_password(b"correct horse battery staple", &parsed).expect("verifies");
    });
    println!("sign-in (argon2id m=19456 KiB, t=2, p=1)");
    println!("  password::verify        {:>9.2} ms per sign-in", ours.as_secs_f64() * 1e3);
    println!("  bare argon2 (limit)     {:>9.2} ms", floor.as_secs_f64() * 1e3);
    println!("  ratio                   {:>9.2} x the limit", ours.as_secs_f64() / floor.as_secs_f64());

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("k.pem");
    std::fs::write(&file, keys::generate_pem().expect("key")).expect("write");
    let keys =
        SigningKeys::load(&[SigningKeySetting { kid: "k".into(), file, state: KeyState::Current }]).expect("keys");
    let settings = TokenSettings { issuer: "vigil".into(), audience: "vigil-api".into() };
    let (token, _) = tokens::issue(&keys, &settings, "user:1", 900, None, Some(0)).expect("token");
    let ours = per_op(Duration::from_secs(3), || {
        tokens::verify(&keys, &settings, &token).expect("valid");
    });
    let (message, signature) = token.rsplit_once('.').expect("three parts");
    let key = keys.accepted("k").expect("key");
    let floor = per_op(Duration::from_secs(3), || {
        assert!(
            jsonwebtoken::crypto::verify(signature, message.as_bytes(), key, jsonwebtoken::Algorithm::EdDSA)
                .expect("checks")
        );
    });
    println!("token verification (EdDSA, one core)");
    println!("  tokens::verify          {:>9.0} per second", 1.0 / ours.as_secs_f64());
    println!("  bare Ed25519 (limit)    {:>9.0} per second", 1.0 / floor.as_secs_f64());
    println!("  ratio                   {:>9.2} of the limit's rate", floor.as_secs_f64() / ours.as_secs_f64());
}
