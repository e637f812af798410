//! The Elixhauser comorbidities from coded conditions, pure: the 31 categories with the ICD-10
//! codes of Quan et al. (2005), "Coding algorithms for defining comorbidities in ICD-9-CM and
//! ICD-10 administrative data", Med Care 43(11), table 2, and the van Walraven et al. (2009)
//! weights (Med Care 47(6)) that sum them into one score. Where both forms of diabetes or of
//! hypertension are coded, or a solid tumour and its metastases, only the severe one counts.
//!
//! Charlson's 17 categories miss what drives many readmissions (arrhythmia, fluid and electrolyte
//! disorders, anaemia, depression, substance use, weight loss); Elixhauser's 31 name them. Codes
//! are matched as in [`crate::charlson`]: ICD-10-CM on Quan's ICD-10 prefixes, SNOMED CT on a table
//! of the concepts feeds commonly send ([`SNOMED`]); an unlisted concept counts for nothing.

use crate::charlson;

/// An Elixhauser category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    HeartFailure,
    Arrhythmia,
    Valvular,
    PulmonaryCirculation,
    PeripheralVascular,
    Hypertension,
    HypertensionComplicated,
    Paralysis,
    OtherNeurological,
    ChronicPulmonary,
    Diabetes,
    DiabetesComplicated,
    Hypothyroidism,
    RenalFailure,
    Liver,
    PepticUlcer,
    Aids,
    Lymphoma,
    MetastaticCancer,
    SolidTumor,
    Rheumatoid,
    Coagulopathy,
    Obesity,
    WeightLoss,
    FluidElectrolyte,
    BloodLossAnemia,
    DeficiencyAnemia,
    AlcoholAbuse,
    DrugAbuse,
    Psychoses,
    Depression,
}

impl Category {
    /// The van Walraven weight (derived for in-hospital death; negative where a category coded
    /// beside others marked healthier patients in the derivation data).
    pub fn weight(self) -> i32 {
        use Category::*;
        match self {
            HeartFailure | Paralysis => 7,
            Arrhythmia | RenalFailure | FluidElectrolyte => 5,
            Valvular => -1,
            PulmonaryCirculation | SolidTumor => 4,
            PeripheralVascular => 2,
            OtherNeurological | WeightLoss => 6,
            ChronicPulmonary | Coagulopathy => 3,
            Liver => 11,
            Lymphoma => 9,
            MetastaticCancer => 12,
            Obesity => -4,
            BloodLossAnemia | DeficiencyAnemia => -2,
            DrugAbuse => -7,
            Depression => -3,
            Hypertension
            | HypertensionComplicated
            | Diabetes
            | DiabetesComplicated
            | Hypothyroidism
            | PepticUlcer
            | Aids
            | Rheumatoid
            | AlcoholAbuse
            | Psychoses => 0,
        }
    }

    /// The milder form this one supersedes.
    fn supersedes(self) -> Option<Category> {
        match self {
            Category::DiabetesComplicated => Some(Category::Diabetes),
            Category::HypertensionComplicated => Some(Category::Hypertension),
            Category::MetastaticCancer => Some(Category::SolidTumor),
            _ => None,
        }
    }
}

