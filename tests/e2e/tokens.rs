//! Tokens, black-box: forged, expired and otherwise broken bearer tokens are refused, and SMART
//! Backend Services issue scoped tokens once per signed assertion.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use vigil_store::testing::TestDb;

use crate::access::ward;
use crate::support::seed::{self, bearer};
use crate::support::{App, Response};

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn current_key(app: &App) -> (String, String) {
    let config = std::fs::read_to_string(app.dir.path().join("vigil.toml")).expect("config");
    let kid = config.lines().find_map(|l| l.strip_prefix("kid = ")).expect("kid").trim_matches('"').to_owned();
    let pem = std::fs::read_to_string(app.dir.path().join(format!("keys/{kid}.pem"))).expect("key");
    (kid, pem)
}

fn sign(kid: &str, pem: &str, claims: &Value) -> String {
    sign_typed(kid, pem, Some("at+jwt"), claims)
}

fn sign_typed(kid: &str, pem: &str, typ: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    header.typ = typ.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_pem(pem.as_bytes()).expect("key")).expect("sign")
}

/// The subject of a real token, and the password stamp a forged one needs to pass as current.
fn subject_of(token: &str) -> (String, Value) {
    let payload = token.split('.').nth(1).expect("payload");
    let claims: Value = serde_json::from_slice(&B64.decode(payload).expect("base64")).expect("claims");
    (claims["sub"].as_str().expect("sub").to_owned(), claims["pwd"].clone())
}

fn valid_claims(sub: &(String, Value)) -> Value {
    json!({ "iss": "vigil", "aud": "vigil-api", "sub": sub.0, "exp": now() + 600, "iat": now(), "jti": "t", "pwd": sub.1 })
}

#[test]
fn forged_and_broken_tokens_are_rejected() {
    let db = TestDb::migrated();
    ward(&db);
    let old = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("key").serialize_pem();
    let retired = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("key").serialize_pem();
    let app = App::spawn_configured(db.url(), &[], |dir| {
        std::fs::write(dir.join("old.pem"), &old).expect("write");
        std::fs::write(dir.join("retired.pem"), &retired).expect("write");
        format!(
            "\n[[auth.signing_keys]]\nkid = \"old\"\nfile = {:?}\nstate = \"previous\"\n\
             \n[[auth.signing_keys]]\nkid = \"gone\"\nfile = {:?}\nstate = \"retired\"\n",
            dir.join("old.pem"),
            dir.join("retired.pem")
        )
    });
    let jwks = app.get("/.well-known/jwks.json").json();
    let kids: Vec<&str> = jwks["keys"].as_array().expect("keys").iter().filter_map(|k| k["kid"].as_str()).collect();
    assert_eq!(kids.len(), 2, "current and previous are published, the retired key is not: {jwks}");
    assert!(!kids.contains(&"gone"));

    let sub = subject_of(&seed::token(&app, "nurse"));
    let (kid, pem) = current_key(&app);
    let status = |token: &str| app.get_with("/api/patients/p-icu", &[("authorization", &bearer(token))]).status;
    assert_eq!(status(&sign(&kid, &pem, &valid_claims(&sub))), 200, "a well-formed token works");
    assert_eq!(status(&sign("old", &old, &valid_claims(&sub))), 200, "a previous key still verifies");

    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = valid_claims(&sub);
        change(&mut claims);
        sign(&kid, &pem, &claims)
    };
    let alg_none = format!(
        "{}.{}.",
        B64.encode(json!({ "alg": "none", "typ": "JWT", "kid": kid }).to_string()),
        B64.encode(valid_claims(&sub).to_string())
    );
    let public_pem = rcgen::KeyPair::from_pem(&pem).expect("key").public_key_pem();
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = Some(kid.clone());
    let hs256 = jsonwebtoken::encode(&hs_header, &valid_claims(&sub), &EncodingKey::from_secret(public_pem.as_bytes()))
        .expect("hs256");
    let cases: Vec<(&str, String)> = vec![
        ("alg none", alg_none),
        ("HS256 signed with the public key", hs256),
        ("unknown kid", sign("nobody", &pem, &valid_claims(&sub))),
        ("retired key", sign("gone", &retired, &valid_claims(&sub))),
        ("wrong aud", with(&|c| c["aud"] = json!("someone-else"))),
        ("wrong iss", with(&|c| c["iss"] = json!("evil"))),
        ("no exp", with(&|c| drop(c.as_object_mut().expect("object").remove("exp")))),
        ("exp as a string", with(&|c| c["exp"] = json!((now() + 600).to_string()))),
        ("expired", with(&|c| c["exp"] = json!(now() - 3600))),
        ("nbf in the future", with(&|c| c["nbf"] = json!(now() + 3600))),
        ("no iat", with(&|c| drop(c.as_object_mut().expect("object").remove("iat")))),
        ("no sub", with(&|c| drop(c.as_object_mut().expect("object").remove("sub")))),
        ("a password stamp from before", with(&|c| c["pwd"] = json!(0))),
        ("not a JWT", "garbage".into()),
        ("typ JWT, not an access token", sign_typed(&kid, &pem, Some("JWT"), &valid_claims(&sub))),
        ("no typ", sign_typed(&kid, &pem, None, &valid_claims(&sub))),
    ];
    for (name, token) in cases {
        assert_eq!(status(&token), 401, "{name} must be rejected");
    }
}

