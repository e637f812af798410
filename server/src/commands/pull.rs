//! `vigil pull`: reads another FHIR server by `_lastUpdated` searches, page by page, and stores
//! what it finds like `vigil ingest`. Authenticates with SMART Backend Services (a client
//! assertion signed with our key, exchanged for a short-lived token, renewed when it expires).
//!
//! Resuming: after each stored page the newest `meta.lastUpdated` seen is kept in `pull_state`
//! per remote and type. The next pull asks from there less [`RESUME_MARGIN`], because a remote's
//! transaction may commit after a later one that we already read; repeats are harmless (the same
//! content is stored once).

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use vigil_ehr_adapter::fhir_time::parse_instant;
use vigil_ehr_adapter::ingest::{Summary, store_batch};
use vigil_ehr_adapter::read::Incoming;
use vigil_store::schema::pull_state;

use super::ingest::{finish, loader, progress_bar};
use crate::cli::PullArgs;

/// The types Vigil maps, pulled by default (Patient first, though any order would do).
const MAPPED: [&str; 6] = ["Patient", "Encounter", "Condition", "Observation", "MedicationRequest", "Procedure"];
const RESUME_MARGIN: chrono::Duration = chrono::Duration::minutes(5);
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Largest page accepted from the remote.
const MAX_PAGE_BYTES: u64 = 256 * 1024 * 1024;

/// Where a pull may send its bearer token: the remote's own origin (scheme, host and port), over
/// https, or plain http on loopback when allowed. A remote's `next` link to anywhere else is not
/// followed: it would hand the token to whoever the link names.
#[derive(Debug)]
struct Origin {
    base: url::Url,
}

impl Origin {
    fn of(base: &url::Url, allow_http_loopback: bool) -> anyhow::Result<Self> {
        let loopback = match base.host() {
            Some(url::Host::Domain(name)) => name == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        match base.scheme() {
            "https" => {}
            "http" if allow_http_loopback && loopback => {}
            "http" if allow_http_loopback => {
                bail!("--allow-http-loopback allows http only to this machine, not {base}")
            }
            _ => bail!("{base}: the remote must be reached over https (--allow-http-loopback for a local test server)"),
        }
        Ok(Self { base: base.clone() })
    }

    /// `link` (absolute, or relative to the base) if it stays on the remote's origin.
    fn follow(&self, link: &str) -> anyhow::Result<String> {
        let url = self.base.join(link).with_context(|| format!("the remote's next link {link:?} is not a URL"))?;
        if url.origin() != self.base.origin() {
            bail!(
                "the remote's next link leads to {}, not to the remote ({}): not followed",
                url.origin().ascii_serialization(),
                self.base.origin().ascii_serialization()
            );
        }
        Ok(url.into())
    }
}

/// A remote FHIR server and our access to it.
struct Remote {
    agent: ureq::Agent,
    token_url: String,
    client_id: String,
    kid: String,
    key: EncodingKey,
    algorithm: Algorithm,
    scope: String,
    token: Option<(String, Instant)>,
}

impl Remote {
    fn get(&mut self, url: &str, authenticated: bool) -> anyhow::Result<Value> {
        for attempt in 0..2 {
            let mut request = self.agent.get(url).header("accept", "application/fhir+json");
            if authenticated {
                request = request.header("authorization", &format!("Bearer {}", self.token()?));
            }
            let mut response = request.call().with_context(|| format!("GET {url}"))?;
            let status = response.status().as_u16();
            // A token the remote no longer takes (revoked, clock skew): get a new one, once.
            if status == 401 && authenticated && attempt == 0 {
                self.token = None;
                continue;
            }
            let body: Value = response
                .body_mut()
                .with_config()
                .limit(MAX_PAGE_BYTES)
                .read_json()
                .with_context(|| format!("GET {url}: the answer is not JSON"))?;
            if status != 200 {
                bail!("GET {url}: {status} {}", diagnostics(&body));
            }
            return Ok(body);
        }
        bail!("GET {url}: the remote refused a fresh token")
    }

