//! How a simulated person's record is written: each FHIR resource of their history (conditions,
//! observations, vitals and labs, encounters, medications, procedures), with ids and codings.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::*;

impl Sim<'_> {
    pub(super) fn next_id(&mut self, kind: &str) -> String {
        self.counter += 1;
        format!("{}-{kind}{}", self.id, self.counter)
    }

    pub(super) fn subject(&self) -> Value {
        json!({ "reference": format!("Patient/{}", self.id) })
    }

    pub(super) fn coding(&mut self, icd10: &str, snomed: &str, display: &str) -> Value {
        let icd = json!({ "system": crate::map::ICD10_CM, "code": icd10, "display": display });
        let sct = json!({ "system": crate::map::SNOMED, "code": snomed, "display": display });
        let codings = match (self.both_codes, self.icd_first) {
            (true, _) => vec![icd, sct],
            (false, true) => vec![icd],
            (false, false) => vec![sct],
        };
        json!({ "coding": codings, "text": display })
    }

    pub(super) fn condition(
        &mut self,
        icd10: &str,
        snomed: &str,
        display: &str,
        onset: DateTime<Utc>,
        category: &str,
        encounter: Option<&str>,
    ) {
        let id = self.next_id("c");
        let mut c = json!({
            "resourceType": "Condition", "id": id,
            "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active" }] },
            "verificationStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed" }] },
            "category": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": category }] }],
            "code": self.coding(icd10, snomed, display),
            "subject": self.subject(),
            "onsetDateTime": time(onset),
            "recordedDate": time(onset),
        });
        if let Some(e) = encounter {
            c["encounter"] = json!({ "reference": format!("Encounter/{e}") });
        }
        self.out.push(c);
    }

    pub(super) fn observation(&mut self, lab: &Lab, value: f64, t: DateTime<Utc>, encounter: &str, category: &str) {
        let (lab, value) = if self.si_units { codes::in_si(lab, value) } else { (lab, value) };
        let id = self.next_id("o");
        self.out.push(json!({
            "resourceType": "Observation", "id": id, "status": "final",
            "category": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": category }] }],
            "code": { "coding": [{ "system": crate::map::LOINC, "code": lab.loinc, "display": lab.display }] },
            "subject": self.subject(),
            "encounter": { "reference": format!("Encounter/{encounter}") },
            "effectiveDateTime": time(t),
            "valueQuantity": { "value": round1(value), "unit": lab.unit, "system": "http://unitsofmeasure.org", "code": lab.unit },
        }));
    }

    pub(super) fn vitals(&mut self, labs: &Labs, t: DateTime<Utc>, encounter: &str, acute: f64) {
        let sbp = labs.sbp + 8.0 * normal(&mut self.rng) - 6.0 * acute;
        let dbp = sbp * 0.62 + 4.0 * normal(&mut self.rng);
        let id = self.next_id("o");
        self.out.push(json!({
            "resourceType": "Observation", "id": id, "status": "final",
            "category": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs" }] }],
            "code": { "coding": [{ "system": crate::map::LOINC, "code": codes::BP_PANEL, "display": "Blood pressure panel" }] },
            "subject": self.subject(),
            "encounter": { "reference": format!("Encounter/{encounter}") },
            "effectiveDateTime": time(t),
            "component": [
                { "code": { "coding": [{ "system": crate::map::LOINC, "code": codes::SYSTOLIC }] }, "valueQuantity": { "value": sbp.round(), "unit": "mm[Hg]" } },
                { "code": { "coding": [{ "system": crate::map::LOINC, "code": codes::DIASTOLIC }] }, "valueQuantity": { "value": dbp.round(), "unit": "mm[Hg]" } },
            ],
        }));
        let hr = labs.hr + 6.0 * normal(&mut self.rng) + 14.0 * acute;
        self.observation(&codes::HEART_RATE, hr.round(), t, encounter, "vital-signs");
        let bmi = labs.bmi + 0.5 * normal(&mut self.rng);
        self.observation(&codes::BMI, bmi, t, encounter, "vital-signs");
    }

    /// Blood tests; `shift` moves hemoglobin and sodium down in acute illness.
    pub(super) fn labs(&mut self, labs: &Labs, t: DateTime<Utc>, encounter: &str, shift: f64, a1c: bool) {
        let hb = labs.hb - 0.9 * shift + 0.5 * normal(&mut self.rng);
        let na = labs.na - 2.5 * shift + 1.5 * normal(&mut self.rng);
        let cr = (labs.cr * (1.0 + 0.3 * shift) + 0.08 * normal(&mut self.rng)).max(0.3);
        self.observation(&codes::HEMOGLOBIN, hb, t, encounter, "laboratory");
        self.observation(&codes::SODIUM, na.round(), t, encounter, "laboratory");
        self.observation(&codes::CREATININE, cr, t, encounter, "laboratory");
        if a1c {
            let value = labs.a1c + 0.3 * normal(&mut self.rng);
            self.observation(&codes::HBA1C, value, t, encounter, "laboratory");
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn encounter(
        &mut self,
        class: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        priority: &str,
        unit: &str,
        service: &str,
        part_of: Option<&str>,
        hospitalization: Option<(&str, &str)>,
    ) -> String {
        let id = self.next_id("e");
        let display = match class {
            "IMP" => "inpatient encounter",
            "EMER" => "emergency",
            _ => "ambulatory",
        };
        let mut e = json!({
            "resourceType": "Encounter", "id": id, "status": "finished",
            "class": { "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": class, "display": display },
            "priority": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ActPriority", "code": priority }] },
            "subject": self.subject(),
            "period": { "start": time(start), "end": time(end) },
            "serviceType": { "coding": [{ "system": "urn:vigil:synth:service", "code": service }], "text": service },
            "location": [{ "location": { "reference": format!("Location/{unit}") },
                "physicalType": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/location-physical-type", "code": if unit.starts_with("ward") { "wa" } else { "area" } }] } }],
        });
        if let Some(parent) = part_of {
            e["partOf"] = json!({ "reference": format!("Encounter/{parent}") });
        }
        if let Some((source, disposition)) = hospitalization {
            e["hospitalization"] = json!({
                "admitSource": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/admit-source", "code": source }] },
                "dischargeDisposition": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/discharge-disposition", "code": disposition }] },
            });
        }
        self.out.push(e);
        id
    }

    pub(super) fn medication(&mut self, rxnorm: &str, display: &str, authored: DateTime<Utc>, encounter: Option<&str>) {
        let id = self.next_id("m");
        let mut m = json!({
            "resourceType": "MedicationRequest", "id": id, "status": "active", "intent": "order",
            "medicationCodeableConcept": { "coding": [{ "system": crate::map::RXNORM, "code": rxnorm, "display": display }], "text": display },
            "subject": self.subject(),
            "authoredOn": time(authored),
        });
        if let Some(e) = encounter {
            m["encounter"] = json!({ "reference": format!("Encounter/{e}") });
        }
        self.out.push(m);
    }

    pub(super) fn procedure(&mut self, code: &str, display: &str, t: DateTime<Utc>, encounter: &str) {
        let id = self.next_id("p");
        self.out.push(json!({
            "resourceType": "Procedure", "id": id, "status": "completed",
            "code": { "coding": [{ "system": crate::map::SNOMED, "code": code, "display": display }], "text": display },
            "subject": self.subject(),
            "encounter": { "reference": format!("Encounter/{encounter}") },
            "performedDateTime": time(t),
        }));
    }

    pub(super) fn has(&self, key: &str) -> bool {
        self.conditions.iter().any(|c| c.key == key)
    }
}
