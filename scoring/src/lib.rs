//! Risk scoring: point-in-time features, labels, baselines, models, metrics, explanations.
//!
//! Pure (no I/O, tested without a database): [`charlson`], [`history`], [`features`], [`labels`],
//! [`baselines`], [`metrics`], [`model`].

pub mod baselines;
pub mod charlson;
pub mod features;
pub mod history;
pub mod labels;
pub mod metrics;
pub mod model;
