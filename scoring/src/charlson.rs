//! The Charlson comorbidity index from coded conditions: the 17 categories with the ICD-10 codes
//! of Quan et al. (2005), "Coding algorithms for defining comorbidities in ICD-9-CM and ICD-10
//! administrative data", Med Care 43(11), table 1, with Charlson's original weights; where both
//! forms of liver disease, diabetes or cancer are coded, only the severe one counts.
//!
//! ICD-10-CM codes are matched on Quan's ICD-10 prefixes (ICD-10-CM refines ICD-10 by extending
//! codes, so `E11.22` falls under `E11.2`). SNOMED CT codes are matched on a table of the concepts
//! for these categories that EHR feeds commonly send (see [`SNOMED`]); a SNOMED concept outside it
//! counts for nothing, which undercounts rather than guesses.

/// A Charlson category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    MyocardialInfarction,
    CongestiveHeartFailure,
    PeripheralVascular,
    Cerebrovascular,
    Dementia,
    ChronicPulmonary,
    Rheumatic,
    PepticUlcer,
    MildLiver,
    DiabetesUncomplicated,
    DiabetesComplicated,
    Hemiplegia,
    Renal,
    Malignancy,
    SevereLiver,
    MetastaticTumor,
    Aids,
}

pub const CATEGORIES: [Category; 17] = [
    Category::MyocardialInfarction,
    Category::CongestiveHeartFailure,
    Category::PeripheralVascular,
    Category::Cerebrovascular,
    Category::Dementia,
    Category::ChronicPulmonary,
    Category::Rheumatic,
    Category::PepticUlcer,
    Category::MildLiver,
    Category::DiabetesUncomplicated,
    Category::DiabetesComplicated,
    Category::Hemiplegia,
    Category::Renal,
    Category::Malignancy,
    Category::SevereLiver,
    Category::MetastaticTumor,
    Category::Aids,
];

impl Category {
    /// Charlson's weight.
    pub fn weight(self) -> u32 {
        use Category::*;
        match self {
            DiabetesComplicated | Hemiplegia | Renal | Malignancy => 2,
            SevereLiver => 3,
            MetastaticTumor | Aids => 6,
            _ => 1,
        }
    }

    /// The milder form this one supersedes, under the hierarchy rule.
    fn supersedes(self) -> Option<Category> {
        match self {
            Category::SevereLiver => Some(Category::MildLiver),
            Category::DiabetesComplicated => Some(Category::DiabetesUncomplicated),
            Category::MetastaticTumor => Some(Category::Malignancy),
            _ => None,
        }
    }

    /// Words a clinician reads.
    pub fn label(self) -> &'static str {
        use Category::*;
        match self {
            MyocardialInfarction => "myocardial infarction",
            CongestiveHeartFailure => "heart failure",
            PeripheralVascular => "peripheral vascular disease",
            Cerebrovascular => "cerebrovascular disease",
            Dementia => "dementia",
            ChronicPulmonary => "chronic lung disease",
            Rheumatic => "rheumatic disease",
            PepticUlcer => "peptic ulcer disease",
            MildLiver => "mild liver disease",
            DiabetesUncomplicated => "diabetes",
            DiabetesComplicated => "diabetes with complications",
            Hemiplegia => "hemiplegia or paraplegia",
            Renal => "chronic kidney disease",
            Malignancy => "cancer",
            SevereLiver => "severe liver disease",
            MetastaticTumor => "metastatic cancer",
            Aids => "HIV/AIDS",
        }
    }
}

