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

fn patient(r: &mut Reader<'_>, p: &Value) -> Option<NewPatient> {
    let identifiers = p.get("identifier").cloned().unwrap_or_else(|| json!([]));
    if !identifiers.is_array() {
        r.issues.push(Issue::value("Patient.identifier", "Patient.identifier must be a list"));
    }
    let mrn = identifiers.as_array().and_then(|ids| {
        ids.iter()
            .find(|id| {
                let ty = id.get("type");
                codings(ty).iter().any(|(_, code, _)| *code == Some("MR"))
                    || ty.and_then(|t| t.get("text")).and_then(Value::as_str) == Some("MRN")
            })
            .and_then(|id| id.get("value"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let names = p.get("name").and_then(Value::as_array);
    let name = names.and_then(|n| {
        n.iter().find(|n| n.get("use").and_then(Value::as_str) == Some("official")).or_else(|| n.first())
    });
    let family = name.and_then(|n| n.get("family")).and_then(Value::as_str).map(str::to_owned);
    let given = name
        .and_then(|n| n.get("given"))
        .and_then(Value::as_array)
        .map(|g| g.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "))
        .filter(|g| !g.is_empty());
    let sex = r.opt_str("gender");
    if let Some(s) = &sex
        && !matches!(s.as_str(), "male" | "female" | "other" | "unknown")
    {
        r.issues.push(Issue::value(
            "Patient.gender",
            format!("Patient.gender {s:?} is not male, female, other or unknown"),
        ));
    }
    let birth_date = r.opt_str("birthDate").and_then(|b| {
        let parsed = fhir_time::parse_date(&b);
        if parsed.is_none() {
            r.issues.push(Issue::value("Patient.birthDate", "Patient.birthDate is not a FHIR date"));
        }
        parsed
    });
    let deceased_at = r.opt_instant("deceasedDateTime");
    let deceased = deceased_at.is_some() || p.get("deceasedBoolean").and_then(Value::as_bool).unwrap_or(false);
    let (race_code, race_display) = us_core_category(p, US_CORE_RACE);
    let (ethnicity_code, ethnicity_display) = us_core_category(p, US_CORE_ETHNICITY);
    let postal_code = p
        .get("address")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().find_map(|a| a.get("postalCode").and_then(Value::as_str)))
        .map(str::to_owned);
    Some(NewPatient {
        mrn,
        identifiers,
        family_name: family,
        given_names: given,
        birth_date,
        sex,
        race_code,
        race_display,
        ethnicity_code,
        ethnicity_display,
        deceased,
        deceased_at,
        postal_code,
        ..Default::default()
    })
}

/// The ombCategory code and the text of a US Core race or ethnicity extension.
fn us_core_category(p: &Value, url: &str) -> (Option<String>, Option<String>) {
    let Some(ext) = p
        .get("extension")
        .and_then(Value::as_array)
        .and_then(|e| e.iter().find(|x| x.get("url").and_then(Value::as_str) == Some(url)))
    else {
        return (None, None);
    };
    let parts: &[Value] = ext.get("extension").and_then(Value::as_array).map_or(&[], Vec::as_slice);
    let part = |name: &str| parts.iter().find(|x| x.get("url").and_then(Value::as_str) == Some(name));
    let code =
        part("ombCategory").and_then(|x| x.pointer("/valueCoding/code")).and_then(Value::as_str).map(str::to_owned);
    let text = part("text")
        .and_then(|x| x.get("valueString"))
        .and_then(Value::as_str)
        .or_else(|| part("ombCategory").and_then(|x| x.pointer("/valueCoding/display")).and_then(Value::as_str))
        .map(str::to_owned);
    (code, text)
}

fn encounter(r: &mut Reader<'_>, e: &Value) -> Option<Mapped> {
    let status = r.required_str("status");
    let patient = r.reference("subject", "Patient", true);
    let (period_start, period_end) = r.period("period");
    let class_code = e.get("class").and_then(|c| c.get("code")).and_then(Value::as_str).map(str::to_owned);
    let hospitalization = e.get("hospitalization");
    let service = e.get("serviceType");
    let location = unit_location(e);
    let reason_codes: Vec<Value> = e
        .get("reasonCode")
        .and_then(Value::as_array)
        .map(|reasons| reasons.iter().flat_map(|c| coding_list(Some(c))).collect())
        .unwrap_or_default();
    let diagnoses: Vec<Value> = e
        .get("diagnosis")
        .and_then(Value::as_array)
        .map(|ds| {
            ds.iter()
                .map(|d| {
                    json!({
                        "condition": d.pointer("/condition/reference").and_then(Value::as_str).and_then(reference::parse).map(|t| t.id),
                        "use": first_code(d.get("use")),
                        "rank": d.get("rank"),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let part_of = r.reference("partOf", "Encounter", false);
    Some(Mapped::Encounter {
        patient: patient?,
        row: Box::new(NewEncounter {
            status: status?,
            class_code,
            period_start,
            period_end,
            priority_code: first_code(e.get("priority")),
            admit_source_code: first_code(hospitalization.and_then(|h| h.get("admitSource"))),
            discharge_disposition_code: first_code(hospitalization.and_then(|h| h.get("dischargeDisposition"))),
            service_type_code: first_code(service).or_else(|| concept_text(service)),
            location_fhir_id: location.clone(),
            unit: location,
            reason_codes: Value::Array(reason_codes),
            diagnoses: Value::Array(diagnoses),
            part_of_fhir_id: part_of,
            ..Default::default()
        }),
    })
}

/// The location that stands for the care unit: the one typed or named as a ward, else the first.
/// Beds and rooms are finer than a unit.
fn unit_location(e: &Value) -> Option<String> {
    let entries = e.get("location").and_then(Value::as_array)?;
    let id_of = |entry: &Value| {
        entry.pointer("/location/reference").and_then(Value::as_str).and_then(reference::parse).map(|t| t.id)
    };
    let is_ward = |entry: &Value| {
        let typed = codings(entry.get("physicalType")).iter().any(|(_, code, _)| *code == Some("wa"));
        let named = [entry.pointer("/location/reference"), entry.pointer("/location/display")]
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .any(|s| s.to_lowercase().contains("ward"));
        typed || named
    };
    entries.iter().find(|x| is_ward(x)).or_else(|| entries.first()).and_then(id_of)
}

fn condition(r: &mut Reader<'_>, c: &Value) -> Option<Mapped> {
    let patient = r.reference("subject", "Patient", true);
    let encounter = r.reference("encounter", "Encounter", false);
    let code = c.get("code");
    let all = codings(code);
    let icd10: Vec<Option<String>> = all
        .iter()
        .filter(|(s, _, _)| matches!(*s, Some(ICD10_CM) | Some(ICD10)))
        .filter_map(|(_, code, _)| code.map(|c| Some(c.to_owned())))
        .collect();
    let snomed: Vec<Option<String>> = all
        .iter()
        .filter(|(s, _, _)| *s == Some(SNOMED))
        .filter_map(|(_, code, _)| code.map(|c| Some(c.to_owned())))
        .collect();
    let onset_at = r.opt_instant("onsetDateTime").or_else(|| {
        let (start, _) = r.period("onsetPeriod");
        start
    });
    let abatement_at = r.opt_instant("abatementDateTime").or_else(|| {
        let (start, _) = r.period("abatementPeriod");
        start
    });
    let recorded_at = r.opt_instant("recordedDate");
    Some(Mapped::Condition {
        patient: patient?,
        row: Box::new(NewCondition {
            encounter_fhir_id: encounter,
            icd10_codes: icd10,
            snomed_codes: snomed,
            code_display: concept_text(code),
            clinical_status: first_code(c.get("clinicalStatus")),
            verification_status: first_code(c.get("verificationStatus")),
            category_code: first(c, "category").and_then(|cat| first_code(Some(cat))),
            onset_at,
            abatement_at,
            recorded_at,
            ..Default::default()
        }),
    })
}

fn observation(r: &mut Reader<'_>, o: &Value) -> Option<Mapped> {
    let status = r.required_str("status");
    let patient = r.reference("subject", "Patient", true);
    let encounter = r.reference("encounter", "Encounter", false);
    if o.get("code").is_none() {
        r.issues.push(Issue::required("Observation.code"));
    }
    let code = o.get("code");
    let effective_at = r
        .opt_instant("effectiveDateTime")
        .or_else(|| r.opt_instant("effectiveInstant"))
        .or_else(|| r.period("effectivePeriod").0);
    let (value_quantity, value_unit) = quantity(r, o.get("valueQuantity"), "Observation.valueQuantity");
    let components: Vec<Value> = o
        .get("component")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    let q = c.get("valueQuantity");
                    json!({
                        "loinc": code_in(c.get("code"), LOINC),
                        "code": first_code(c.get("code")),
                        "value": q.and_then(|q| q.get("value")).and_then(Value::as_f64),
                        "unit": q.and_then(|q| q.get("unit").or_else(|| q.get("code"))).and_then(Value::as_str),
                        "value_code": first_code(c.get("valueCodeableConcept")),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Mapped::Observation {
        patient: patient?,
        row: Box::new(NewObservation {
            encounter_fhir_id: encounter,
            status: status?,
            category_code: first(o, "category").and_then(|cat| first_code(Some(cat))),
            loinc_code: code_in(code, LOINC),
            code_display: concept_text(code),
            effective_at,
            value_quantity,
            value_unit,
            value_code: first_code(o.get("valueCodeableConcept")),
            value_text: o.get("valueString").and_then(Value::as_str).map(str::to_owned),
            components: Value::Array(components),
            ..Default::default()
        }),
    })
}

fn quantity(r: &mut Reader<'_>, q: Option<&Value>, path: &str) -> (Option<f64>, Option<String>) {
    let Some(q) = q else { return (None, None) };
    let value = match q.get("value") {
        None => None,
        Some(Value::Number(n)) => n.as_f64(),
        Some(_) => {
            r.issues.push(Issue::value(format!("{path}.value"), format!("{path}.value must be a number")));
            None
        }
    };
    let unit = q.get("unit").or_else(|| q.get("code")).and_then(Value::as_str).map(str::to_owned);
    (value, unit)
}

fn medication_request(r: &mut Reader<'_>, m: &Value) -> Option<Mapped> {
    let status = r.required_str("status");
    let intent = r.required_str("intent");
    let patient = r.reference("subject", "Patient", true);
    let encounter = r.reference("encounter", "Encounter", false);
    let medication = m.get("medicationCodeableConcept");
    let authored_at = r.opt_instant("authoredOn");
    Some(Mapped::MedicationRequest {
        patient: patient?,
        row: Box::new(NewMedicationRequest {
            encounter_fhir_id: encounter,
            status: status?,
            intent,
            rxnorm_code: code_in(medication, RXNORM),
            code_display: concept_text(medication)
                .or_else(|| m.pointer("/medicationReference/display").and_then(Value::as_str).map(str::to_owned)),
            authored_at,
            ..Default::default()
        }),
    })
}

fn procedure(r: &mut Reader<'_>, p: &Value) -> Option<Mapped> {
    let status = r.required_str("status");
    let patient = r.reference("subject", "Patient", true);
    let encounter = r.reference("encounter", "Encounter", false);
    let code = p.get("code");
    let (system, code_value) = codings(code)
        .into_iter()
        .find(|(_, c, _)| c.is_some())
        .map(|(s, c, _)| (s.map(str::to_owned), c.map(str::to_owned)))
        .unwrap_or_default();
    let (performed_start, performed_end) = match r.opt_instant("performedDateTime") {
        Some(at) => (Some(at), None),
        None => r.period("performedPeriod"),
    };
    Some(Mapped::Procedure {
        patient: patient?,
        row: Box::new(NewProcedure {
            encounter_fhir_id: encounter,
            status: status?,
            code_system: system,
            code: code_value,
            code_display: concept_text(code),
            performed_start,
            performed_end,
            ..Default::default()
        }),
    })
}
