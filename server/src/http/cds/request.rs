//! A CDS Hooks request as Vigil reads it, and the EHR's recent encounters: from the prefetch, or
//! fetched from the client's FHIR server with the token it lent.

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

/// How long the client's FHIR server gets to answer: the clinician is waiting for the card.
const FETCH_TIMEOUT: Duration = Duration::from_secs(2);
/// The most of the client's FHIR server's answer Vigil reads.
const MAX_FETCH_BYTES: u64 = 4 * 1024 * 1024;

/// The body of a hook call (CDS Hooks 2.0, "HTTP Request").
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookRequest {
    pub hook: String,
    pub hook_instance: String,
    pub fhir_server: Option<String>,
    pub fhir_authorization: Option<FhirAuthorization>,
    pub context: HookContext,
    /// Values may be null: the client could not prefetch them.
    #[serde(default)]
    pub prefetch: HashMap<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookContext {
    pub patient_id: String,
    pub encounter_id: Option<String>,
}

/// The access token the client lends for its FHIR server.
#[derive(Debug, Deserialize)]
pub struct FhirAuthorization {
    pub access_token: String,
    pub token_type: String,
}

/// The prefetch key of the patient's recent encounters in the services' templates.
pub const ENCOUNTERS: &str = "encounters";

/// The FHIR ids of the Encounters in a searchset Bundle.
fn encounter_ids(bundle: &Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == "Encounter")
        .filter_map(|r| r["id"].as_str().map(str::to_owned))
        .collect()
}

/// Why the client's FHIR server was not read.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("fhirServer is not a URL")]
    NotAUrl,
    #[error("fhirServer must be https (or http on loopback)")]
    Insecure,
    #[error("fhirAuthorization is missing")]
    NoAuthorization,
    #[error("the FHIR server answered {0}")]
    Status(u16),
    #[error("the FHIR server could not be read: {0}")]
    Transport(String),
}

/// Where the recent encounters come from for this request.
#[derive(Debug)]
pub enum Source {
    /// Prefetched: the ids.
    Prefetched(Vec<String>),
    /// To fetch from the client's FHIR server.
    Fetch { url: url::Url, authorization: String },
    /// The client gave neither.
    Absent,
}

impl HookRequest {
    /// Where the patient's recent encounters come from: the prefetch when the client filled it,
    /// else its FHIR server (checked here, read by [`fetch`]).
    pub fn recent_encounters(&self) -> Result<Source, FetchError> {
        if let Some(bundle) = self.prefetch.get(ENCOUNTERS).filter(|b| !b.is_null()) {
            return Ok(Source::Prefetched(encounter_ids(bundle)));
        }
        let Some(server) = &self.fhir_server else { return Ok(Source::Absent) };
        let base = url::Url::parse(server.trim_end_matches('/')).map_err(|_| FetchError::NotAUrl)?;
        let loopback = match base.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        };
        if !(base.scheme() == "https" || (base.scheme() == "http" && loopback)) {
            return Err(FetchError::Insecure);
        }
        let auth = self.fhir_authorization.as_ref().ok_or(FetchError::NoAuthorization)?;
        let mut url = url::Url::parse(&format!("{}/Encounter", base.as_str().trim_end_matches('/')))
            .map_err(|_| FetchError::NotAUrl)?;
        url.query_pairs_mut()
            .append_pair("patient", &self.context.patient_id)
            .append_pair("_sort", "-date")
            .append_pair("_count", "5");
        Ok(Source::Fetch { url, authorization: format!("{} {}", auth.token_type, auth.access_token) })
    }
}

/// Reads the patient's recent encounters from the client's FHIR server. Blocking.
pub fn fetch(url: &url::Url, authorization: &str) -> Result<Vec<String>, FetchError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(FETCH_TIMEOUT))
        .build()
        .into();
    let mut response = agent
        .get(url.as_str())
        .header("accept", "application/fhir+json")
        .header("authorization", authorization)
        .call()
        .map_err(|e| FetchError::Transport(e.to_string()))?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(FetchError::Status(status));
    }
    let bundle: Value = response
        .body_mut()
        .with_config()
        .limit(MAX_FETCH_BYTES)
        .read_json()
        .map_err(|e| FetchError::Transport(e.to_string()))?;
    Ok(encounter_ids(&bundle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(body: Value) -> HookRequest {
        serde_json::from_value(body).expect("a hook request")
    }

    fn base(extra: Value) -> Value {
        let mut body = json!({
            "hook": "patient-view", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
            "context": { "userId": "Practitioner/example", "patientId": "p1" },
        });
        for (k, v) in extra.as_object().expect("object") {
            body[k] = v.clone();
        }
        body
    }

    #[test]
    fn prefetched_encounters_are_used_as_they_are() {
        let bundle = json!({ "resourceType": "Bundle", "type": "searchset", "entry": [
            { "resource": { "resourceType": "Encounter", "id": "e1" } },
            { "resource": { "resourceType": "Encounter", "id": "e2" } },
            { "resource": { "resourceType": "OperationOutcome" } },
        ]});
        let req = request(base(json!({ "prefetch": { "encounters": bundle } })));
        assert!(matches!(req.recent_encounters(), Ok(Source::Prefetched(ids)) if ids == ["e1", "e2"]));
    }

    #[test]
    fn without_prefetch_the_fhir_server_is_asked_over_https_or_loopback_only() {
        let auth =
            json!({ "access_token": "t0k", "token_type": "Bearer", "expires_in": 300, "scope": "x", "subject": "s" });
        let req = request(base(json!({
            "fhirServer": "https://ehr.example/fhir/", "fhirAuthorization": auth, "prefetch": { "encounters": null },
        })));
        let Ok(Source::Fetch { url, authorization }) = req.recent_encounters() else { panic!("a fetch") };
        assert_eq!(url.as_str(), "https://ehr.example/fhir/Encounter?patient=p1&_sort=-date&_count=5");
        assert_eq!(authorization, "Bearer t0k");
        let plain = request(base(json!({ "fhirServer": "http://ehr.example/fhir", "fhirAuthorization": auth })));
        assert!(matches!(plain.recent_encounters(), Err(FetchError::Insecure)));
        let local = request(base(json!({ "fhirServer": "http://127.0.0.1:9/fhir", "fhirAuthorization": auth })));
        assert!(matches!(local.recent_encounters(), Ok(Source::Fetch { .. })));
        let unlent = request(base(json!({ "fhirServer": "https://ehr.example/fhir" })));
        assert!(matches!(unlent.recent_encounters(), Err(FetchError::NoAuthorization)));
        assert!(matches!(request(base(json!({}))).recent_encounters(), Ok(Source::Absent)));
    }
}
