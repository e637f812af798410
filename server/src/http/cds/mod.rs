//! CDS Hooks 2.0: the EHR asks Vigil for cards where clinicians work. `GET /cds-services`
//! (discovery, open), `POST /cds-services/{id}` (a hook call, signed by a registered CDS client,
//! audited on the patient) and `POST /cds-services/{id}/feedback` (what the clinician did with a
//! card, stored as feedback on the score it showed).

mod answers;
pub mod card;
pub mod request;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};
use vigil_store::schema::{cds_cards, encounters, models, scores};

use self::card::{Recent, Risk};
use self::request::{FetchError, HookRequest, Source};
use crate::alerts::rules::{self, RuleError};
use crate::alerts::tier::Tier;
use crate::auth::policy::{Action, CDS_CARD};
use crate::auth::principal::Principal;
use crate::http::access::{Access, AuthState, Guard};
use crate::http::surface::{Cds, Rejection};

pub fn routes(cfg: &mut web::ServiceConfig) {
    // Feedback first: the hook route would otherwise take ".../feedback" for nothing.
    cfg.service(discovery).service(answers::give_feedback).service(call);
}

const READ_SCORES: Access = Access { action: Action::Read, resource_type: "RiskAssessment", data_category: "scores" };
const ANSWER_CARD: Access = Access { action: Action::Respond, resource_type: CDS_CARD, data_category: "feedback" };

/// The services Vigil offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    /// The patient's current risks, when their chart is opened.
    Risk,
    /// The readmission risk, as the patient is discharged.
    Discharge,
}

impl Service {
    const ALL: [Self; 2] = [Self::Risk, Self::Discharge];

    fn id(self) -> &'static str {
        match self {
            Self::Risk => "vigil-risk",
            Self::Discharge => "vigil-discharge-readmission",
        }
    }

    fn parse(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.id() == id)
    }

    fn hook(self) -> &'static str {
        match self {
            Self::Risk => "patient-view",
            Self::Discharge => "encounter-discharge",
        }
    }

    fn targets(self) -> &'static [&'static str] {
        match self {
            Self::Risk => &["admission", "readmission"],
            Self::Discharge => &["readmission"],
        }
    }

    fn describe(self) -> Value {
        let (title, description) = match self {
            Self::Risk => (
                "Vigil risk of admission and readmission",
                "The patient's current 30-day risk of unplanned admission and of readmission, with its alert tier, the model that scored it and the factors that raise it most.",
            ),
            Self::Discharge => (
                "Vigil readmission risk at discharge",
                "The patient's 30-day readmission risk as they are discharged, with its alert tier and the factors that raise it most.",
            ),
        };
        json!({
            "hook": self.hook(),
            "id": self.id(),
            "title": title,
            "description": description,
            "prefetch": {
                "patient": "Patient/{{context.patientId}}",
                request::ENCOUNTERS: "Encounter?patient={{context.patientId}}&_sort=-date&_count=5",
            },
            "usageRequirements": "Register the EHR as a Vigil client with a CDS issuer and system/RiskAssessment.read (vigil client add --cds-issuer); sign each request as the CDS Hooks specification says.",
        })
    }
}

#[get("/cds-services")]
async fn discovery() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "services": Service::ALL.map(Service::describe) }))
}

fn client_of(principal: &Principal) -> Result<String, Rejection<Cds>> {
    match principal {
        Principal::Client { client_id, .. } => Ok(client_id.clone()),
        Principal::User(_) => Err(Rejection::forbidden("CDS services answer CDS clients")),
    }
}

fn service_of(id: &str) -> Result<Service, Rejection<Cds>> {
    Service::parse(id).ok_or_else(|| Rejection::not_found(format!("no CDS service {}", id.escape_debug())))
}

/// What the EHR says of the patient's recent encounters.
enum Ehr {
    /// Their ids.
    Listed(Vec<String>),
    /// Not said: neither prefetched nor a FHIR server to ask.
    Unknown,
    /// The client's FHIR server could not be read.
    Unreadable,
}

/// The EHR's recent encounters: prefetched, or read from its FHIR server (off the async runtime).
async fn ehr_encounters(body: &HookRequest) -> Result<Option<Vec<String>>, FetchError> {
    match body.recent_encounters()? {
        Source::Prefetched(ids) => Ok(Some(ids)),
        Source::Absent => Ok(None),
        Source::Fetch { url, authorization } => {
            let fetched = web::block(move || request::fetch(&url, &authorization)).await;
            fetched.map_err(|e| FetchError::Transport(e.to_string()))?.map(Some)
        }
    }
}

