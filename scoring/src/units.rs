//! Labs and vital signs in the code and unit the features read, whatever the source sent, pure.
//!
//! Hospitals code one analyte under several LOINC codes (hemoglobin in blood, arterial blood, or
//! calculated; creatinine by mass or by moles) and report it in their own units (hemoglobin in
//! g/dL in the US, g/L or mmol/L in Europe; creatinine in mg/dL or µmol/L; HbA1c in % or IFCC
//! mmol/mol). A model trained on one hospital's units would read another's 140 g/L as a
//! hemoglobin of 140 g/dL. So every value is mapped to the code in [`crate::labs::LABS`] and
//! converted to its unit; a unit it cannot convert, or a value no patient could have, is left out
//! (the feature then counts it as missing, which is information too) rather than guessed at.

use crate::labs::{
    ALBUMIN, BMI, CREATININE, GLUCOSE, HBA1C, HEART_RATE, HEMOGLOBIN, LABS, LEUKOCYTES, OXYGEN_SATURATION, POTASSIUM,
    RESPIRATORY_RATE, SODIUM, SYSTOLIC, TEMPERATURE, UREA_NITROGEN,
};

/// Other LOINC codes of the same quantity, with the feature's code.
const EQUIVALENT: [(&str, &str); 28] = [
    ("20509-6", HEMOGLOBIN),        // hemoglobin, calculated
    ("30313-1", HEMOGLOBIN),        // in arterial blood
    ("30350-3", HEMOGLOBIN),        // in venous blood
    ("59260-0", HEMOGLOBIN),        // moles per volume
    ("2947-0", SODIUM),             // in blood
    ("32717-1", SODIUM),            // in arterial blood
    ("38483-4", CREATININE),        // in blood
    ("14682-9", CREATININE),        // moles per volume, serum or plasma
    ("77140-2", CREATININE),        // moles per volume, serum, plasma or blood
    ("17856-6", HBA1C),             // by HPLC
    ("59261-8", HBA1C),             // IFCC, mmol/mol
    ("8459-0", SYSTOLIC),           // sitting
    ("8889-8", HEART_RATE),         // by pulse oximetry
    ("6298-4", POTASSIUM),          // in blood
    ("32713-0", POTASSIUM),         // in arterial blood
    ("2339-0", GLUCOSE),            // in blood
    ("41653-7", GLUCOSE),           // in capillary blood, by glucometer
    ("14749-6", GLUCOSE),           // moles per volume, serum or plasma
    ("26464-8", LEUKOCYTES),        // in blood
    ("6299-2", UREA_NITROGEN),      // in blood
    ("22664-7", UREA_NITROGEN),     // urea, moles per volume
    ("61151-7", ALBUMIN),           // by bromocresol green
    ("2862-1", ALBUMIN),            // by electrophoresis
    ("59408-5", OXYGEN_SATURATION), // by pulse oximetry
    ("2710-2", OXYGEN_SATURATION),  // in capillary blood, by oximetry
    ("8331-1", TEMPERATURE),        // oral
    ("8332-9", TEMPERATURE),        // rectal
    ("8328-7", TEMPERATURE),        // axillary
];

/// The code the features read for `loinc`, if they read that quantity.
pub fn feature_code(loinc: &str) -> Option<&'static str> {
    LABS.iter()
        .map(|l| l.loinc)
        .find(|code| *code == loinc)
        .or_else(|| EQUIVALENT.iter().find(|(other, _)| *other == loinc).map(|(_, code)| *code))
}

/// Every LOINC code whose values [`feature_code`] maps, for the query that reads them.
pub fn codes_read() -> Vec<&'static str> {
    let mut codes: Vec<&'static str> = LABS.iter().map(|l| l.loinc).collect();
    codes.extend(EQUIVALENT.iter().map(|(other, _)| *other));
    codes.sort_unstable();
    codes.dedup();
    codes
}

/// UCUM and the spellings seen in exports, compared without case or spaces.
fn spelled(unit: &str) -> String {
    unit.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_lowercase().replace(['µ', 'μ'], "u")
}

