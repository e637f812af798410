//! The codes the generator writes: chronic conditions in ICD-10-CM and SNOMED CT (the Charlson
//! categories of Quan et al. 2005 and hypertension), LOINC labs and vitals, RxNorm drugs, SNOMED
//! procedures, and the care units.

/// A chronic condition the hidden process knows: its codes, its effect on risk, its prevalence.
pub struct ChronicCondition {
    pub key: &'static str,
    pub icd10: &'static str,
    pub snomed: &'static str,
    pub display: &'static str,
    /// Charlson weight (0 for hypertension).
    pub weight: u32,
    /// Prevalence at age 60, as log-odds, and its change per decade of age.
    pub logit_at_60: f64,
    pub per_decade: f64,
}

pub const CONDITIONS: &[ChronicCondition] = &[
    ChronicCondition {
        key: "mi",
        icd10: "I21.9",
        snomed: "22298006",
        display: "Myocardial infarction",
        weight: 1,
        logit_at_60: -3.0,
        per_decade: 0.5,
    },
    ChronicCondition {
        key: "chf",
        icd10: "I50.9",
        snomed: "42343007",
        display: "Congestive heart failure",
        weight: 1,
        logit_at_60: -2.8,
        per_decade: 0.7,
    },
    ChronicCondition {
        key: "pvd",
        icd10: "I73.9",
        snomed: "400047006",
        display: "Peripheral vascular disease",
        weight: 1,
        logit_at_60: -3.2,
        per_decade: 0.5,
    },
    ChronicCondition {
        key: "cvd",
        icd10: "I63.9",
        snomed: "230690007",
        display: "Cerebrovascular accident",
        weight: 1,
        logit_at_60: -3.2,
        per_decade: 0.6,
    },
    ChronicCondition {
        key: "dementia",
        icd10: "F03.90",
        snomed: "52448006",
        display: "Dementia",
        weight: 1,
        logit_at_60: -4.5,
        per_decade: 1.1,
    },
    ChronicCondition {
        key: "copd",
        icd10: "J44.9",
        snomed: "13645005",
        display: "Chronic obstructive lung disease",
        weight: 1,
        logit_at_60: -2.4,
        per_decade: 0.4,
    },
    ChronicCondition {
        key: "rheumatic",
        icd10: "M06.9",
        snomed: "69896004",
        display: "Rheumatoid arthritis",
        weight: 1,
        logit_at_60: -3.8,
        per_decade: 0.2,
    },
    ChronicCondition {
        key: "ulcer",
        icd10: "K27.9",
        snomed: "13200003",
        display: "Peptic ulcer",
        weight: 1,
        logit_at_60: -3.8,
        per_decade: 0.2,
    },
    ChronicCondition {
        key: "liver_mild",
        icd10: "K74.60",
        snomed: "19943007",
        display: "Cirrhosis of liver",
        weight: 1,
        logit_at_60: -4.0,
        per_decade: 0.1,
    },
    ChronicCondition {
        key: "diabetes",
        icd10: "E11.9",
        snomed: "44054006",
        display: "Type 2 diabetes mellitus",
        weight: 1,
        logit_at_60: -1.6,
        per_decade: 0.3,
    },
    ChronicCondition {
        key: "diabetes_complicated",
        icd10: "E11.22",
        snomed: "127013003",
        display: "Diabetic renal disease",
        weight: 2,
        logit_at_60: -3.6,
        per_decade: 0.4,
    },
    ChronicCondition {
        key: "hemiplegia",
        icd10: "G81.90",
        snomed: "50582007",
        display: "Hemiplegia",
        weight: 2,
        logit_at_60: -5.0,
        per_decade: 0.3,
    },
    ChronicCondition {
        key: "renal",
        icd10: "N18.4",
        snomed: "431857002",
        display: "Chronic kidney disease stage 4",
        weight: 2,
        logit_at_60: -3.2,
        per_decade: 0.6,
    },
    ChronicCondition {
        key: "cancer",
        icd10: "C34.90",
        snomed: "363358000",
        display: "Malignant neoplasm of lung",
        weight: 2,
        logit_at_60: -3.4,
        per_decade: 0.5,
    },
    ChronicCondition {
        key: "liver_severe",
        icd10: "K76.6",
        snomed: "34742003",
        display: "Portal hypertension",
        weight: 3,
        logit_at_60: -5.5,
        per_decade: 0.1,
    },
    ChronicCondition {
        key: "metastatic",
        icd10: "C78.00",
        snomed: "94391008",
        display: "Secondary malignant neoplasm of lung",
        weight: 6,
        logit_at_60: -5.2,
        per_decade: 0.4,
    },
    ChronicCondition {
        key: "hiv",
        icd10: "B20",
        snomed: "86406008",
        display: "Human immunodeficiency virus infection",
        weight: 6,
        logit_at_60: -6.0,
        per_decade: -0.3,
    },
    ChronicCondition {
        key: "hypertension",
        icd10: "I10",
        snomed: "38341003",
        display: "Hypertensive disorder",
        weight: 0,
        logit_at_60: -0.2,
        per_decade: 0.5,
    },
];

