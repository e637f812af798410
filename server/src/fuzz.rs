//! Entry points for the fuzz targets in `fuzz/` (`make fuzz`) and for their regression test,
//! `server/tests/fuzz_regressions.rs`, which replays every input kept in `fuzz/regressions/`. Each
//! takes arbitrary bytes from outside (a file or a request body, a query string, a token) and must
//! return, whatever they hold, without panicking.

use std::sync::OnceLock;

use vigil_ehr_adapter::{content, map, read};

use crate::auth::keys::{KeyState, SigningKeySetting, SigningKeys};
use crate::auth::signed::{AssertionClaims, Unverified};
use crate::auth::tokens::{self, TokenSettings};
use crate::http::fhir::{TYPES, search};

/// What ingestion does with each resource read: maps it (or says why not) and hashes it.
fn ingest(incoming: impl IntoIterator<Item = read::Incoming>) {
    for resource in incoming.into_iter().filter_map(|i| i.resource.ok()) {
        let _ = map::map(&resource);
        let _ = content::hash(&resource);
    }
}

/// A FHIR document as a file or `POST /fhir` brings it: a Bundle, or one resource.
pub fn fhir_bundle(data: &[u8]) {
    ingest(read::bundle(data, "fuzz"));
}

/// Bulk Data NDJSON: one resource per line.
pub fn fhir_ndjson(data: &[u8]) {
    ingest(read::ndjson(data, "fuzz".to_owned()));
}

/// A search's query string, on every type the API serves; of a search that parses, what else it
/// reads and its paging cursor written again.
pub fn search_params(data: &[u8]) {
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(data).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    for def in &TYPES {
        if let Ok(parsed) = search::parse(def, &params) {
            let _ = parsed.included_types();
            let _ = parsed.after.map(|cursor| cursor.encode());
        }
    }
}

/// Vigil's signing key for the access-token target, made once per process.
fn signing_keys() -> &'static SigningKeys {
    static KEYS: OnceLock<SigningKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let pem = crate::auth::keys::generate_pem().unwrap_or_default();
        let file = std::env::temp_dir().join(format!("vigil-fuzz-key-{}.pem", std::process::id()));
        let _ = std::fs::write(&file, pem);
        let setting = SigningKeySetting { kid: "fuzz".into(), file: file.clone(), state: KeyState::Current };
        let loaded = SigningKeys::load(&[setting]);
        // Read once; nothing is left behind in the temporary folder.
        let _ = std::fs::remove_file(&file);
        match loaded {
            Ok(keys) => keys,
            Err(e) => panic!("a fresh signing key loads: {e}"),
        }
    })
}

/// A bearer token as a request's Authorization header brings it.
pub fn access_token(data: &[u8]) {
    let Ok(token) = std::str::from_utf8(data) else { return };
    let settings = TokenSettings { issuer: "vigil".into(), audience: "vigil-api".into() };
    let _ = tokens::verify(signing_keys(), &settings, token);
}

/// A registered client's public keys (EC P-384, kid `fuzz`), made once per process.
fn client_jwks() -> &'static serde_json::Value {
    static JWKS: OnceLock<serde_json::Value> = OnceLock::new();
    JWKS.get_or_init(|| {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let raw = match rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384) {
            Ok(pair) => pair.public_key_raw().to_vec(),
            Err(e) => panic!("a fresh P-384 key: {e}"),
        };
        serde_json::json!({ "keys": [{ "kty": "EC", "crv": "P-384", "kid": "fuzz", "alg": "ES384",
            "x": b64.encode(&raw[1..49]), "y": b64.encode(&raw[49..97]) }] })
    })
}

/// A client assertion as `POST /auth/token` brings it, read and then checked against a registered
/// key set.
pub fn client_assertion(data: &[u8]) {
    let Ok(assertion) = std::str::from_utf8(data) else { return };
    if let Ok(unverified) = Unverified::<AssertionClaims>::parse(assertion) {
        let _ = unverified.verify(assertion, client_jwks().clone(), "https://vigil.test/auth/token");
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    type Entry = fn(&[u8]);

    const TARGETS: [(&str, Entry); 5] = [
        ("fhir_bundle", super::fhir_bundle),
        ("fhir_ndjson", super::fhir_ndjson),
        ("search_params", super::search_params),
        ("access_token", super::access_token),
        ("client_assertion", super::client_assertion),
    ];

    fn fuzz_dir() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
    }

    #[test]
    fn every_kept_input_is_survived_by_its_target() {
        for (target, entry) in TARGETS {
            let mut replayed = 0;
            for file in std::fs::read_dir(fuzz_dir().join("regressions").join(target)).expect("a folder per target") {
                let input = std::fs::read(file.expect("entry").path()).expect("input");
                entry(&input);
                replayed += 1;
            }
            assert!(replayed > 0, "{target}: no input kept in fuzz/regressions/{target}");
        }
    }

    #[test]
    fn every_fuzz_target_is_replayed() {
        let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).expect("fuzz/Cargo.toml");
        let declared: Vec<&str> = manifest
            .lines()
            .filter_map(|l| l.strip_prefix("name = \"")?.strip_suffix('"'))
            .filter(|name| *name != "vigil-fuzz")
            .collect();
        let replayed: Vec<&str> = TARGETS.iter().map(|(target, _)| *target).collect();
        assert_eq!(declared, replayed, "each target of fuzz/Cargo.toml, in its order");
    }
}
