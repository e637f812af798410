//! One synthetic patient's history, from the hidden process described in the parent module.

use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde_json::{Value, json};

use super::Options;
use super::codes::{self, ChronicCondition, Lab};

mod demographics;
mod writers;

use demographics::Demographics;

#[derive(Clone)]
struct Labs {
    hb: f64,
    na: f64,
    cr: f64,
    a1c: f64,
    sbp: f64,
    hr: f64,
    bmi: f64,
}

struct Discharge {
    day: f64,
    los: f64,
    to_facility: bool,
    hb: f64,
    na: f64,
}

struct Sim<'a> {
    rng: ChaCha8Rng,
    id: String,
    out: Vec<Value>,
    counter: u32,
    icd_first: bool,
    both_codes: bool,
    /// Labs in SI units (hemoglobin g/L, creatinine µmol/L, HbA1c mmol/mol), as a second site sends.
    si_units: bool,
    conditions: Vec<&'a ChronicCondition>,
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    rng.sample(StandardNormal)
}

fn at(start: DateTime<Utc>, day: f64) -> DateTime<Utc> {
    start + Duration::seconds((day * 86_400.0) as i64)
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// After `--drift-from`: how much diabetics' HbA1c rises, what an HbA1c above 8 % adds to the
/// log-hazard of an unplanned admission under 65 (a quarter of it from 65 on: young, poorly
/// controlled diabetics, whom a model trained before ranks low), and what is left of the risk
/// prior use of care carries.
pub const DRIFT_HBA1C_RISE: f64 = 2.0;
pub const DRIFT_HBA1C_RISK: f64 = 2.5;
pub const DRIFT_PRIOR_USE: f64 = 0.0;

/// The share of a patient's chronic conditions never put on the problem list (they still drive
/// risk), and the chance a patient has a condition coded they do not have.
const UNCODED: f64 = 0.2;
const SPURIOUS: f64 = 0.04;
/// The chance the labs at admission were sent, and each lab at discharge.
const ADMISSION_LABS: f64 = 0.85;
const DISCHARGE_LAB: f64 = 0.75;

/// How much an abnormal lab adds to risk at `age`: the most in the young, little in the oldest,
/// whose risk other things drive.
fn lab_weight(age: f64) -> f64 {
    if age < 65.0 {
        1.0
    } else if age < 80.0 {
        0.55
    } else {
        0.2
    }
}

/// One patient's resources: the Patient first, then everything else in time order of creation.
pub fn simulate(options: &Options, index: u64) -> Vec<Value> {
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    rng.set_stream(index);
    let end = options.end.and_time(chrono::NaiveTime::MIN).and_utc();
    let days = f64::from(options.years) * 365.0;
    let start = end - Duration::days(days as i64);
    let age0: f64 = if rng.random_bool(0.7) { rng.random_range(45.0..92.0) } else { rng.random_range(18.0..45.0) };
    let birth = (start - Duration::days((age0 * 365.25) as i64)).date_naive();
    let female = rng.random_bool(0.52);
    let z = normal(&mut rng);
    let conditions: Vec<&ChronicCondition> = codes::CONDITIONS
        .iter()
        .filter(|c| {
            let logit = c.logit_at_60 + c.per_decade * (age0 - 60.0) / 10.0 + 0.5 * z;
            rng.random_bool(1.0 / (1.0 + (-logit).exp()))
        })
        .collect();
    let charlson: u32 = {
        let mut w: u32 = conditions.iter().map(|c| c.weight).sum();
        // Only the severe form counts when both are present.
        for (mild, severe) in
            [("diabetes", "diabetes_complicated"), ("liver_mild", "liver_severe"), ("cancer", "metastatic")]
        {
            let has = |k: &str| conditions.iter().any(|c| c.key == k);
            if has(mild) && has(severe) {
                w -= conditions.iter().find(|c| c.key == mild).map_or(0, |c| c.weight);
            }
        }
        w
    };
    let c = f64::from(charlson);
    let has = |k: &str| if conditions.iter().any(|c| c.key == k) { 1.0 } else { 0.0 };
    let labs = Labs {
        hb: if female { 13.4 } else { 14.6 }
            - 1.6 * has("renal")
            - 1.3 * has("cancer")
            - 1.0 * has("metastatic")
            - 0.35 * z
            + 0.7 * normal(&mut rng),
        na: 140.0 - 3.0 * has("chf") - 4.0 * has("liver_mild").max(has("liver_severe")) - 0.5 * z
            + 1.8 * normal(&mut rng),
        cr: (0.9 + 1.6 * has("renal") + 0.6 * has("diabetes_complicated") + 0.15 * normal(&mut rng)).max(0.4),
        a1c: 5.4 + 2.0 * has("diabetes").max(has("diabetes_complicated")) + 0.5 * normal(&mut rng),
        sbp: 122.0 + 12.0 * has("hypertension") + 0.3 * (age0 - 50.0).max(0.0) + 8.0 * normal(&mut rng),
        hr: 74.0 + 6.0 * has("chf") + 5.0 * has("copd") + 6.0 * normal(&mut rng),
        bmi: 27.5 + 3.0 * has("diabetes") + 4.5 * normal(&mut rng),
    };
    // The drift `--drift-from` sets: diabetics' HbA1c runs higher from then on, and a high HbA1c
    // becomes a risk it was not before.
    let diabetic = has("diabetes").max(has("diabetes_complicated"));
    let drifted_labs = Labs { a1c: labs.a1c + DRIFT_HBA1C_RISE * diabetic, ..labs.clone() };
    let drift_day =
        options.drift_from.map(|d| (d.and_time(chrono::NaiveTime::MIN).and_utc() - start).num_days() as f64);
    let id = format!("s{}p{index}", options.seed);
    let mut sim = Sim {
        icd_first: rng.random_bool(0.6),
        both_codes: rng.random_bool(0.2),
        si_units: index % 4 == 3,
        rng,
        id: id.clone(),
        out: Vec::new(),
        counter: 0,
        conditions: conditions.clone(),
    };

    // Chronic conditions began before the simulated period, with their treatment.
    // Some are never coded; a few patients have one coded that they do not have.
    let spurious = sim.rng.random_bool(SPURIOUS).then(|| pick(&mut sim.rng, codes::CONDITIONS));
    if let Some(cond) = spurious.filter(|s| !conditions.iter().any(|c| c.key == s.key)) {
        let onset = start - Duration::days(sim.rng.random_range(30..2000));
        sim.condition(cond.icd10, cond.snomed, cond.display, onset, "problem-list-item", None);
    }
    for cond in &conditions {
        let years_before: f64 = sim.rng.random_range(0.2..10.0_f64.min((age0 - 18.0).max(0.5)));
        let onset = start - Duration::days((years_before * 365.0) as i64);
        if !sim.rng.random_bool(UNCODED) {
            sim.condition(cond.icd10, cond.snomed, cond.display, onset, "problem-list-item", None);
        }
        if let Some((rx, display, _)) = codes::DRUGS.iter().find(|(_, _, k)| *k == cond.key) {
            let authored = onset + Duration::days(sim.rng.random_range(0..60));
            sim.medication(rx, display, authored, None);
        }
    }

    let mut ed_days: Vec<f64> = Vec::new();
    let mut admit_days: Vec<f64> = Vec::new();
    let mut last: Option<Discharge> = None;
    let mut busy_until = 0.0_f64;
    let mut died: Option<DateTime<Utc>> = None;
    let mut week = 0.0;
    while week < days && died.is_none() {
        let day = week + sim.rng.random_range(0.0..7.0);
        week += 7.0;
        if day < busy_until || day >= days {
            continue;
        }
        let age = age0 + day / 365.25;
        let drifted = drift_day.is_some_and(|d| day >= d);
        let labs = if drifted { &drifted_labs } else { &labs };
        let ed_6m = ed_days.iter().filter(|d| **d > day - 182.0).count().min(4) as f64;
        let adm_12m = admit_days.iter().filter(|d| **d > day - 365.0).count().min(3) as f64;
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        let prior_use = if drifted { DRIFT_PRIOR_USE } else { 1.0 };
        let labs_count = lab_weight(age);
        let mut lp = -9.45
            + 0.03 * (age - 60.0)
            + 0.25 * c
            + prior_use * (0.2 * ed_6m + 0.15 * adm_12m)
            + labs_count * (0.9 * flag(labs.hb < 10.0) + 0.8 * flag(labs.na < 133.0) + 0.6 * flag(labs.cr > 2.0))
            + DRIFT_HBA1C_RISK * flag(drifted && labs.a1c > 8.0) * if age < 65.0 { 1.0 } else { 0.25 }
            + 0.7 * z;
        if let Some(d) = &last
            && day - d.day <= 30.0
        {
            lp += 1.5
                + 0.02 * d.los.min(14.0)
                + 0.5 * flag(d.to_facility)
                + labs_count * (0.8 * flag(d.hb < 10.0) + 0.6 * flag(d.na < 135.0));
        }
        let weekly = |h: f64| 1.0 - (-7.0 * h).exp();
        let t = at(start, day);
        if sim.rng.random_bool(weekly((-11.8 + 0.08 * (age - 60.0) + 0.3 * c + 0.5 * z).exp()).min(1.0)) {
            died = Some(t);
        } else if sim.rng.random_bool(weekly(lp.exp()).min(1.0)) {
            let (discharge, dead) = admission(&mut sim, labs, t, z, c, age, false);
            admit_days.push(day);
            busy_until = day + discharge.los + 0.2;
            if dead {
                died = Some(at(start, busy_until));
            }
            last = Some(Discharge { day: busy_until, ..discharge });
        } else if sim.rng.random_bool(weekly((-7.7 + 0.25 * c + 0.35 * z + 0.25 * ed_6m).exp()).min(1.0)) {
            ed_days.push(day);
            let hours = sim.rng.random_range(2.0..7.0);
            let e = sim.encounter(
                "EMER",
                t,
                t + Duration::minutes((hours * 60.0) as i64),
                "EM",
                "ed",
                "emergency",
                None,
                None,
            );
            sim.vitals(labs, t, &e, 0.5);
            if sim.rng.random_bool(0.7) {
                sim.labs(labs, t, &e, 0.3, false);
            }
        } else if sim.rng.random_bool(weekly((1.5 + 0.6 * conditions.len() as f64) / 365.0 * (0.2 * z).exp()).min(1.0))
        {
            let minutes = sim.rng.random_range(15..45);
            let e = sim.encounter("AMB", t, t + Duration::minutes(minutes), "R", "clinic", "primary-care", None, None);
            sim.vitals(labs, t, &e, 0.0);
            if sim.rng.random_bool(0.35) {
                // After the drift HbA1c is screened for everyone, not only diabetics.
                let a1c = drifted || sim.has("diabetes") || sim.has("diabetes_complicated");
                sim.labs(labs, t, &e, 0.0, a1c);
            }
        } else if sim.rng.random_bool(weekly((0.03 + 0.1 * has("cancer")) / 365.0)) {
            let (discharge, _) = admission(&mut sim, labs, t, z, c, age, true);
            busy_until = day + discharge.los + 0.2;
        }
    }

    let Demographics { race: (race, race_display), ethnicity: (ethnicity, ethnicity_display), given, family } =
        Demographics::draw(&mut sim.rng, female);
    let mut patient = json!({
        "resourceType": "Patient", "id": id,
        "identifier": [{
            "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR" }], "text": "MRN" },
            "system": "urn:vigil:synth:mrn", "value": format!("SYN{:02}{index:08}", options.seed % 100),
        }],
        "name": [{ "use": "official", "family": family, "given": [given] }],
        "gender": if female { "female" } else { "male" },
        "birthDate": birth.to_string(),
        "address": [{ "postalCode": format!("{:05}", 10_000 + (index * 7919) % 89_999) }],
        "extension": [
            { "url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race", "extension": [
                { "url": "ombCategory", "valueCoding": { "system": "urn:oid:2.16.840.1.113883.6.238", "code": race, "display": race_display } },
                { "url": "text", "valueString": race_display } ] },
            { "url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity", "extension": [
                { "url": "ombCategory", "valueCoding": { "system": "urn:oid:2.16.840.1.113883.6.238", "code": ethnicity, "display": ethnicity_display } },
                { "url": "text", "valueString": ethnicity_display } ] },
        ],
    });
    match died {
        Some(t) => patient["deceasedDateTime"] = json!(time(t)),
        None => patient["deceasedBoolean"] = json!(false),
    }
    let mut out = vec![patient];
    out.append(&mut sim.out);
    out
}

