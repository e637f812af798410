//! Risk scoring: point-in-time features, labels, baselines, models, metrics, explanations.
//!
//! Pure (no I/O, tested without a database): [`charlson`], [`elixhauser`], [`medications`], [`labs`], [`history`], [`features`], [`labels`],
//! [`baselines`], [`metrics`], [`model`], [`training`], [`report`], [`explain`], [`drift`], [`estimate`],
//! and the figures of [`monitoring`] and [`outcomes`]. Reading from the store: [`load`]; index events clinicians said should not count: [`exclusions`]
//! (`apply` pure, `load` from the store); the model
//! registry: [`registry`]; scoring runs and the change feed: [`run`]; outcomes as they mature
//! ([`outcomes::mature`]) and the monitoring job ([`monitoring::job`]).

pub mod backtests;
pub mod baselines;
pub mod calibration;
pub mod charlson;
pub mod drift;
pub mod elixhauser;
pub mod estimate;
pub mod exclusions;
pub mod explain;
pub mod fairness;
pub mod features;
pub mod history;
pub mod labels;
pub mod labs;
pub mod load;
pub mod medications;
pub mod metrics;
pub mod model;
pub mod monitoring;
pub mod outcomes;
pub mod promotion;
pub mod registry;
pub mod report;
pub mod run;
pub mod training;
pub mod tuning;
pub mod units;