    /// A valid access token, asking for a new one when the last is (nearly) expired.
    fn token(&mut self) -> anyhow::Result<String> {
        if let Some((token, until)) = &self.token
            && Instant::now() + Duration::from_secs(30) < *until
        {
            return Ok(token.clone());
        }
        let now = jsonwebtoken::get_current_timestamp();
        let claims = json!({
            "iss": self.client_id, "sub": self.client_id, "aud": self.token_url,
            "iat": now, "exp": now + 240, "jti": uuid::Uuid::new_v4().to_string(),
        });
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        let assertion = jsonwebtoken::encode(&header, &claims, &self.key).context("signing the client assertion")?;
        let mut response = self
            .agent
            .post(&self.token_url)
            .send_form([
                ("grant_type", "client_credentials"),
                ("scope", self.scope.as_str()),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", assertion.as_str()),
            ])
            .with_context(|| format!("POST {}", self.token_url))?;
        let status = response.status().as_u16();
        let body: Value = response.body_mut().read_json().context("the token endpoint's answer is not JSON")?;
        if status != 200 {
            bail!("the remote refused a token ({status}): {}", body["error_description"].as_str().unwrap_or(""));
        }
        let token = body["access_token"].as_str().context("the token answer has no access_token")?.to_owned();
        let lifetime = Duration::from_secs(body["expires_in"].as_u64().unwrap_or(60));
        self.token = Some((token.clone(), Instant::now() + lifetime));
        Ok(token)
    }
}

fn diagnostics(body: &Value) -> String {
    let issues = body["issue"].as_array().into_iter().flatten();
    issues.filter_map(|i| i["diagnostics"].as_str()).collect::<Vec<_>>().join("; ")
}

fn agent(ca_cert: Option<&Path>) -> anyhow::Result<ureq::Agent> {
    let mut tls = ureq::tls::TlsConfig::builder();
    if let Some(path) = ca_cert {
        let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let certs = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(cert)) => Some(cert),
                _ => None,
            })
            .collect::<Vec<_>>();
        anyhow::ensure!(!certs.is_empty(), "{} holds no certificate", path.display());
        tls = tls.root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(certs)));
    }
    Ok(ureq::Agent::config_builder()
        .tls_config(tls.build())
        .http_status_as_error(false)
        // A redirect could lead the bearer token elsewhere: the remote's own URLs only.
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into())
}

/// The signing key and its algorithm: ES384 for an EC key, RS384 for RSA.
fn signing_key(path: &Path) -> anyhow::Result<(EncodingKey, Algorithm)> {
    let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if let Ok(key) = EncodingKey::from_ec_pem(&pem) {
        return Ok((key, Algorithm::ES384));
    }
    let key = EncodingKey::from_rsa_pem(&pem)
        .with_context(|| format!("{} is neither an EC nor an RSA private key in PEM", path.display()))?;
    Ok((key, Algorithm::RS384))
}

/// The token URL and the searchable types a CapabilityStatement declares.
fn capabilities(metadata: &Value) -> anyhow::Result<(String, Vec<String>)> {
    let rest = &metadata["rest"][0];
    let token_url = rest["security"]["extension"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["url"] == "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris")
        .flat_map(|e| e["extension"].as_array().into_iter().flatten())
        .find(|e| e["url"] == "token")
        .and_then(|e| e["valueUri"].as_str())
        .context("the remote's CapabilityStatement names no SMART token URL")?
        .to_owned();
    let searchable = rest["resource"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["interaction"].as_array().is_some_and(|i| i.iter().any(|i| i["code"] == "search-type")))
        .filter_map(|r| r["type"].as_str().map(str::to_owned))
        .collect();
    Ok((token_url, searchable))
}