/// `value` in `unit` as the feature's unit for `code` (a feature code), or None when the unit is
/// unknown or the result is not a value a living patient has.
pub fn normalise(code: &str, value: f64, unit: Option<&str>) -> Option<f64> {
    let unit = unit.map(spelled).unwrap_or_default();
    let converted = match (code, unit.as_str()) {
        // Without a unit, the value is taken in the feature's unit if it is plausible in it.
        (_, "") => value,
        (HEMOGLOBIN, "g/dl") => value,
        (HEMOGLOBIN, "g/l") => value / 10.0,
        (HEMOGLOBIN, "mmol/l") => value * 1.611,
        (SODIUM, "mmol/l" | "meq/l") => value,
        (CREATININE, "mg/dl") => value,
        (CREATININE, "umol/l") => value / 88.42,
        (CREATININE, "mmol/l") => value * 1000.0 / 88.42,
        (HBA1C, "%" | "%{hba1c}" | "%{hemoglobin}" | "%{totalhemoglobin}") => value,
        // The IFCC–NGSP master equation.
        (HBA1C, "mmol/mol") => 0.09148 * value + 2.152,
        (SYSTOLIC, "mm[hg]" | "mmhg") => value,
        (SYSTOLIC, "kpa") => value * 7.500_62,
        (HEART_RATE, "/min" | "{beats}/min" | "beats/min" | "bpm" | "/min{beats}") => value,
        (BMI, "kg/m2" | "kg/m^2" | "kg/(m2)") => value,
        (POTASSIUM, "mmol/l" | "meq/l") => value,
        (GLUCOSE, "mg/dl") => value,
        (GLUCOSE, "mmol/l") => value * 18.016,
        (LEUKOCYTES, "10*3/ul" | "10^3/ul" | "k/ul" | "10*9/l" | "10^9/l" | "thou/ul") => value,
        (LEUKOCYTES, "/ul" | "/mm3" | "{cells}/ul") => value / 1000.0,
        (UREA_NITROGEN, "mg/dl") => value,
        // Urea in mmol/L carries the same nitrogen as urea nitrogen in mmol/L (28.01 mg/mmol).
        (UREA_NITROGEN, "mmol/l") => value * 2.801,
        (ALBUMIN, "g/dl") => value,
        (ALBUMIN, "g/l") => value / 10.0,
        (RESPIRATORY_RATE, "/min" | "{breaths}/min" | "breaths/min") => value,
        (OXYGEN_SATURATION, "%" | "%{oxygen}") => value,
        (TEMPERATURE, "cel" | "degc" | "°c" | "c") => value,
        (TEMPERATURE, "[degf]" | "degf" | "°f" | "f") => (value - 32.0) / 1.8,
        _ => return None,
    };
    plausible(code, converted).then_some(converted)
}

/// The range a living patient's value can fall in, in the feature's unit.
fn plausible(code: &str, value: f64) -> bool {
    let (low, high) = match code {
        HEMOGLOBIN => (2.0, 25.0),
        SODIUM => (90.0, 200.0),
        CREATININE => (0.1, 30.0),
        HBA1C => (3.0, 20.0),
        SYSTOLIC => (40.0, 300.0),
        HEART_RATE => (15.0, 300.0),
        BMI => (8.0, 100.0),
        POTASSIUM => (1.0, 10.0),
        GLUCOSE => (10.0, 2000.0),
        LEUKOCYTES => (0.05, 500.0),
        UREA_NITROGEN => (1.0, 300.0),
        ALBUMIN => (0.5, 7.0),
        RESPIRATORY_RATE => (2.0, 80.0),
        OXYGEN_SATURATION => (30.0, 100.0),
        TEMPERATURE => (25.0, 45.0),
        _ => return false,
    };
    value.is_finite() && (low..=high).contains(&value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_codes_and_units_read_as_the_features_do() {
        let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 0.05);
        assert_eq!(feature_code("30313-1"), Some(HEMOGLOBIN));
        assert_eq!(feature_code("14682-9"), Some(CREATININE));
        assert_eq!(feature_code("718-7"), Some(HEMOGLOBIN));
        assert_eq!(feature_code("1234-5"), None);
        assert!(close(normalise(HEMOGLOBIN, 140.0, Some("g/L")), 14.0));
        assert!(close(normalise(HEMOGLOBIN, 8.0, Some("mmol/L")), 12.9));
        assert!(close(normalise(CREATININE, 177.0, Some("µmol/L")), 2.0));
        assert!(close(normalise(CREATININE, 177.0, Some("umol/L")), 2.0));
        assert!(close(normalise(HBA1C, 53.0, Some("mmol/mol")), 7.0));
        assert!(close(normalise(SODIUM, 138.0, Some("mEq/L")), 138.0));
        assert!(close(normalise(SYSTOLIC, 16.0, Some("kPa")), 120.0));
        assert!(close(normalise(HEART_RATE, 80.0, Some("{beats}/min")), 80.0));
        assert!(close(normalise(LEUKOCYTES, 11200.0, Some("/uL")), 11.2));
        assert!(close(normalise(GLUCOSE, 7.0, Some("mmol/L")), 126.1));
        assert!(close(normalise(UREA_NITROGEN, 7.1, Some("mmol/L")), 19.9));
        assert!(close(normalise(TEMPERATURE, 100.4, Some("[degF]")), 38.0));
        assert!(close(normalise(ALBUMIN, 35.0, Some("g/L")), 3.5));
        assert_eq!(feature_code("59408-5"), Some(OXYGEN_SATURATION));
    }

    #[test]
    fn unknown_units_and_impossible_values_are_left_out() {
        assert_eq!(normalise(HEMOGLOBIN, 13.0, Some("furlongs")), None);
        assert_eq!(normalise(HEMOGLOBIN, 140.0, None), None, "g/L without its unit is not a hemoglobin in g/dL");
        assert_eq!(normalise(HEMOGLOBIN, 13.0, None), Some(13.0));
        assert_eq!(normalise(SODIUM, 0.0, Some("mmol/L")), None);
        assert_eq!(normalise(CREATININE, f64::NAN, Some("mg/dL")), None);
        assert!(codes_read().contains(&"59261-8") && codes_read().contains(&HEMOGLOBIN));
    }
}
