//! The labs and vital signs the features read: each one's LOINC code, unit, the value that
//! stands in when it was never measured, and the names of its three features (last value, change
//! since the value before, missing). [`crate::units`] maps other codes and units onto these.

/// A lab or vital sign.
#[derive(Debug)]
pub struct Lab {
    /// The feature holding the last value.
    pub key: &'static str,
    pub loinc: &'static str,
    /// Normal for an adult: the stand-in when missing, which the `missing` flag marks.
    pub typical: f64,
    pub unit: &'static str,
    pub label: &'static str,
    /// The feature holding the last value minus the one before.
    pub change: &'static str,
    /// The feature flagging that it was not measured in the lookback.
    pub missing: &'static str,
}

pub const HEMOGLOBIN: &str = "718-7";
pub const SODIUM: &str = "2951-2";
pub const CREATININE: &str = "2160-0";
pub const HBA1C: &str = "4548-4";
pub const SYSTOLIC: &str = "8480-6";
pub const HEART_RATE: &str = "8867-4";
pub const BMI: &str = "39156-5";
pub const POTASSIUM: &str = "2823-3";
pub const GLUCOSE: &str = "2345-7";
pub const LEUKOCYTES: &str = "6690-2";
pub const UREA_NITROGEN: &str = "3094-0";
pub const ALBUMIN: &str = "1751-7";
pub const RESPIRATORY_RATE: &str = "9279-1";
pub const OXYGEN_SATURATION: &str = "2708-6";
pub const TEMPERATURE: &str = "8310-5";

const fn lab(
    key: &'static str,
    loinc: &'static str,
    typical: f64,
    unit: &'static str,
    label: &'static str,
    (change, missing): (&'static str, &'static str),
) -> Lab {
    Lab { key, loinc, typical, unit, label, change, missing }
}

pub const LABS: [Lab; 15] = [
    lab("hemoglobin", HEMOGLOBIN, 13.5, "g/dL", "hemoglobin", ("hemoglobin_change", "hemoglobin_missing")),
    lab("sodium", SODIUM, 140.0, "mmol/L", "sodium", ("sodium_change", "sodium_missing")),
    lab("creatinine", CREATININE, 1.0, "mg/dL", "creatinine", ("creatinine_change", "creatinine_missing")),
    lab("hba1c", HBA1C, 5.6, "%", "HbA1c", ("hba1c_change", "hba1c_missing")),
    lab("systolic", SYSTOLIC, 125.0, "mmHg", "systolic pressure", ("systolic_change", "systolic_missing")),
    lab("heart_rate", HEART_RATE, 75.0, "/min", "heart rate", ("heart_rate_change", "heart_rate_missing")),
    lab("bmi", BMI, 27.0, "kg/m2", "BMI", ("bmi_change", "bmi_missing")),
    lab("potassium", POTASSIUM, 4.2, "mmol/L", "potassium", ("potassium_change", "potassium_missing")),
    lab("glucose", GLUCOSE, 100.0, "mg/dL", "glucose", ("glucose_change", "glucose_missing")),
    lab("leukocytes", LEUKOCYTES, 7.5, "×10³/µL", "white cell count", ("leukocytes_change", "leukocytes_missing")),
    lab(
        "urea_nitrogen",
        UREA_NITROGEN,
        15.0,
        "mg/dL",
        "urea nitrogen",
        ("urea_nitrogen_change", "urea_nitrogen_missing"),
    ),
    lab("albumin", ALBUMIN, 4.0, "g/dL", "albumin", ("albumin_change", "albumin_missing")),
    lab(
        "respiratory_rate",
        RESPIRATORY_RATE,
        16.0,
        "/min",
        "respiratory rate",
        ("respiratory_rate_change", "respiratory_rate_missing"),
    ),
    lab(
        "oxygen_saturation",
        OXYGEN_SATURATION,
        97.0,
        "%",
        "oxygen saturation",
        ("oxygen_saturation_change", "oxygen_saturation_missing"),
    ),
    lab("temperature", TEMPERATURE, 37.0, "°C", "temperature", ("temperature_change", "temperature_missing")),
];

/// The lab of a feature code.
pub fn of(loinc: &str) -> Option<&'static Lab> {
    LABS.iter().find(|lab| lab.loinc == loinc)
}