#[post("/cds-services/{id}")]
async fn call(
    guard: Guard<Cds>,
    id: web::Path<String>,
    body: web::Json<HookRequest>,
    auth: web::Data<AuthState>,
) -> Result<HttpResponse, Rejection<Cds>> {
    let service = service_of(&id)?;
    let client = client_of(guard.principal())?;
    let body = body.into_inner();
    if body.hook != service.hook() {
        return Err(Rejection::bad_request(format!(
            "{} answers the {} hook, not {}",
            service.id(),
            service.hook(),
            body.hook.escape_debug()
        )));
    }
    let ehr = match ehr_encounters(&body).await {
        Ok(Some(mut ids)) => {
            // The discharge being signed counts among what Vigil may not have yet.
            if let Some(encounter) = body.context.encounter_id.clone().filter(|e| !ids.contains(e)) {
                ids.push(encounter);
            }
            Ehr::Listed(ids)
        }
        Ok(None) => Ehr::Unknown,
        Err(e) => {
            tracing::warn!(service = service.id(), error = %e, "the CDS client's FHIR server was not read");
            Ehr::Unreadable
        }
    };
    let patient = body.context.patient_id.clone();
    let found = guard
        .patient(READ_SCORES, patient.clone(), move |conn, patient| {
            cards(conn, service, &client, patient, &ehr).map(Some)
        })
        .await;
    let risks = match found {
        Ok(risks) => risks,
        // A patient Vigil has not received yet has no risk to show: no card (the guard audited it).
        Err(rejection) if rejection.status == StatusCode::NOT_FOUND => Vec::new(),
        Err(rejection) => return Err(rejection),
    };
    let shown: Vec<Value> =
        risks.iter().map(|(uuid, risk, recent)| card::card(*uuid, risk, recent, &auth.public_url, &patient)).collect();
    Ok(HttpResponse::Ok().json(json!({ "cards": shown })))
}

/// A patient's newest score of a target by the active model.
#[derive(Queryable)]
struct Newest {
    target: String,
    score: i64,
    model: i64,
    version: String,
    algorithm: String,
    as_of: DateTime<Utc>,
    probability: Option<f64>,
    factors: Value,
}

/// The newest score of each of the service's targets by the active model, as risks, each stored
/// as a card given to `client`.
fn cards(
    conn: &mut PgConnection,
    service: Service,
    client: &str,
    patient: &crate::http::access::PatientRef,
    ehr: &Ehr,
) -> QueryResult<Vec<(uuid::Uuid, Risk, Recent)>> {
    let rules = rules::list(conn).map_err(|e| match e {
        RuleError::Database(e) => e,
        other => crate::http::fault::unexpected(&other),
    })?;
    let recent = match ehr {
        Ehr::Listed(ids) => {
            let known: i64 = encounters::table
                .filter(encounters::patient_id.eq(patient.id).and(encounters::fhir_id.eq_any(ids)))
                .count()
                .get_result(conn)?;
            Recent::Checked { unseen: ids.len().saturating_sub(usize::try_from(known).unwrap_or(0)) }
        }
        Ehr::Unreadable => Recent::Unreadable,
        Ehr::Unknown => Recent::Unknown,
    };
    // The newest score of each target, in one round trip.
    let newest: Vec<Newest> = scores::table
        .inner_join(models::table)
        .filter(scores::patient_id.eq(patient.id).and(scores::probability.is_not_null()))
        .filter(models::status.eq("active").and(models::target.eq_any(service.targets())))
        .distinct_on(models::target)
        .order((models::target, scores::as_of.desc(), scores::id.desc()))
        .select((
            models::target,
            scores::id,
            models::id,
            models::version,
            models::algorithm,
            scores::as_of,
            scores::probability,
            scores::factors,
        ))
        .load(conn)?;
    let (mut out, mut stored) = (Vec::new(), Vec::new());
    for Newest { target, score, model, version, algorithm, as_of, probability, factors } in newest {
        let Some(probability) = probability else { continue };
        let target = target.as_str();
        let rule = rules::holding(&rules, target, &patient.units);
        let thresholds: Vec<(Tier, f64)> = rule
            .map(|r| Tier::ALL.into_iter().filter_map(|t| Some((t, r.thresholds.get(t)?))).collect())
            .unwrap_or_default();
        let tier = rule.and_then(|r| r.thresholds.reached(probability));
        let factors = crate::http::risk::factor_texts(&factors);
        let uuid = uuid::Uuid::new_v4();
        stored.push((
            cds_cards::uuid.eq(uuid),
            cds_cards::service.eq(service.id()),
            cds_cards::client_id.eq(client.to_owned()),
            cds_cards::patient_id.eq(patient.id),
            cds_cards::score_id.eq(score),
            cds_cards::model_id.eq(model),
            cds_cards::tier.eq(tier.map(Tier::as_str)),
            cds_cards::unit.eq(patient.units.first().cloned()),
        ));
        let risk =
            Risk { target: target.to_owned(), probability, version, algorithm, as_of, factors, tier, thresholds };
        out.push((uuid, risk, recent.clone()));
    }
    // One statement, one commit, however many cards.
    if !stored.is_empty() {
        diesel::insert_into(cds_cards::table).values(&stored).execute(conn)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_names_each_service_with_its_hook_and_prefetch() {
        let risk = Service::Risk.describe();
        assert_eq!(risk["hook"], "patient-view");
        assert_eq!(risk["prefetch"]["patient"], "Patient/{{context.patientId}}");
        assert_eq!(Service::parse("vigil-discharge-readmission"), Some(Service::Discharge));
        assert_eq!(Service::Discharge.describe()["hook"], "encounter-discharge");
    }
}