/// An inpatient stay starting at `t` (through the ED unless elective). Returns the discharge facts
/// (with `day` relative to the stay's start) and whether the patient died in hospital.
fn admission(
    sim: &mut Sim<'_>,
    labs: &Labs,
    t: DateTime<Utc>,
    z: f64,
    c: f64,
    age: f64,
    elective: bool,
) -> (Discharge, bool) {
    let mut start = t;
    let mut parent = None;
    if !elective && sim.rng.random_bool(0.7) {
        let hours = sim.rng.random_range(2.0..8.0);
        let ed_end = t + Duration::minutes((hours * 60.0) as i64);
        let e = sim.encounter("EMER", t, ed_end, "EM", "ed", "emergency", None, None);
        sim.vitals(labs, t, &e, 1.0);
        parent = Some(e);
        start = ed_end;
    }
    let los = if elective {
        f64::from(sim.rng.random_range(0_u8..4))
    } else {
        (1.0 + 0.08 * c + 0.15 * z + 0.45 * normal(&mut sim.rng)).exp().round().clamp(0.0, 40.0)
    };
    let end = start + Duration::hours((los * 24.0) as i64 + sim.rng.random_range(2..10));
    let (unit, _, service) = if elective {
        codes::UNITS[3]
    } else if sim.has("cancer") && sim.rng.random_bool(0.5) {
        codes::UNITS[2]
    } else if (sim.has("chf") || sim.has("mi")) && sim.rng.random_bool(0.5) {
        codes::UNITS[1]
    } else if sim.has("copd") && sim.rng.random_bool(0.4) {
        codes::UNITS[4]
    } else {
        codes::UNITS[0]
    };
    let p_death = (0.012 * (0.25 * c + 0.3 * z + 0.03 * (age - 60.0)).exp()).min(0.3);
    let dead = !elective && sim.rng.random_bool(p_death);
    let roll: f64 = sim.rng.random();
    let disposition = if dead {
        "exp"
    } else if roll < 0.05 + if age > 80.0 { 0.15 } else { 0.0 } {
        "snf"
    } else if roll < 0.25 {
        "rehab"
    } else if roll < 0.28 {
        "other-hcf"
    } else {
        "home"
    };
    let (priority, source) = if elective {
        ("EL", "gp")
    } else if parent.is_some() {
        ("EM", "emd")
    } else {
        ("UR", "gp")
    };
    let e = sim.encounter("IMP", start, end, priority, unit, service, parent.as_deref(), Some((source, disposition)));
    if !elective {
        let (icd, sct, display) = if sim.has("chf") && sim.rng.random_bool(0.4) {
            codes::ACUTE[2]
        } else if sim.has("copd") && sim.rng.random_bool(0.4) {
            codes::ACUTE[4]
        } else {
            *pick(&mut sim.rng, codes::ACUTE)
        };
        sim.condition(icd, sct, display, start, "encounter-diagnosis", Some(&e));
    }
    let acute = if elective { 0.2 } else { 1.0 };
    sim.vitals(labs, start, &e, acute);
    if sim.rng.random_bool(ADMISSION_LABS) {
        sim.labs(labs, start, &e, acute, false);
    }
    let hb_discharge = labs.hb - 0.6 * acute + 0.5 * normal(&mut sim.rng);
    let na_discharge = labs.na - 1.5 * acute + 1.5 * normal(&mut sim.rng);
    let discharge_time = end - Duration::hours(3);
    // Measured whether or not the result reached the export.
    if sim.rng.random_bool(DISCHARGE_LAB) {
        sim.observation(&codes::HEMOGLOBIN, hb_discharge, discharge_time, &e, "laboratory");
    }
    if sim.rng.random_bool(DISCHARGE_LAB) {
        sim.observation(&codes::SODIUM, na_discharge.round(), discharge_time, &e, "laboratory");
    }
    if elective || sim.rng.random_bool(0.45) {
        let (code, display) =
            if hb_discharge < 9.0 { codes::PROCEDURES[0] } else { *pick(&mut sim.rng, codes::PROCEDURES) };
        let when = start + Duration::hours(sim.rng.random_range(4..24));
        sim.procedure(code, display, when, &e);
    }
    if !dead && sim.rng.random_bool(0.4) {
        let (rx, display, _) = *pick(&mut sim.rng, codes::DRUGS);
        sim.medication(rx, display, discharge_time, Some(&e));
    }
    (
        Discharge {
            day: 0.0,
            los,
            to_facility: matches!(disposition, "snf" | "rehab"),
            hb: hb_discharge,
            na: na_discharge,
        },
        dead,
    )
}
