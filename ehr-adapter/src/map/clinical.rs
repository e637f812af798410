//! The clinical types' mappings to the store's rows: Patient, Encounter, Condition, Observation,
//! MedicationRequest and Procedure, each reporting its problems through the [`Reader`].

use serde_json::{Value, json};
use vigil_store::models::{NewCondition, NewEncounter, NewMedicationRequest, NewObservation, NewPatient, NewProcedure};

use super::*;

pub(super) fn patient(r: &mut Reader<'_>, p: &Value) -> Option<NewPatient> {
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

pub(super) fn encounter(r: &mut Reader<'_>, e: &Value) -> Option<Mapped> {
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

pub(super) fn condition(r: &mut Reader<'_>, c: &Value) -> Option<Mapped> {
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

pub(super) fn observation(r: &mut Reader<'_>, o: &Value) -> Option<Mapped> {
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

pub(super) fn medication_request(r: &mut Reader<'_>, m: &Value) -> Option<Mapped> {
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

pub(super) fn procedure(r: &mut Reader<'_>, p: &Value) -> Option<Mapped> {
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
