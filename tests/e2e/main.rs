//! Black-box tests of the `vigil` binary: each starts the real binary as a child process against
//! its own throwaway database and talks to it over HTTP or reads what it prints.

mod access;
mod administration;
mod alert_email;
mod alert_rules;
mod alerts;
mod audit_trail;
mod backup;
mod bootstrap;
mod cds_hooks;
mod cli;
mod deploy_artifacts;
mod errors;
mod fhir_api;
mod fhir_writes;
mod identity;
mod ingest;
mod invariants;
mod lifecycle;
mod metrics;
mod mfa;
mod models;
mod portal;
mod pull;
mod read_replica;
mod replicas;
mod score_retention;
mod scoring;
mod search;
mod serve;
mod settings;
mod support;
mod throttling;
mod tokens;
mod training;
mod write_guards;
