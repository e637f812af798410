//! Every resource of the fixtures (`tests/fixtures`) (real-format files made outside this project) reads and
//! maps: the clinical types to rows, the others kept raw, none rejected.

use std::collections::BTreeMap;

use vigil_ehr_adapter::map::{Mapped, map};
use vigil_ehr_adapter::read;

#[test]
fn every_fixture_resource_maps() {
    let mut mapped: BTreeMap<String, usize> = BTreeMap::new();
    let mut problems = Vec::new();
    let files = read::files(&vigil_store::testing::fixtures()).expect("fixtures folder");
    assert!(files.len() >= 30, "found {} fixture files", files.len());
    for file in files {
        for item in read::resources(&file).expect("open") {
            let resource = item.resource.as_ref().expect("readable JSON");
            match map(resource) {
                Ok((header, m)) => {
                    let kind = if matches!(m, Mapped::Unmapped) { "raw" } else { "mapped" };
                    *mapped.entry(format!("{} {kind}", header.resource_type)).or_default() += 1;
                    if let Some(patient) = m.patient(&header) {
                        assert!(!patient.is_empty());
                    }
                }
                Err(issues) => problems.push(format!("{} {}: {:?}", item.origin, item.location, issues)),
            }
        }
    }
    assert!(problems.is_empty(), "{} rejected, e.g. {:#?}", problems.len(), &problems[..problems.len().min(5)]);
    assert_eq!(mapped.get("Encounter mapped"), Some(&(1281 + 1351)));
    assert_eq!(mapped.get("Patient mapped"), Some(&(217 + 8)));
    assert_eq!(mapped.get("Observation mapped"), Some(&(24844 + 11132)));
    assert_eq!(mapped.get("Condition mapped"), Some(&(658 + 1190)));
}