/// Quan's ICD-10 codes, as prefixes of the code without its dot (ranges written out).
const ICD10: [(Category, &[&str]); 17] = {
    use Category::*;
    [
        (MyocardialInfarction, &["I21", "I22", "I252"]),
        (
            CongestiveHeartFailure,
            &[
                "I099", "I110", "I130", "I132", "I255", "I420", "I425", "I426", "I427", "I428", "I429", "I43", "I50",
                "P290",
            ],
        ),
        (
            PeripheralVascular,
            &["I70", "I71", "I731", "I738", "I739", "I771", "I790", "I792", "K551", "K558", "K559", "Z958", "Z959"],
        ),
        (
            Cerebrovascular,
            &["G45", "G46", "H340", "I60", "I61", "I62", "I63", "I64", "I65", "I66", "I67", "I68", "I69"],
        ),
        (Dementia, &["F00", "F01", "F02", "F03", "F051", "G30", "G311"]),
        (
            ChronicPulmonary,
            &[
                "I278", "I279", "J40", "J41", "J42", "J43", "J44", "J45", "J46", "J47", "J60", "J61", "J62", "J63",
                "J64", "J65", "J66", "J67", "J684", "J701", "J703",
            ],
        ),
        (Rheumatic, &["M05", "M06", "M315", "M32", "M33", "M34", "M351", "M353", "M360"]),
        (PepticUlcer, &["K25", "K26", "K27", "K28"]),
        (
            MildLiver,
            &[
                "B18", "K700", "K701", "K702", "K703", "K709", "K713", "K714", "K715", "K717", "K73", "K74", "K760",
                "K762", "K763", "K764", "K768", "K769", "Z944",
            ],
        ),
        (
            DiabetesUncomplicated,
            &[
                "E100", "E101", "E106", "E108", "E109", "E110", "E111", "E116", "E118", "E119", "E120", "E121", "E126",
                "E128", "E129", "E130", "E131", "E136", "E138", "E139", "E140", "E141", "E146", "E148", "E149",
            ],
        ),
        (
            DiabetesComplicated,
            &[
                "E102", "E103", "E104", "E105", "E107", "E112", "E113", "E114", "E115", "E117", "E122", "E123", "E124",
                "E125", "E127", "E132", "E133", "E134", "E135", "E137", "E142", "E143", "E144", "E145", "E147",
            ],
        ),
        (Hemiplegia, &["G041", "G114", "G801", "G802", "G81", "G82", "G830", "G831", "G832", "G833", "G834", "G839"]),
        (
            Renal,
            &[
                "I120", "I131", "N032", "N033", "N034", "N035", "N036", "N037", "N052", "N053", "N054", "N055", "N056",
                "N057", "N18", "N19", "N250", "Z490", "Z491", "Z492", "Z940", "Z992",
            ],
        ),
        (
            Malignancy,
            &[
                "C00", "C01", "C02", "C03", "C04", "C05", "C06", "C07", "C08", "C09", "C10", "C11", "C12", "C13",
                "C14", "C15", "C16", "C17", "C18", "C19", "C20", "C21", "C22", "C23", "C24", "C25", "C26", "C30",
                "C31", "C32", "C33", "C34", "C37", "C38", "C39", "C40", "C41", "C43", "C45", "C46", "C47", "C48",
                "C49", "C50", "C51", "C52", "C53", "C54", "C55", "C56", "C57", "C58", "C60", "C61", "C62", "C63",
                "C64", "C65", "C66", "C67", "C68", "C69", "C70", "C71", "C72", "C73", "C74", "C75", "C76", "C81",
                "C82", "C83", "C84", "C85", "C88", "C90", "C91", "C92", "C93", "C94", "C95", "C96", "C97",
            ],
        ),
        (SevereLiver, &["I850", "I859", "I864", "I982", "K704", "K711", "K721", "K729", "K765", "K766", "K767"]),
        (MetastaticTumor, &["C77", "C78", "C79", "C80"]),
        (Aids, &["B20", "B21", "B22", "B24"]),
    ]
};

/// SNOMED CT concepts for the categories: the concepts the synthetic generator and the Synthea
/// and hospital-simulator feeds send, and the common parents and variants an EHR problem list
/// carries for them.
pub const SNOMED: [(&str, Category); 48] = {
    use Category::*;
    [
        ("22298006", MyocardialInfarction),       // myocardial infarction
        ("401303003", MyocardialInfarction),      // acute ST segment elevation MI
        ("401314000", MyocardialInfarction),      // acute non-ST segment elevation MI
        ("399211009", MyocardialInfarction),      // history of myocardial infarction
        ("84114007", CongestiveHeartFailure),     // heart failure
        ("42343007", CongestiveHeartFailure),     // congestive heart failure
        ("88805009", CongestiveHeartFailure),     // chronic congestive heart failure
        ("85232009", CongestiveHeartFailure),     // left heart failure
        ("400047006", PeripheralVascular),        // peripheral vascular disease
        ("399957001", PeripheralVascular),        // peripheral arterial occlusive disease
        ("230690007", Cerebrovascular),           // cerebrovascular accident
        ("266257000", Cerebrovascular),           // transient ischemic attack
        ("422504002", Cerebrovascular),           // ischemic stroke
        ("52448006", Dementia),                   // dementia
        ("26929004", Dementia),                   // Alzheimer's disease
        ("13645005", ChronicPulmonary),           // chronic obstructive lung disease
        ("185086009", ChronicPulmonary),          // chronic obstructive bronchitis
        ("87433001", ChronicPulmonary),           // pulmonary emphysema
        ("195967001", ChronicPulmonary),          // asthma
        ("233678006", ChronicPulmonary),          // childhood asthma
        ("69896004", Rheumatic),                  // rheumatoid arthritis
        ("55464009", Rheumatic),                  // systemic lupus erythematosus
        ("13200003", PepticUlcer),                // peptic ulcer
        ("397825006", PepticUlcer),               // gastric ulcer
        ("19943007", MildLiver),                  // cirrhosis of liver
        ("61977001", MildLiver),                  // chronic type B viral hepatitis
        ("128302006", MildLiver),                 // chronic hepatitis C
        ("44054006", DiabetesUncomplicated),      // diabetes mellitus type 2
        ("46635009", DiabetesUncomplicated),      // diabetes mellitus type 1
        ("73211009", DiabetesUncomplicated),      // diabetes mellitus
        ("127013003", DiabetesComplicated),       // diabetic renal disease
        ("368581000119106", DiabetesComplicated), // neuropathy due to type 2 diabetes
        ("422034002", DiabetesComplicated),       // retinopathy due to type 2 diabetes
        ("90781000119102", DiabetesComplicated),  // microalbuminuria due to type 2 diabetes
        ("50582007", Hemiplegia),                 // hemiplegia
        ("60389000", Hemiplegia),                 // paraplegia
        ("431857002", Renal),                     // chronic kidney disease stage 4
        ("433144002", Renal),                     // chronic kidney disease stage 3
        ("433146000", Renal),                     // chronic kidney disease stage 5
        ("46177005", Renal),                      // end-stage renal disease
        ("709044004", Renal),                     // chronic kidney disease
        ("363358000", Malignancy),                // malignant neoplasm of lung
        ("254837009", Malignancy),                // malignant neoplasm of breast
        ("363406005", Malignancy),                // malignant neoplasm of colon
        ("34742003", SevereLiver),                // portal hypertension
        ("94391008", MetastaticTumor),            // secondary malignant neoplasm of lung
        ("94260004", MetastaticTumor),            // secondary malignant neoplasm of colon
        ("86406008", Aids),                       // human immunodeficiency virus infection
    ]
};