/// Quan's ICD-10 codes, as prefixes of the code without its dot (ranges written out).
const ICD10: [(Category, &[&str]); 31] = {
    use Category::*;
    [
        (
            HeartFailure,
            &[
                "I099", "I110", "I130", "I132", "I255", "I420", "I425", "I426", "I427", "I428", "I429", "I43", "I50",
                "P290",
            ],
        ),
        (
            Arrhythmia,
            &[
                "I441", "I442", "I443", "I456", "I459", "I47", "I48", "I49", "R000", "R001", "R008", "T821", "Z450",
                "Z950",
            ],
        ),
        (
            Valvular,
            &[
                "A520", "I05", "I06", "I07", "I08", "I091", "I098", "I34", "I35", "I36", "I37", "I38", "I39", "Q230",
                "Q231", "Q232", "Q233", "Z952", "Z953", "Z954",
            ],
        ),
        (PulmonaryCirculation, &["I26", "I27", "I280", "I288", "I289"]),
        (
            PeripheralVascular,
            &["I70", "I71", "I731", "I738", "I739", "I771", "I790", "I792", "K551", "K558", "K559", "Z958", "Z959"],
        ),
        (Hypertension, &["I10"]),
        (HypertensionComplicated, &["I11", "I12", "I13", "I15"]),
        (Paralysis, &["G041", "G114", "G801", "G802", "G81", "G82", "G830", "G831", "G832", "G833", "G834", "G839"]),
        (
            OtherNeurological,
            &[
                "G10", "G11", "G12", "G13", "G20", "G21", "G22", "G254", "G255", "G312", "G318", "G319", "G32", "G35",
                "G36", "G37", "G40", "G41", "G931", "G934", "R470", "R56",
            ],
        ),
        (
            ChronicPulmonary,
            &[
                "I278", "I279", "J40", "J41", "J42", "J43", "J44", "J45", "J46", "J47", "J60", "J61", "J62", "J63",
                "J64", "J65", "J66", "J67", "J684", "J701", "J703",
            ],
        ),
        (
            Diabetes,
            &[
                "E100", "E101", "E109", "E110", "E111", "E119", "E120", "E121", "E129", "E130", "E131", "E139", "E140",
                "E141", "E149",
            ],
        ),
        (
            DiabetesComplicated,
            &[
                "E102", "E103", "E104", "E105", "E106", "E107", "E108", "E112", "E113", "E114", "E115", "E116", "E117",
                "E118", "E122", "E123", "E124", "E125", "E126", "E127", "E128", "E132", "E133", "E134", "E135", "E136",
                "E137", "E138", "E142", "E143", "E144", "E145", "E146", "E147", "E148",
            ],
        ),
        (Hypothyroidism, &["E00", "E01", "E02", "E03", "E890"]),
        (RenalFailure, &["I120", "I131", "N18", "N19", "N250", "Z490", "Z491", "Z492", "Z940", "Z992"]),
        (
            Liver,
            &[
                "B18", "I85", "I864", "I982", "K70", "K711", "K713", "K714", "K715", "K717", "K72", "K73", "K74",
                "K760", "K762", "K763", "K764", "K765", "K766", "K767", "K768", "K769", "Z944",
            ],
        ),
        (PepticUlcer, &["K257", "K259", "K267", "K269", "K277", "K279", "K287", "K289"]),
        (Aids, &["B20", "B21", "B22", "B24"]),
        (Lymphoma, &["C81", "C82", "C83", "C84", "C85", "C88", "C96", "C900", "C902"]),
        (MetastaticCancer, &["C77", "C78", "C79", "C80"]),
        (
            SolidTumor,
            &[
                "C00", "C01", "C02", "C03", "C04", "C05", "C06", "C07", "C08", "C09", "C10", "C11", "C12", "C13",
                "C14", "C15", "C16", "C17", "C18", "C19", "C20", "C21", "C22", "C23", "C24", "C25", "C26", "C30",
                "C31", "C32", "C33", "C34", "C37", "C38", "C39", "C40", "C41", "C43", "C45", "C46", "C47", "C48",
                "C49", "C50", "C51", "C52", "C53", "C54", "C55", "C56", "C57", "C58", "C60", "C61", "C62", "C63",
                "C64", "C65", "C66", "C67", "C68", "C69", "C70", "C71", "C72", "C73", "C74", "C75", "C76", "C97",
            ],
        ),
        (
            Rheumatoid,
            &[
                "L940", "L941", "L943", "M05", "M06", "M08", "M120", "M123", "M30", "M310", "M311", "M312", "M313",
                "M32", "M33", "M34", "M35", "M45", "M461", "M468", "M469",
            ],
        ),
        (Coagulopathy, &["D65", "D66", "D67", "D68", "D691", "D693", "D694", "D695", "D696"]),
        (Obesity, &["E66"]),
        (WeightLoss, &["E40", "E41", "E42", "E43", "E44", "E45", "E46", "R634", "R64"]),
        (FluidElectrolyte, &["E222", "E86", "E87"]),
        (BloodLossAnemia, &["D500"]),
        (DeficiencyAnemia, &["D508", "D509", "D51", "D52", "D53"]),
        (AlcoholAbuse, &["F10", "E52", "G621", "I426", "K292", "K700", "K703", "K709", "T51", "Z502", "Z714", "Z721"]),
        (DrugAbuse, &["F11", "F12", "F13", "F14", "F15", "F16", "F18", "F19", "Z715", "Z722"]),
        (Psychoses, &["F20", "F22", "F23", "F24", "F25", "F28", "F29", "F302", "F312", "F315"]),
        (Depression, &["F204", "F313", "F314", "F315", "F32", "F33", "F341", "F412", "F432"]),
    ]
};