fn assertion(client: &str, pem: &str, aud: &str, exp: u64, jti: &str) -> String {
    signed_assertion(pem, &json!({ "iss": client, "sub": client, "aud": aud, "exp": exp, "jti": jti }))
}

fn signed_assertion(pem: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES384);
    header.kid = Some("lab-1".into());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_pem(pem.as_bytes()).expect("key")).expect("sign")
}

fn token_request(app: &App, scope: &str, assertion: &str) -> Response {
    app.post_form(
        "/auth/token",
        &[],
        &[
            ("grant_type", "client_credentials"),
            ("scope", scope),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", assertion),
        ],
    )
}

#[test]
fn smart_backend_services_issue_scoped_tokens_once_per_assertion() {
    let db = TestDb::migrated();
    ward(&db);
    let app = App::spawn(db.url());
    let config = app.get("/.well-known/smart-configuration").json();
    let token_url = format!("{}/auth/token", app.base);
    assert_eq!(config["token_endpoint"], token_url);
    assert_eq!(config["token_endpoint_auth_signing_alg_values_supported"], json!(["RS384", "ES384"]));

    let (client, pem) = seed::es384_client(db.url(), "system/Patient.read");
    let good = assertion(&client, &pem, &token_url, now() + 240, "jti-1");
    let issued = token_request(&app, "system/Patient.read", &good);
    assert_eq!(issued.status, 200, "{}", issued.body);
    assert_eq!(issued.json()["scope"], "system/Patient.read");
    assert!(issued.json()["expires_in"].as_u64().expect("expires_in") <= 300);
    let access = bearer(issued.json()["access_token"].as_str().expect("token"));
    assert_eq!(app.get_with("/fhir/Patient/p-ward", &[("authorization", &access)]).status, 200);

    let replay = token_request(&app, "system/Patient.read", &good);
    assert_eq!(replay.status, 401, "a jti is accepted once");
    assert_eq!(replay.json()["error"], "invalid_client");
    let wrong_aud = assertion(&client, &pem, "https://elsewhere.example/token", now() + 240, "jti-2");
    assert_eq!(token_request(&app, "system/Patient.read", &wrong_aud).status, 401);
    let expired = assertion(&client, &pem, &token_url, now() - 120, "jti-3");
    assert_eq!(token_request(&app, "system/Patient.read", &expired).status, 401);
    let too_long = assertion(&client, &pem, &token_url, now() + 3600, "jti-4");
    assert_eq!(token_request(&app, "system/Patient.read", &too_long).status, 401);
    let timed = |jti: &str, extra: Value| {
        let mut claims = json!({ "iss": client, "sub": client, "aud": token_url, "exp": now() + 240, "jti": jti });
        claims.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
        token_request(&app, "system/Patient.read", &signed_assertion(&pem, &claims)).status
    };
    assert_eq!(timed("t-1", json!({ "iat": now() + 600 })), 401, "iat in the future");
    assert_eq!(timed("t-2", json!({ "nbf": now() + 600 })), 401, "nbf in the future");
    assert_eq!(timed("t-3", json!({ "nbf": (now() - 10).to_string() })), 401, "nbf as a string");
    assert_eq!(timed("t-4", json!({ "iat": now() - 3600 })), 401, "older than an assertion may live");
    assert_eq!(timed("t-5", json!({ "iat": now() - 5, "nbf": now() - 5 })), 200, "both in order");
    let unregistered = assertion(&client, &pem, &token_url, now() + 240, "jti-5");
    let refused = token_request(&app, "system/Observation.read", &unregistered);
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["error"], "invalid_scope");

    // A token whose scopes do not cover the resource: 403.
    let (narrow, narrow_pem) = seed::es384_client(db.url(), "system/Observation.read");
    let narrow_token = token_request(
        &app,
        "system/Observation.read",
        &assertion(&narrow, &narrow_pem, &token_url, now() + 240, "n-1"),
    );
    assert_eq!(narrow_token.status, 200);
    let narrow_access = bearer(narrow_token.json()["access_token"].as_str().expect("token"));
    let denied = app.get_with("/fhir/Patient/p-icu", &[("authorization", &narrow_access)]);
    assert_eq!(denied.status, 403);
    assert_eq!(denied.json()["resourceType"], "OperationOutcome");
}
