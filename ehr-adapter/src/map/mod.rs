//! Validation and mapping of one resource: the structural checks every resource gets (type, id,
//! meta), and for the clinical types their mapping to the store's rows. All problems of a resource
//! are reported together, each with the path of its element.
//!
//! The rows come back with their storage columns (source system, versions, content hash, patient
//! row id) at their defaults: the ingester fills those in.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use vigil_store::models::{NewCondition, NewEncounter, NewMedicationRequest, NewObservation, NewPatient, NewProcedure};

use crate::fhir_time;
use crate::issue::Issue;
use crate::reference;

mod clinical;
use clinical::{condition, encounter, medication_request, observation, patient, procedure};

pub const ICD10_CM: &str = "http://hl7.org/fhir/sid/icd-10-cm";
pub const ICD10: &str = "http://hl7.org/fhir/sid/icd-10";
pub const SNOMED: &str = "http://snomed.info/sct";
pub const LOINC: &str = "http://loinc.org";
pub const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
const US_CORE_RACE: &str = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race";
const US_CORE_ETHNICITY: &str = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity";

/// The facts every stored resource has.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub resource_type: String,
    pub id: String,
    pub version_id: Option<String>,
    pub last_updated: Option<DateTime<Utc>>,
}

/// A clinical resource mapped to its row, with the FHIR id of the patient it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub enum Mapped {
    Patient(Box<NewPatient>),
    Encounter {
        patient: String,
        row: Box<NewEncounter>,
    },
    Condition {
        patient: String,
        row: Box<NewCondition>,
    },
    Observation {
        patient: String,
        row: Box<NewObservation>,
    },
    MedicationRequest {
        patient: String,
        row: Box<NewMedicationRequest>,
    },
    Procedure {
        patient: String,
        row: Box<NewProcedure>,
    },
    /// Any other type: kept raw only.
    Unmapped,
}

impl Mapped {
    /// The patient this resource belongs to, by FHIR id.
    pub fn patient(&self, header: &Header) -> Option<String> {
        match self {
            Self::Patient(_) => Some(header.id.clone()),
            Self::Encounter { patient, .. }
            | Self::Condition { patient, .. }
            | Self::Observation { patient, .. }
            | Self::MedicationRequest { patient, .. }
            | Self::Procedure { patient, .. } => Some(patient.clone()),
            Self::Unmapped => None,
        }
    }
}

/// Validates a resource and maps it if it is of a clinical type.
pub fn map(resource: &Value) -> Result<(Header, Mapped), Vec<Issue>> {
    let mut r = Reader::new(resource);
    let header = r.header();
    let mapped = match header.as_ref().map(|h| h.resource_type.as_str()) {
        Some("Patient") => patient(&mut r, resource).map(|p| Mapped::Patient(Box::new(p))),
        Some("Encounter") => encounter(&mut r, resource),
        Some("Condition") => condition(&mut r, resource),
        Some("Observation") => observation(&mut r, resource),
        Some("MedicationRequest") => medication_request(&mut r, resource),
        Some("Procedure") => procedure(&mut r, resource),
        _ => Some(Mapped::Unmapped),
    };
    match (header, mapped, r.issues.is_empty()) {
        (Some(header), Some(mapped), true) => Ok((header, mapped)),
        _ => Err(r.issues),
    }
}

/// Reads elements of one resource, collecting an issue for each missing or malformed one.
struct Reader<'a> {
    root: &'a Value,
    resource_type: String,
    issues: Vec<Issue>,
}

impl<'a> Reader<'a> {
    fn new(root: &'a Value) -> Self {
        let resource_type = root.get("resourceType").and_then(Value::as_str).unwrap_or("Resource").to_owned();
        Self { root, resource_type, issues: Vec::new() }
    }

    fn path(&self, rel: &str) -> String {
        format!("{}.{rel}", self.resource_type)
    }

    fn header(&mut self) -> Option<Header> {
        let Some(obj) = self.root.as_object() else {
            self.issues.push(Issue::structure("Resource", "a resource must be a JSON object"));
            return None;
        };
        let resource_type = match obj.get("resourceType") {
            Some(Value::String(t))
                if t.starts_with(|c: char| c.is_ascii_uppercase()) && t.chars().all(|c| c.is_ascii_alphabetic()) =>
            {
                t.clone()
            }
            Some(_) => {
                self.issues
                    .push(Issue::value("Resource.resourceType", "resourceType must be a FHIR resource type name"));
                return None;
            }
            None => {
                self.issues.push(Issue::required("Resource.resourceType"));
                return None;
            }
        };
        let id = match obj.get("id") {
            Some(Value::String(id)) if reference::is_valid_id(id) => Some(id.clone()),
            Some(_) => {
                self.issues.push(Issue::value(self.path("id"), "id must be 1 to 64 of A-Z a-z 0-9 - ."));
                None
            }
            None => {
                self.issues.push(Issue::required(self.path("id")));
                None
            }
        };
        let meta = obj.get("meta");
        let version_id = meta.and_then(|m| self.opt_str_in(m, "meta.versionId", "versionId"));
        let last_updated = meta.and_then(|m| self.opt_instant_in(m, "meta.lastUpdated", "lastUpdated"));
        id.map(|id| Header { resource_type, id, version_id, last_updated })
    }

