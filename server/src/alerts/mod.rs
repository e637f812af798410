//! Alerts: threshold rules turn stored scores into alerts, one per patient, target and episode,
//! that move through a lifecycle enforced by the database; every change that someone must hear of
//! is written to the outbox in the same transaction.

pub mod engine;
pub mod episode;
pub mod escalation;
pub mod feedback;
pub mod lifecycle;
pub mod message;
pub mod outbox;
pub mod preferences;
pub mod record;
pub mod relay;
pub mod rules;
pub mod sweep;
pub mod tier;
pub mod transport;

pub use tier::{Thresholds, Tier};
