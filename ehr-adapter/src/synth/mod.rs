//! `vigil synth`: a synthetic population in the formats hospitals send (Bulk NDJSON, one file per
//! type, or one transaction Bundle per patient with `urn:uuid:` references), of any size, the same
//! for the same seed, written as it is generated (memory does not grow with the population).
//!
//! # The hidden risk process
//!
//! Each patient has an age, a sex, chronic conditions (more likely with age; coded in ICD-10-CM or
//! SNOMED CT, sometimes both), a latent frailty `z ~ N(0, 1)`, and baseline labs that follow the
//! conditions (lower hemoglobin with kidney disease and cancer, lower sodium with heart failure and
//! liver disease, higher creatinine with kidney disease, higher HbA1c with diabetes).
//! Time advances in weeks. Each week, per day, with `w(age)` the weight of abnormal labs (1 under
//! 65, 0.55 to 80, 0.2 over: the oldest patients' risk is driven by other things):
//!
//! ```text
//! unplanned admission  h = exp(-9.45 + 0.03 (age - 60) + 0.25 C + 0.2 min(ED visits in 6 months, 4)
//!                             + 0.15 min(admissions in 12 months, 3)
//!                             + w(age) (0.9 [Hb < 10] + 0.8 [Na < 133] + 0.6 [creatinine > 2])
//!                             + 0.7 z
//!                             + within 30 days of a discharge: 1.5 + 0.02 min(LOS, 14) + 0.5 [to a
//!                               nursing facility] + w(age) (0.8 [Hb at discharge < 10]
//!                               + 0.6 [Na at discharge < 135]))
//! ED visit, not admitted h = exp(-7.7 + 0.25 C + 0.35 z + 0.25 min(ED visits in 6 months, 4))
//! outpatient visit       h = (1.5 + 0.6 chronic conditions) / 365 × exp(0.2 z)
//! elective admission     h = (0.03 + 0.1 [cancer]) / 365
//! death at home          h = exp(-11.8 + 0.08 (age - 60) + 0.3 C + 0.5 z)
//! ```
//!
//! where C is the Charlson weight of the conditions. So what a model can see (age, comorbidity,
//! prior use of care, labs, length of stay, disposition) carries real signal, and `z` is what it
//! cannot see. 70 % of unplanned admissions come through the emergency department (an EMER
//! encounter the stay is `partOf`); a stay's length, service, unit, procedures, labs at admission
//! and discharge, and disposition (home, nursing facility, rehabilitation, transfer, death) are
//! drawn from the patient's state.
//!
//! # Difficulty
//!
//! Real records are harder than the process above, and a model that only meets clean data learns
//! to lean on what LACE already counts. So the records are made as hospitals' are: prior use of
//! care carries little of the risk (the hidden frailty carries more); the labs' effect depends on
//! age; 20 % of chronic conditions never reach the problem list (they still drive risk) and 4 % of
//! patients have one coded that they do not have; the labs at admission are missing from 15 % of
//! stays and each lab at discharge from 25 %; and every fourth patient comes from a site that
//! reports in SI units (hemoglobin in g/L, creatinine in µmol/L under LOINC 14682-9, HbA1c in
//! mmol/mol under 59261-8), which Vigil's features must convert (`vigil_scoring::units`).
//!
//! # Drift
//!
//! With `--drift-from DATE` the process changes on that day, as a hospital's does when its case mix
//! and practice move: a transitions-of-care programme takes away the risk that prior use of care
//! carried (the ED-visit and admission terms of the hazard drop out), and a population of poorly
//! controlled diabetics arrives (diabetics' HbA1c runs 2 points higher, HbA1c is screened for
//! everyone at clinic visits, and an HbA1c above 8 % adds 2.5 to the log-hazard of an unplanned
//! admission under 65, and a quarter of that from 65 on, where before it added nothing: young
//! diabetics, whom a model trained before ranks low, are admitted). A model trained before the
//! change leans on the wrong signs, sees the HbA1c features drift and loses discrimination; one
//! trained after it learns the new risk. Monitoring and the
//! promotion guard are tested on it.

mod codes;
mod person;

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub use person::simulate;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ndjson,
    Bundle,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub patients: u64,
    pub seed: u64,
    pub years: u32,
    /// The last day of the simulated history.
    pub end: NaiveDate,
    pub format: Format,
    /// From this day on the hidden process changes (see "Drift" above); None: it never does.
    pub drift_from: Option<NaiveDate>,
}

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// Resources written, per type.
pub type Written = std::collections::BTreeMap<String, u64>;

