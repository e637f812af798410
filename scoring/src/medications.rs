//! High-risk medication classes from a prescription's words, pure.
//!
//! The classes are those behind most adverse drug events after discharge (Budnitz et al. 2011,
//! NEJM 365: anticoagulants, antiplatelets, insulin and oral hypoglycaemics account for two
//! thirds of emergency hospitalisations for adverse drug events in older adults) and the
//! ISMP high-alert list (opioids, chemotherapy), with loop diuretics, systemic corticosteroids
//! and sedatives as in the readmission literature. A class is recognised by its ingredients'
//! names in the prescription's display text: RxNorm's displays name the ingredients whatever the
//! concept's level (an ingredient such as "Warfarin", or a clinical drug such as "Acetaminophen
//! 325 MG / oxyCODONE Hydrochloride 5 MG Oral Tablet"), so one table reads every feed; a
//! prescription whose text names no listed ingredient counts in no class.

/// A high-risk medication class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    Anticoagulant,
    Antiplatelet,
    Insulin,
    Opioid,
    LoopDiuretic,
    SystemicCorticosteroid,
    Antineoplastic,
    Sedative,
}

pub const CLASSES: [Class; 8] = [
    Class::Anticoagulant,
    Class::Antiplatelet,
    Class::Insulin,
    Class::Opioid,
    Class::LoopDiuretic,
    Class::SystemicCorticosteroid,
    Class::Antineoplastic,
    Class::Sedative,
];

impl Class {
    /// The feature's name.
    pub fn feature(self) -> &'static str {
        match self {
            Class::Anticoagulant => "anticoagulant",
            Class::Antiplatelet => "antiplatelet",
            Class::Insulin => "insulin",
            Class::Opioid => "opioid",
            Class::LoopDiuretic => "loop_diuretic",
            Class::SystemicCorticosteroid => "systemic_corticosteroid",
            Class::Antineoplastic => "antineoplastic",
            Class::Sedative => "sedative",
        }
    }

    /// Words a clinician reads.
    pub fn label(self) -> &'static str {
        match self {
            Class::Anticoagulant => "an anticoagulant",
            Class::Antiplatelet => "an antiplatelet drug",
            Class::Insulin => "insulin",
            Class::Opioid => "an opioid",
            Class::LoopDiuretic => "a loop diuretic",
            Class::SystemicCorticosteroid => "a systemic corticosteroid",
            Class::Antineoplastic => "chemotherapy",
            Class::Sedative => "a sedative or antipsychotic",
        }
    }
}

/// Ingredient names (lower case) by class.
const INGREDIENTS: [(Class, &[&str]); 8] = [
    (
        Class::Anticoagulant,
        &[
            "warfarin",
            "apixaban",
            "rivaroxaban",
            "dabigatran",
            "edoxaban",
            "heparin",
            "enoxaparin",
            "dalteparin",
            "fondaparinux",
        ],
    ),
    (Class::Antiplatelet, &["clopidogrel", "ticagrelor", "prasugrel"]),
    (Class::Insulin, &["insulin"]),
    (
        Class::Opioid,
        &[
            "morphine",
            "oxycodone",
            "hydrocodone",
            "hydromorphone",
            "fentanyl",
            "methadone",
            "tramadol",
            "tapentadol",
            "codeine",
            "meperidine",
            "buprenorphine",
            "oxymorphone",
        ],
    ),
    (Class::LoopDiuretic, &["furosemide", "bumetanide", "torsemide", "ethacrynic"]),
    (
        Class::SystemicCorticosteroid,
        &["prednisone", "prednisolone", "methylprednisolone", "dexamethasone", "hydrocortisone"],
    ),
    (
        Class::Antineoplastic,
        &[
            "oxaliplatin",
            "cisplatin",
            "carboplatin",
            "fluorouracil",
            "capecitabine",
            "paclitaxel",
            "docetaxel",
            "cyclophosphamide",
            "doxorubicin",
            "gemcitabine",
            "irinotecan",
            "pemetrexed",
            "etoposide",
            "vincristine",
            "methotrexate",
            "leuprolide",
            "tamoxifen",
            "letrozole",
            "anastrozole",
        ],
    ),
    (
        Class::Sedative,
        &[
            "lorazepam",
            "alprazolam",
            "diazepam",
            "clonazepam",
            "temazepam",
            "midazolam",
            "zolpidem",
            "quetiapine",
            "haloperidol",
            "olanzapine",
            "risperidone",
        ],
    ),
];

/// Forms that carry a systemic ingredient's name but act locally.
const LOCAL_FORMS: [&str; 6] = ["topical", "cream", "ointment", "ophthalmic", "otic", "inhal"];

/// The classes a prescription's display text names.
pub fn classes(display: &str) -> Vec<Class> {
    let text = display.to_lowercase();
    let local = LOCAL_FORMS.iter().any(|form| text.contains(form));
    INGREDIENTS
        .iter()
        .filter(move |(class, names)| {
            names.iter().any(|name| text.contains(name)) && !(local && *class == Class::SystemicCorticosteroid)
        })
        .map(|(class, _)| *class)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingredient_and_clinical_drug_displays_read_alike() {
        let of = classes;
        assert_eq!(of("Warfarin (Coumadin)"), vec![Class::Anticoagulant]);
        assert_eq!(of("Acetaminophen 325 MG / oxyCODONE Hydrochloride 5 MG Oral Tablet"), vec![Class::Opioid]);
        assert_eq!(of("Sliding scale insulin (Regular insulin)"), vec![Class::Insulin]);
        assert_eq!(of("Furosemide (Lasix)"), vec![Class::LoopDiuretic]);
        assert_eq!(of("Oxaliplatin"), vec![Class::Antineoplastic]);
        assert_eq!(of("Atorvastatin (Lipitor)"), vec![]);
        assert_eq!(of("Hydrocortisone 10 MG/ML Topical Cream"), vec![], "a topical steroid is not systemic");
        assert_eq!(of("Prednisone"), vec![Class::SystemicCorticosteroid]);
    }

    #[test]
    fn every_class_has_ingredients() {
        for class in CLASSES {
            assert!(INGREDIENTS.iter().any(|(c, names)| *c == class && !names.is_empty()), "{class:?}");
        }
    }
}