pub fn run(conn: &mut PgConnection, args: PullArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let base = args.from.as_str().trim_end_matches('/').to_owned();
    let since = match &args.since {
        Some(raw) => Some(parse_instant(raw).with_context(|| format!("--since {raw}: not a date or RFC 3339 time"))?),
        None => None,
    };
    let origin = Origin::of(&args.from, args.allow_http_loopback)?;
    let (key, algorithm) = signing_key(&args.key)?;
    let agent = agent(args.ca_cert.as_deref())?;
    let mut remote = Remote {
        agent,
        token_url: String::new(),
        client_id: args.client_id.clone(),
        kid: args.kid.clone(),
        key,
        algorithm,
        scope: String::new(),
        token: None,
    };
    let metadata = remote.get(&format!("{base}/metadata"), false)?;
    let (token_url, searchable) = capabilities(&metadata)?;
    let types: Vec<String> = if args.types.is_empty() {
        MAPPED.iter().filter(|t| searchable.iter().any(|s| s == *t)).map(|t| t.to_string()).collect()
    } else {
        for ty in &args.types {
            anyhow::ensure!(searchable.contains(ty), "the remote cannot search {ty} resources");
        }
        args.types.clone()
    };
    anyhow::ensure!(!types.is_empty(), "the remote can search none of the types Vigil maps");
    remote.token_url = token_url;
    remote.scope = types.iter().map(|t| format!("system/{t}.read")).collect::<Vec<_>>().join(" ");

    let bar = progress_bar();
    let what = format!("pull from {base}");
    let loader = loader(&what);
    let mut summary = Summary::default();
    for ty in &types {
        bar.set_message(ty.clone());
        let from = match since {
            Some(t) => Some(t),
            None => high_water(conn, &base, ty)?.map(|t| t - RESUME_MARGIN),
        };
        let mut url = url::Url::parse(&format!("{base}/{ty}")).with_context(|| format!("{base}/{ty}"))?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(from) = from {
                query.append_pair("_lastUpdated", &format!("ge{}", from.to_rfc3339()));
            }
            query.append_pair("_sort", "_lastUpdated").append_pair("_count", &args.page_size.to_string());
        }
        let mut next = Some(url.to_string());
        let mut page = 0;
        while let Some(url) = next.take() {
            page += 1;
            let bundle = remote.get(&url, true)?;
            let entries = bundle["entry"].as_array().cloned().unwrap_or_default();
            let mut newest: Option<DateTime<Utc>> = None;
            let batch: Vec<Incoming> = entries
                .into_iter()
                .enumerate()
                .filter_map(|(i, entry)| {
                    let resource = entry.get("resource")?.clone();
                    let updated = resource.pointer("/meta/lastUpdated").and_then(Value::as_str).and_then(parse_instant);
                    newest = newest.max(updated);
                    Some(Incoming::parsed(format!("pull {base}/{ty}"), format!("page {page}, entry {i}"), resource))
                })
                .collect();
            summary.merge(&store_batch(conn, &args.source, &loader, batch)?);
            if let Some(newest) = newest {
                remember(conn, &base, ty, newest)?;
            }
            bar.set_position(summary.totals().total());
            next = match bundle["link"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|l| l["relation"] == "next")
                .and_then(|l| l["url"].as_str())
            {
                Some(link) => Some(origin.follow(link)?),
                None => None,
            };
        }
    }
    bar.finish_and_clear();
    finish(conn, &what, &summary, started)
}

fn high_water(conn: &mut PgConnection, remote: &str, ty: &str) -> QueryResult<Option<DateTime<Utc>>> {
    pull_state::table.find((remote, ty)).select(pull_state::high_water).first(conn).optional()
}

/// Keeps the newest time stored from a remote for a type (never moving it back).
fn remember(conn: &mut PgConnection, remote: &str, ty: &str, newest: DateTime<Utc>) -> QueryResult<()> {
    diesel::insert_into(pull_state::table)
        .values((pull_state::remote.eq(remote), pull_state::resource_type.eq(ty), pull_state::high_water.eq(newest)))
        .on_conflict((pull_state::remote, pull_state::resource_type))
        .do_update()
        .set((
            pull_state::high_water.eq(diesel::dsl::sql::<diesel::sql_types::Timestamptz>(
                "GREATEST(pull_state.high_water, excluded.high_water)",
            )),
            pull_state::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::Origin;

    fn origin(base: &str, allow_http: bool) -> anyhow::Result<Origin> {
        Origin::of(&url::Url::parse(base).expect("url"), allow_http)
    }

    #[test]
    fn next_links_stay_on_the_remote_over_https() {
        let remote = origin("https://ehr.example/fhir", false).expect("https");
        assert_eq!(
            remote.follow("https://ehr.example/fhir/Patient?_cursor=x").expect("same origin"),
            "https://ehr.example/fhir/Patient?_cursor=x"
        );
        assert_eq!(remote.follow("/fhir/Patient?page=2").expect("relative"), "https://ehr.example/fhir/Patient?page=2");
        for elsewhere in [
            "https://attacker.example/fhir/Patient",
            "http://ehr.example/fhir/Patient",
            "https://ehr.example:8443/fhir/Patient",
            "https://ehr.example.attacker.example/fhir",
            "//attacker.example/x",
        ] {
            let refused = remote.follow(elsewhere).expect_err(elsewhere).to_string();
            assert!(refused.contains("not followed"), "{refused}");
        }
    }

    #[test]
    fn plain_http_only_to_this_machine_and_only_when_allowed() {
        assert!(origin("http://ehr.example/fhir", false).is_err());
        assert!(origin("http://127.0.0.1:8080/fhir", false).is_err());
        assert!(origin("http://127.0.0.1:8080/fhir", true).is_ok());
        assert!(origin("http://localhost:8080/fhir", true).is_ok());
        assert!(origin("http://ehr.example/fhir", true).is_err());
        assert!(origin("ftp://ehr.example/fhir", true).is_err());
    }
}
