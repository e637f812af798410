//! FHIR R4 ingestion: parsing, validation, mapping to the store's rows, idempotent upserts.
