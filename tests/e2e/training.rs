//! Training as a hospital meets it: whatever history its records hold.

use crate::scoring::{cli, population_of};

/// A hospital that has kept records for a year trains both targets: the admission examples start
/// where its records do, not three years before its cutoff (months with nothing recorded made a
/// fitting slice with no admission at all).
#[test]
fn a_hospital_with_one_year_of_records_trains_both_targets() {
    let db = population_of(2000, 1);
    for target in ["admission", "readmission"] {
        let report = cli(&db, &["train", "--target", target]);
        assert!(report.contains(&format!("registered {target}-")), "{report}");
        assert!(report.contains("  model "), "{report}");
    }
}