/// SNOMED CT concepts for the categories that Charlson's table does not already carry: the
/// concepts the Synthea and hospital-simulator feeds send, and common problem-list variants.
pub const SNOMED: [(&str, Category); 40] = {
    use Category::*;
    [
        ("84114007", HeartFailure),         // heart failure
        ("42343007", HeartFailure),         // congestive heart failure
        ("88805009", HeartFailure),         // chronic congestive heart failure
        ("49436004", Arrhythmia),           // atrial fibrillation
        ("5370000", Arrhythmia),            // atrial flutter
        ("698247007", Arrhythmia),          // cardiac arrhythmia
        ("60573004", Valvular),             // aortic valve stenosis
        ("48724000", Valvular),             // mitral valve regurgitation
        ("59282003", PulmonaryCirculation), // pulmonary embolism
        ("70995007", PulmonaryCirculation), // pulmonary hypertension
        ("400047006", PeripheralVascular),  // peripheral vascular disease
        ("59621000", Hypertension),         // essential hypertension
        ("38341003", Hypertension),         // hypertensive disorder
        ("50582007", Paralysis),            // hemiplegia
        ("49049000", OtherNeurological),    // Parkinson's disease
        ("84757009", OtherNeurological),    // epilepsy
        ("24700007", OtherNeurological),    // multiple sclerosis
        ("13645005", ChronicPulmonary),     // chronic obstructive lung disease
        ("195967001", ChronicPulmonary),    // asthma
        ("44054006", Diabetes),             // diabetes mellitus type 2
        ("73211009", Diabetes),             // diabetes mellitus
        ("127013003", DiabetesComplicated), // diabetic renal disease
        ("40930008", Hypothyroidism),       // hypothyroidism
        ("709044004", RenalFailure),        // chronic kidney disease
        ("46177005", RenalFailure),         // end-stage renal disease
        ("19943007", Liver),                // cirrhosis of liver
        ("86406008", Aids),                 // HIV infection
        ("118600007", Lymphoma),            // malignant lymphoma
        ("94391008", MetastaticCancer),     // secondary malignant neoplasm of lung
        ("363406005", SolidTumor),          // malignant neoplasm of colon
        ("69896004", Rheumatoid),           // rheumatoid arthritis
        ("64779008", Coagulopathy),         // blood coagulation disorder
        ("162864005", Obesity),             // body mass index 30+ - obesity
        ("408512008", Obesity),             // body mass index 40+ - severely obese
        ("238131007", Obesity),             // overweight
        ("89362005", WeightLoss),           // weight loss
        ("271737000", DeficiencyAnemia),    // anemia
        ("7200002", AlcoholAbuse),          // alcoholism
        ("6525002", DrugAbuse),             // dependent drug abuse
        ("370143000", Depression),          // major depressive disorder
    ]
};

fn icd10_category(code: &str) -> impl Iterator<Item = Category> + '_ {
    let bare = charlson::bare_icd10(code);
    // Some codes (alcoholic cardiomyopathy, a psychosis in remission) fall in two categories.
    ICD10.iter().filter(move |(_, prefixes)| prefixes.iter().any(|p| bare.starts_with(p))).map(|(c, _)| *c)
}

/// The categories present, after the hierarchy rule, in a fixed order.
pub fn categories<'a>(
    icd10: impl IntoIterator<Item = &'a str>,
    snomed: impl IntoIterator<Item = &'a str>,
) -> Vec<Category> {
    let mut found: Vec<Category> = icd10.into_iter().flat_map(icd10_category).collect();
    found.extend(snomed.into_iter().filter_map(|code| SNOMED.iter().find(|(c, _)| *c == code).map(|(_, k)| *k)));
    charlson::hierarchy(found, Category::supersedes)
}

/// The van Walraven score of a set of categories (already through the hierarchy rule).
pub fn van_walraven(categories: &[Category]) -> i32 {
    categories.iter().map(|c| c.weight()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icd10_cm_codes_fall_under_quans_prefixes() {
        let of = |code: &str| categories([code], []);
        assert_eq!(of("I48.91"), vec![Category::Arrhythmia]);
        assert_eq!(of("E66.9"), vec![Category::Obesity]);
        assert_eq!(of("F10.20"), vec![Category::AlcoholAbuse]);
        assert_eq!(of("F32.9"), vec![Category::Depression]);
        assert_eq!(of("E87.1"), vec![Category::FluidElectrolyte]);
        assert_eq!(of("I10"), vec![Category::Hypertension]);
        assert_eq!(of("E78.5"), vec![], "hyperlipidaemia is no Elixhauser category");
        assert_eq!(of("I42.6"), vec![Category::HeartFailure, Category::AlcoholAbuse], "alcoholic cardiomyopathy");
        assert_eq!(of("f31.5"), vec![Category::Psychoses, Category::Depression]);
    }

    #[test]
    fn the_severe_form_alone_counts_and_weights_sum() {
        let found = categories(["I10", "I13.0", "C18.9", "C78.7", "E11.9"], ["44054006", "49436004"]);
        assert_eq!(
            found,
            vec![
                Category::HeartFailure,
                Category::Arrhythmia,
                Category::HypertensionComplicated,
                Category::Diabetes,
                Category::MetastaticCancer
            ]
        );
        assert_eq!(van_walraven(&found), 7 + 5 + 12);
        assert_eq!(van_walraven(&categories(["F11.20", "E66.01"], [])), -11);
    }

    #[test]
    fn every_snomed_concept_is_listed_once() {
        let mut codes: Vec<&str> = SNOMED.iter().map(|(c, _)| *c).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), SNOMED.len());
    }
}