    fn opt_str_in(&mut self, parent: &Value, path: &str, key: &str) -> Option<String> {
        match parent.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.issues.push(Issue::value(self.path(path), format!("{} must be a string", self.path(path))));
                None
            }
        }
    }

    fn opt_str(&mut self, key: &str) -> Option<String> {
        let root = self.root;
        self.opt_str_in(root, key, key)
    }

    fn required_str(&mut self, key: &str) -> Option<String> {
        let value = self.opt_str(key);
        if value.is_none() && self.root.get(key).is_none() {
            self.issues.push(Issue::required(self.path(key)));
        }
        value
    }

    fn opt_instant_in(&mut self, parent: &Value, path: &str, key: &str) -> Option<DateTime<Utc>> {
        let raw = self.opt_str_in(parent, path, key)?;
        let parsed = fhir_time::parse_instant(&raw);
        if parsed.is_none() {
            self.issues
                .push(Issue::value(self.path(path), format!("{} is not a FHIR date or dateTime", self.path(path))));
        }
        parsed
    }

    fn opt_instant(&mut self, key: &str) -> Option<DateTime<Utc>> {
        let root = self.root;
        self.opt_instant_in(root, key, key)
    }

    /// start and end of a Period element.
    fn period(&mut self, key: &str) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        let Some(period) = self.root.get(key) else { return (None, None) };
        if !period.is_object() {
            self.issues.push(Issue::value(self.path(key), format!("{} must be a Period", self.path(key))));
            return (None, None);
        }
        let start = self.opt_instant_in(period, &format!("{key}.start"), "start");
        let end = self.opt_instant_in(period, &format!("{key}.end"), "end");
        if let (Some(s), Some(e)) = (start, end)
            && e < s
        {
            self.issues.push(Issue::value(self.path(key), format!("{} ends before it starts", self.path(key))));
        }
        (start, end)
    }

    /// The id a Reference element points to, when it points to `expected_type`.
    fn reference(&mut self, key: &str, expected_type: &str, required: bool) -> Option<String> {
        let Some(element) = self.root.get(key) else {
            if required {
                self.issues.push(Issue::required(format!("{}.reference", self.path(key))));
            }
            return None;
        };
        let path = format!("{key}.reference");
        let raw = self.opt_str_in(element, &path, "reference");
        let Some(raw) = raw else {
            if required {
                self.issues.push(Issue::required(self.path(&path)));
            }
            return None;
        };
        match reference::parse(&raw) {
            Some(target) if target.resource_type == expected_type => Some(target.id),
            Some(target) => {
                self.issues.push(Issue::value(
                    self.path(&path),
                    format!("{} must refer to a {expected_type}, not a {}", self.path(&path), target.resource_type),
                ));
                None
            }
            None => {
                self.issues.push(Issue::value(
                    self.path(&path),
                    format!("{} is not a resolvable reference", self.path(&path)),
                ));
                None
            }
        }
    }
}

/// (system, code, display) of each coding of a CodeableConcept.
fn codings(concept: Option<&Value>) -> Vec<(Option<&str>, Option<&str>, Option<&str>)> {
    concept
        .and_then(|c| c.get("coding"))
        .and_then(Value::as_array)
        .map(|codings| {
            codings
                .iter()
                .map(|c| {
                    (
                        c.get("system").and_then(Value::as_str),
                        c.get("code").and_then(Value::as_str),
                        c.get("display").and_then(Value::as_str),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn first_code(concept: Option<&Value>) -> Option<String> {
    codings(concept).into_iter().find_map(|(_, code, _)| code.map(str::to_owned))
}

fn code_in(concept: Option<&Value>, system: &str) -> Option<String> {
    codings(concept).into_iter().find(|(s, _, _)| *s == Some(system)).and_then(|(_, c, _)| c.map(str::to_owned))
}

fn concept_text(concept: Option<&Value>) -> Option<String> {
    concept
        .and_then(|c| c.get("text"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| codings(concept).into_iter().find_map(|(_, _, d)| d.map(str::to_owned)))
}

fn first<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    match value.get(key) {
        Some(Value::Array(items)) => items.first(),
        other => other,
    }
}

/// Codings of a concept as the store keeps them: `[{system, code, display}]`.
fn coding_list(concept: Option<&Value>) -> Vec<Value> {
    codings(concept).into_iter().map(|(s, c, d)| json!({ "system": s, "code": c, "display": d })).collect()
}