/// Writes the population into `out` (created if needed); `progress` hears the patients done.
pub fn generate(options: &Options, out: &Path, mut progress: impl FnMut(u64)) -> Result<Written, SynthError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| SynthError::Write { path, source }
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    let mut written = Written::new();
    let locations = codes::UNITS
        .iter()
        .map(|(id, name, _)| location(id, name, "wa"))
        .chain([location("ed", "Emergency Department", "area"), location("clinic", "Outpatient Clinic", "area")])
        .collect::<Vec<_>>();
    let mut ndjson: HashMap<String, BufWriter<File>> = HashMap::new();
    let emit = |resource: &Value,
                written: &mut Written,
                ndjson: &mut HashMap<String, BufWriter<File>>|
     -> Result<(), SynthError> {
        let ty = resource["resourceType"].as_str().unwrap_or("Resource").to_owned();
        let path = out.join(format!("{ty}.ndjson"));
        let writer = match ndjson.get_mut(&ty) {
            Some(w) => w,
            None => {
                let file = File::create(&path).map_err(io(&path))?;
                ndjson.entry(ty.clone()).or_insert(BufWriter::with_capacity(1 << 20, file))
            }
        };
        serde_json::to_writer(&mut *writer, resource)
            .map_err(|e| SynthError::Write { path: path.clone(), source: e.into() })?;
        writer.write_all(b"\n").map_err(io(&path))?;
        *written.entry(ty).or_default() += 1;
        Ok(())
    };
    match options.format {
        Format::Ndjson => {
            for l in &locations {
                emit(l, &mut written, &mut ndjson)?;
            }
        }
        Format::Bundle => {
            let path = out.join("locations.json");
            let bundle = json!({ "resourceType": "Bundle", "type": "collection",
                "entry": locations.iter().map(|l| json!({ "fullUrl": format!("Location/{}", l["id"].as_str().unwrap_or("")), "resource": l })).collect::<Vec<_>>() });
            std::fs::write(&path, bundle.to_string()).map_err(io(&path))?;
            *written.entry("Location".into()).or_default() += locations.len() as u64;
        }
    }
    for index in 0..options.patients {
        let resources = simulate(options, index);
        match options.format {
            Format::Ndjson => {
                for r in &resources {
                    emit(r, &mut written, &mut ndjson)?;
                }
            }
            Format::Bundle => {
                for r in &resources {
                    *written.entry(r["resourceType"].as_str().unwrap_or("Resource").to_owned()).or_default() += 1;
                }
                let path = out.join(format!("patient-{index:07}.json"));
                let file = File::create(&path).map_err(io(&path))?;
                let mut writer = BufWriter::new(file);
                serde_json::to_writer(&mut writer, &transaction(&resources))
                    .map_err(|e| SynthError::Write { path: path.clone(), source: e.into() })?;
                writer.flush().map_err(io(&path))?;
            }
        }
        if index % 1000 == 999 {
            progress(index + 1);
        }
    }
    for (ty, mut writer) in ndjson {
        writer.flush().map_err(io(&out.join(format!("{ty}.ndjson"))))?;
    }
    progress(options.patients);
    Ok(written)
}

fn location(id: &str, name: &str, physical_type: &str) -> Value {
    json!({
        "resourceType": "Location", "id": id, "status": "active", "name": name, "mode": "instance",
        "physicalType": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/location-physical-type", "code": physical_type }] },
    })
}

/// A stable UUID-shaped name for a resource, for Bundle full URLs.
fn uuid_for(resource_type: &str, id: &str) -> String {
    let h = Sha256::new().chain_update(resource_type).chain_update("/").chain_update(id).finalize();
    let hex: String = h[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// One patient's resources as a transaction Bundle, references between them as `urn:uuid:`.
fn transaction(resources: &[Value]) -> Value {
    let full_urls: HashMap<String, String> = resources
        .iter()
        .map(|r| {
            let (ty, id) = (r["resourceType"].as_str().unwrap_or(""), r["id"].as_str().unwrap_or(""));
            (format!("{ty}/{id}"), format!("urn:uuid:{}", uuid_for(ty, id)))
        })
        .collect();
    let entries: Vec<Value> = resources
        .iter()
        .map(|r| {
            let mut resource = r.clone();
            rewrite(&mut resource, &full_urls);
            let ty = r["resourceType"].as_str().unwrap_or("");
            let key = format!("{ty}/{}", r["id"].as_str().unwrap_or(""));
            json!({ "fullUrl": full_urls.get(&key), "resource": resource, "request": { "method": "PUT", "url": key } })
        })
        .collect();
    json!({ "resourceType": "Bundle", "type": "transaction", "entry": entries })
}

fn rewrite(value: &mut Value, full_urls: &HashMap<String, String>) {
    match value {
        Value::Object(obj) => {
            if let Some(Value::String(reference)) = obj.get_mut("reference")
                && let Some(url) = full_urls.get(reference.as_str())
            {
                *reference = url.clone();
            }
            obj.values_mut().for_each(|v| rewrite(v, full_urls));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite(v, full_urls)),
        _ => {}
    }
}