pub struct Lab {
    pub loinc: &'static str,
    pub display: &'static str,
    pub unit: &'static str,
}

pub const HEMOGLOBIN: Lab = Lab { loinc: "718-7", display: "Hemoglobin [Mass/volume] in Blood", unit: "g/dL" };
pub const SODIUM: Lab = Lab { loinc: "2951-2", display: "Sodium [Moles/volume] in Serum or Plasma", unit: "mmol/L" };
pub const CREATININE: Lab =
    Lab { loinc: "2160-0", display: "Creatinine [Mass/volume] in Serum or Plasma", unit: "mg/dL" };
pub const HBA1C: Lab = Lab { loinc: "4548-4", display: "Hemoglobin A1c/Hemoglobin.total in Blood", unit: "%" };
pub const HEART_RATE: Lab = Lab { loinc: "8867-4", display: "Heart rate", unit: "/min" };
pub const BMI: Lab = Lab { loinc: "39156-5", display: "Body mass index (BMI) [Ratio]", unit: "kg/m2" };
/// What a site reporting in SI units sends instead.
pub const HEMOGLOBIN_SI: Lab = Lab { loinc: "718-7", display: "Hemoglobin [Mass/volume] in Blood", unit: "g/L" };
pub const CREATININE_SI: Lab =
    Lab { loinc: "14682-9", display: "Creatinine [Moles/volume] in Serum or Plasma", unit: "umol/L" };
pub const HBA1C_IFCC: Lab =
    Lab { loinc: "59261-8", display: "Hemoglobin A1c/Hemoglobin.total in Blood by IFCC protocol", unit: "mmol/mol" };

/// `value` of `lab` as a site reporting in SI units sends it.
pub fn in_si(lab: &Lab, value: f64) -> (&Lab, f64) {
    match lab.loinc {
        "718-7" => (&HEMOGLOBIN_SI, (value * 10.0).round()),
        "2160-0" => (&CREATININE_SI, (value * 88.42).round()),
        "4548-4" => (&HBA1C_IFCC, ((value - 2.152) / 0.09148).round()),
        _ => (lab, value),
    }
}

pub const BP_PANEL: &str = "85354-9";
pub const SYSTOLIC: &str = "8480-6";
pub const DIASTOLIC: &str = "8462-4";

/// (RxNorm code, display, the condition it treats).
pub const DRUGS: &[(&str, &str, &str)] = &[
    ("860975", "metformin 500 MG Oral Tablet", "diabetes"),
    ("847230", "insulin glargine 100 UNT/ML Injectable Solution", "diabetes_complicated"),
    ("310429", "furosemide 20 MG Oral Tablet", "chf"),
    ("314076", "lisinopril 10 MG Oral Tablet", "hypertension"),
    ("617312", "atorvastatin 20 MG Oral Tablet", "mi"),
    ("745679", "albuterol 0.09 MG/ACTUAT Metered Dose Inhaler", "copd"),
    ("197361", "amlodipine 5 MG Oral Tablet", "pvd"),
    ("310965", "ibuprofen 200 MG Oral Tablet", "rheumatic"),
];

/// (SNOMED code, display) of procedures during a stay.
pub const PROCEDURES: &[(&str, &str)] = &[
    ("116859006", "Transfusion of red blood cells"),
    ("40701008", "Echocardiography"),
    ("302497006", "Hemodialysis"),
    ("399208008", "Plain chest X-ray"),
    ("73761001", "Colonoscopy"),
];

/// Acute reasons for an unplanned stay: (ICD-10-CM, SNOMED, display).
pub const ACUTE: &[(&str, &str, &str)] = &[
    ("J18.9", "233604007", "Pneumonia"),
    ("A41.9", "91302008", "Sepsis"),
    ("I50.9", "42343007", "Congestive heart failure"),
    ("N17.9", "14669001", "Acute kidney failure"),
    ("J44.1", "195951007", "Acute exacerbation of chronic obstructive airways disease"),
    ("R55", "271594007", "Syncope"),
];

/// Care units: (Location id, name, service).
pub const UNITS: &[(&str, &str, &str)] = &[
    ("ward-4W", "Ward 4 West (Medicine)", "medicine"),
    ("ward-5E", "Ward 5 East (Cardiology)", "cardiology"),
    ("ward-6N", "Ward 6 North (Oncology)", "oncology"),
    ("ward-3S", "Ward 3 South (Surgery)", "surgery"),
    ("ward-2P", "Ward 2 Pulmonary", "pulmonology"),
];