/// The category of an ICD-10 or ICD-10-CM code (with or without its dot), if any.
pub fn icd10_category(code: &str) -> Option<Category> {
    let bare = bare_icd10(code);
    ICD10.iter().find(|(_, prefixes)| prefixes.iter().any(|p| bare.starts_with(p))).map(|(c, _)| *c)
}

pub fn snomed_category(code: &str) -> Option<Category> {
    SNOMED.iter().find(|(c, _)| *c == code).map(|(_, category)| *category)
}

/// The categories present, after the hierarchy rule, in a fixed order.
pub fn categories<'a>(
    icd10: impl IntoIterator<Item = &'a str>,
    snomed: impl IntoIterator<Item = &'a str>,
) -> Vec<Category> {
    let found: Vec<Category> =
        icd10.into_iter().filter_map(icd10_category).chain(snomed.into_iter().filter_map(snomed_category)).collect();
    hierarchy(found, Category::supersedes)
}

/// An ICD-10 code as Quan's prefixes are written: without its dot, in capitals.
pub(crate) fn bare_icd10(code: &str) -> String {
    code.chars().filter(|c| *c != '.').flat_map(char::to_uppercase).collect()
}

/// The categories `found`, once each and in order, without those a severer one present supersedes.
pub(crate) fn hierarchy<C: Ord + Copy>(mut found: Vec<C>, supersedes: impl Fn(C) -> Option<C>) -> Vec<C> {
    found.sort();
    found.dedup();
    let superseded: Vec<C> = found.iter().filter_map(|c| supersedes(*c)).collect();
    found.retain(|c| !superseded.contains(c));
    found
}

/// The Charlson index of a set of categories (already through the hierarchy rule).
pub fn index(categories: &[Category]) -> u32 {
    categories.iter().map(|c| c.weight()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icd10_cm_codes_fall_under_quans_prefixes() {
        assert_eq!(icd10_category("I21.4"), Some(Category::MyocardialInfarction));
        assert_eq!(icd10_category("I25.2"), Some(Category::MyocardialInfarction));
        assert_eq!(icd10_category("I25.10"), None, "chronic ischemic heart disease is not an MI");
        assert_eq!(icd10_category("E11.22"), Some(Category::DiabetesComplicated));
        assert_eq!(icd10_category("e11.9"), Some(Category::DiabetesUncomplicated));
        assert_eq!(icd10_category("C44.91"), None, "skin cancer other than melanoma is excluded");
        assert_eq!(icd10_category("C43.9"), Some(Category::Malignancy));
        assert_eq!(icd10_category("C78.00"), Some(Category::MetastaticTumor));
        assert_eq!(icd10_category("N18.4"), Some(Category::Renal));
        assert_eq!(icd10_category("I10"), None);
        assert_eq!(icd10_category("F03.90"), Some(Category::Dementia));
        assert_eq!(icd10_category("J44.1"), Some(Category::ChronicPulmonary));
        assert_eq!(icd10_category("B20"), Some(Category::Aids));
    }

    #[test]
    fn the_severe_form_alone_counts() {
        let both = categories(["E11.9", "E11.22", "K74.60", "C34.90"], ["34742003", "94391008"]);
        assert_eq!(both, vec![Category::DiabetesComplicated, Category::SevereLiver, Category::MetastaticTumor]);
        assert_eq!(index(&both), 2 + 3 + 6);
        let coded_twice = categories(["I50.9"], ["42343007"]);
        assert_eq!(index(&coded_twice), 1, "one category coded in two systems counts once");
        assert_eq!(index(&categories([], ["160903007"])), 0, "a finding outside the table counts for nothing");
    }

    #[test]
    fn every_snomed_concept_is_listed_once() {
        let mut codes: Vec<&str> = SNOMED.iter().map(|(c, _)| *c).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), SNOMED.len());
        for category in CATEGORIES {
            assert!(SNOMED.iter().any(|(_, c)| *c == category), "{category:?} has a SNOMED concept");
        }
    }
}
