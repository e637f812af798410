//! FHIR R4 ingestion: reading Bundles and Bulk NDJSON, validating resources, mapping the clinical
//! types (Patient, Encounter, Condition, Observation, MedicationRequest, Procedure) to the store's
//! rows, and storing everything idempotently, every resource either stored or rejected with its
//! location and an OperationOutcome.
//!
//! Pure parts (no I/O): [`fhir_time`], [`reference`], [`content`], [`issue`], [`map`].
//! Reading: [`read`]. Storing: [`ingest`].

pub mod content;
pub mod deletion;
pub mod fhir_time;
pub mod identity;
pub mod ingest;
pub mod issue;
pub mod jobs;
pub mod json;
pub mod load;
pub mod map;
pub mod read;
pub mod reference;
pub mod synth;
